// Claims per second from one thread with many claims in flight, for the memory,
// SQLite and Redis stores, printed as ratios to the memory store measured in
// the same run. Not a test: `stores-bench [claims] [in-flight]`, or
// `meson test -C <build> --benchmark stores-claims -v`.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "redis_server.hpp"
#include "topgg/redis_store.hpp"
#include "topgg/sqlite_store.hpp"

namespace {

using namespace std::chrono_literals;

/// Claims `n` distinct keys, never more than `window` unanswered; returns claims per second.
double run(topgg::IdempotencyStore& s, const std::string& tag, std::size_t n, std::size_t window) {
  std::mutex m;
  std::condition_variable cv;
  std::size_t in_flight = 0, done = 0, claimed = 0;
  auto finished = [&](topgg::ClaimResult r) {
    std::lock_guard lock(m);
    --in_flight;
    ++done;
    claimed += r == topgg::ClaimResult::claimed;
    cv.notify_all();
  };
  const topgg::Now now = topgg::Now::current();
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_flight < window; });
      ++in_flight;
    }
    std::string key = tag;
    key += std::to_string(i);
    topgg::ClaimDeferral later(finished);
    if (auto r = s.claim(key, now, 10'000ms, later))
      finished(*r);
  }
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done == n; });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (claimed != n)
    std::fprintf(stderr, "warning: %zu of %zu claims were not 'claimed'\n", n - claimed, n);
  return static_cast<double>(n) / secs;
}

/// The median of three runs.
template <class Make> double measure(const char* name, Make make, std::size_t n, std::size_t window) {
  std::vector<double> rates;
  for (int round = 0; round < 3; ++round) {
    auto store = make();
    rates.push_back(run(*store, std::string(name) + "-" + std::to_string(round) + "-", n, window));
  }
  std::sort(rates.begin(), rates.end());
  return rates[1];
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 50'000;
  const std::size_t window = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  ts::TempDir dir;
  std::unique_ptr<ts::RedisServer> redis;
  if (!ts::redis_server_program().empty())
    redis = std::make_unique<ts::RedisServer>();

  const double memory = measure(
      "memory", [] { return std::make_unique<topgg::MemoryStore>(1 << 20); }, n, window);
  int file = 0;
  const double sqlite = measure(
      "sqlite", [&] { return std::make_unique<topgg::SqliteStore>(dir.file("bench.db") + std::to_string(file++)); }, n,
      window);
  double redis_rate = 0;
  if (redis) {
    topgg::RedisOptions o;
    o.port = static_cast<std::uint16_t>(redis->port());
    redis_rate = measure(
        "redis", [&] { return std::make_unique<topgg::RedisStore>(o); }, n, window);
  }

  std::printf("claims per second, one thread, %zu claims, up to %zu in flight (median of 3)\n", n, window);
  std::printf("%-8s %12s %10s\n", "store", "claims/s", "vs memory");
  auto row = [&](const char* name, double rate) { std::printf("%-8s %12.0f %10.4f\n", name, rate, rate / memory); };
  row("memory", memory);
  row("sqlite", sqlite);
  if (redis)
    row("redis", redis_rate);
  else
    std::printf("redis    (skipped: redis-server is not installed)\n");
}
