// What a delivery to an integration connection costs with 10, 1,000, 10,000
// and 100,000 connections known: Router::handle of a signed vote.create at
// /integrations/<id> (the connection's secret looked up in the registry's
// map, HMAC, decode, de-duplication claim and confirm, handler), each delivery
// a new voter to a random connection. The sizes are measured in alternating
// rounds in one run and printed as ratios to 10 connections: a lookup that
// grew with the number of connections would show as a ratio well above 1.
// Not a test: `integrations-bench [deliveries] [rounds] [one]` ("one": every
// delivery to the same connection, its data warm in the caches), or
// `meson test -C <build> --benchmark integrations-lookup -v`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "topgg/integrations.hpp"
#include "topgg/router.hpp"

namespace {

using namespace std::chrono_literals;

struct Setup {
  std::shared_ptr<topgg::MemoryStore> store = std::make_shared<topgg::MemoryStore>();
  topgg::Router router;
  std::unique_ptr<topgg::Integrations> registry;
  std::vector<std::string> paths, bodies, signatures;
  std::size_t handled = 0;

  Setup(std::size_t connections, std::size_t deliveries, std::int64_t t, bool one) {
    router.idempotency_store(store);
    router.on_warning([](std::string_view) {});
    router.on_error([](const topgg::Rejection&) {});
    router.on_vote_create([this](const topgg::v1::VoteCreate&) { ++handled; });
    for (std::size_t i = 0; i < connections; ++i) {
      topgg::IntegrationConnection c;
      c.connection_id = "conn" + std::to_string(i);
      c.webhook_secret = "whs_secret_of_connection_" + std::to_string(i);
      c.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
      store->connection_store()->put(c);
    }
    topgg::IntegrationsOptions o;
    o.secrets = {"whs_integration"};
    o.public_url = "https://bot.example.com";
    o.on_log = [](std::string_view) {};
    registry = std::make_unique<topgg::Integrations>(router, o);
    registry->start();
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < deliveries; ++i) {
      const std::size_t c = one ? connections / 2 : rng() % connections;
      const std::string voter = std::to_string(100000000000000000ULL + i);
      std::string body = R"({"type":"vote.create","data":{"id":"v)" + voter +
                         R"(","weight":1,"created_at":"2026-02-09T00:47:14Z","expires_at":"2026-02-09T12:47:14Z",)"
                         R"("project":{"id":"803190510032756736","type":"bot","platform":"discord",)"
                         R"("platform_id":"264811613708746752"},"user":{"id":"tg)" +
                         voter + R"(","platform_id":")" + voter + R"(","name":"v"}}})";
      signatures.push_back(topgg::v1::sign("whs_secret_of_connection_" + std::to_string(c), t, body));
      paths.push_back("/integrations/conn" + std::to_string(c));
      bodies.push_back(std::move(body));
    }
  }

  /// Nanoseconds per delivery over every prepared one.
  double run(topgg::Now now) {
    handled = 0;
    int failed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      const topgg::Header headers[] = {{"x-topgg-signature", signatures[i]}};
      topgg::Request req;
      req.method = "POST";
      req.target = paths[i];
      req.headers = headers;
      req.body = bodies[i];
      router.handle(req, now, [&failed](topgg::Response r) { failed += r.status != 204; });
    }
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    if (failed != 0 || handled != bodies.size())
      std::fprintf(stderr, "warning: %d deliveries not answered 204, %zu handled of %zu\n", failed, handled,
                   bodies.size());
    return ns / static_cast<double>(bodies.size());
  }
};

} // namespace

int main(int argc, char** argv) {
  const std::size_t deliveries = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  // "one": every delivery to the same connection, so that the connections' data stays in the
  // CPU's caches: what is left of a growth then is the lookup's own, not the memory's.
  const bool one = argc > 3 && std::string(argv[3]) == "one";
  const std::size_t sizes[] = {10, 1000, 10000, 100000};
  const topgg::Now now = topgg::Now::current();
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.wall.time_since_epoch()).count();
  std::vector<std::unique_ptr<Setup>> setups;
  for (std::size_t n : sizes)
    setups.push_back(std::make_unique<Setup>(n, deliveries, t, one));
  std::vector<std::vector<double>> ns(setups.size());
  for (int r = 0; r < rounds; ++r) // alternating: a machine busier in one moment weighs on every size
    for (std::size_t i = 0; i < setups.size(); ++i) {
      // Each round delivers the same votes again: new stores would change the claims' cost, so the
      // de-duplication keys are dropped by a fresh store per round instead.
      setups[i]->router.idempotency_store(std::make_shared<topgg::MemoryStore>());
      ns[i].push_back(setups[i]->run(topgg::Now::current()));
    }
  std::printf("integrations-lookup: %zu deliveries per round to %s, %d alternating rounds, median\n", deliveries,
              one ? "one connection" : "random connections", rounds);
  std::printf("%12s %14s %10s\n", "connections", "ns/delivery", "x 10");
  double base = 0;
  for (std::size_t i = 0; i < setups.size(); ++i) {
    std::sort(ns[i].begin(), ns[i].end());
    const double median = ns[i][ns[i].size() / 2];
    if (i == 0)
      base = median;
    std::printf("%12zu %14.0f %10.2f\n", sizes[i], median, median / base);
  }
  return 0;
}
