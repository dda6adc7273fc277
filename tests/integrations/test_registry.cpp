// The integrations registry with a Router (Router::handle: no sockets), and
// the memory store's ConnectionStore: the handshake's exact answer, each
// connection's deliveries verified with its own secret only and carrying its
// connection_id, rotation, delete, a stale create, a restart on the same
// store, a store that cannot be written, and no secret in any line.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../stores/connection_cases.hpp"
#include "topgg/integrations.hpp"
#include "topgg/router.hpp"

using namespace std::chrono_literals;

namespace {

constexpr std::string_view own_secret = "whs_integration";
const std::string project =
    R"("project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"264811613708746752"})";
const std::string user = R"("user":{"id":"tg-1","platform_id":"111111111111111111","name":"owner","avatar_url":null})";

std::string create(std::string_view id, std::string_view secret) {
  return R"({"type":"integration.create","data":{"connection_id":")" + std::string(id) + R"(","webhook_secret":")" +
         std::string(secret) + R"(",)" + project + "," + user + "}}";
}
std::string delete_of(std::string_view id) {
  return R"({"type":"integration.delete","data":{"connection_id":")" + std::string(id) + R"("}})";
}
std::string vote(std::string_view voter) {
  return R"({"type":"vote.create","data":{"id":"v1","weight":1,"created_at":"2026-02-09T00:47:14Z",)"
         R"("expires_at":"2026-02-09T12:47:14Z",)" +
         project + R"(,"user":{"id":"tg-)" + std::string(voter) + R"(","platform_id":")" + std::string(voter) +
         R"(","name":"v"}}})";
}

struct Answer {
  int status = 0;
  std::string body;
};

/// Router::handle of `body` at `path`, signed with `secret` `age` ago; waits (30 s at most) for the
/// answer from whichever thread sends it (the registry's, for creates and deletes).
Answer handle_signed(topgg::Router& router, const std::string& path, const std::string& body, std::string_view secret,
                     std::chrono::seconds age = 0s) {
  const auto now = topgg::Now::current();
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.wall.time_since_epoch() - age).count();
  const std::string sig = topgg::v1::sign(secret, t, body);
  const topgg::Header headers[] = {{"Content-Type", "application/json"}, {"x-topgg-signature", sig}};
  topgg::Request req;
  req.method = "POST";
  req.target = path;
  req.headers = headers;
  req.body = body;
  auto done = std::make_shared<std::promise<Answer>>();
  auto got = done->get_future();
  router.handle(req, now, [done](topgg::Response r) { done->set_value({r.status, r.body}); });
  REQUIRE(got.wait_for(30s) == std::future_status::ready);
  return got.get();
}

/// Everything a test needs: a Router with the registry on a store, the lines and events seen.
struct Fixture {
  std::shared_ptr<topgg::IdempotencyStore> store;
  topgg::Router router;
  std::mutex m;
  std::vector<std::string> lines, events, errors;
  std::unique_ptr<topgg::Integrations> registry;

  explicit Fixture(std::shared_ptr<topgg::IdempotencyStore> s = std::make_shared<topgg::MemoryStore>(),
                   std::chrono::milliseconds poll = 50ms, std::function<void(topgg::IntegrationsOptions&)> more = {})
      : store(std::move(s)) {
    router.idempotency_store(store);
    router.on_vote_create([this](const topgg::v1::VoteCreate& v) {
      std::lock_guard lock(m);
      events.push_back("vote " + v.user.platform_id + " via " + v.connection_id);
    });
    router.on_webhook_test([this](const topgg::v1::WebhookTest& t) {
      std::lock_guard lock(m);
      events.push_back("test via " + t.connection_id);
    });
    router.on_error([this](const topgg::Rejection& r) {
      std::lock_guard lock(m);
      errors.push_back(std::to_string(r.status) + " " + std::string(r.detail));
    });
    router.on_warning([](std::string_view) {});
    topgg::IntegrationsOptions o;
    o.route = "/integrations";
    o.secrets = {std::string(own_secret)};
    o.public_url = "https://bot.example.com/";
    o.events = {"vote.create", "webhook.test"};
    o.poll = poll;
    if (more)
      more(o);
    o.on_log = [this](std::string_view line) {
      std::lock_guard lock(m);
      lines.emplace_back(line);
    };
    registry = std::make_unique<topgg::Integrations>(router, o);
    registry->start();
  }

  Answer post(const std::string& path, const std::string& body, std::string_view secret,
              std::chrono::seconds age = 0s) {
    return handle_signed(router, path, body, secret, age);
  }

  /// f() again (after a pause) while it answers `status`, for at most 30 s; its last answer.
  template <class F> int until_not(int status, F f) {
    int got = status;
    for (int i = 0; i < 600 && got == status; ++i) {
      std::this_thread::sleep_for(50ms);
      got = f();
    }
    return got;
  }

  std::string all_lines() {
    std::lock_guard lock(m);
    std::string all;
    for (auto* v : {&lines, &errors})
      for (const std::string& l : *v)
        all += l + "\n";
    return all;
  }
};

} // namespace

TEST_CASE("memory connections: put, rotate, erase, load, version") {
  topgg::MemoryStore s;
  REQUIRE(s.connection_store());
  ts::connections_contract(*s.connection_store());
}

TEST_CASE("handshake_json and connection_id_ok") {
  CHECK(topgg::handshake_json("https://x/i/c1", {"vote.create"}) ==
        R"({"webhook_url":"https://x/i/c1","routes":["vote.create"]})");
  CHECK(topgg::handshake_json("a\"b", {}) == R"({"webhook_url":"a\"b","routes":[]})");
  CHECK(topgg::connection_id_ok("112402021105124"));
  CHECK(topgg::connection_id_ok("a-b_c.d~e"));
  CHECK_FALSE(topgg::connection_id_ok(""));
  CHECK_FALSE(topgg::connection_id_ok("a/b"));
  CHECK_FALSE(topgg::connection_id_ok("a%2F"));
  CHECK_FALSE(topgg::connection_id_ok(std::string(201, 'a')));
}

TEST_CASE("options out of range are refused when configured") {
  topgg::Router r;
  r.on_warning([](std::string_view) {});
  topgg::IntegrationsOptions o;
  o.public_url = "https://bot.example.com";
  auto refused = [&](topgg::IntegrationsOptions x) {
    topgg::Router fresh;
    CHECK_THROWS_AS(topgg::Integrations(fresh, x), std::invalid_argument);
  };
  auto bad = o;
  bad.route = "integrations";
  refused(bad);
  bad = o;
  bad.route = "/integrations/";
  refused(bad);
  bad = o;
  bad.public_url = "bot.example.com";
  refused(bad);
  bad = o;
  bad.public_url = "https://bot.example.com/a b";
  refused(bad);
  bad = o;
  bad.events = {};
  refused(bad);
  bad = o;
  bad.events = {"Vote\"create"};
  refused(bad);
  topgg::Settings off;
  off.dedup_ttl = 0s;
  r.settings(off);
  CHECK_THROWS_AS(topgg::Integrations(r, o), std::invalid_argument); // no store to keep connections in
}

TEST_CASE("create → exact handshake → the connection's deliveries with its secret only, its connection_id") {
  Fixture f;
  Answer a = f.post("/integrations", create("c1", "whs_c1"), own_secret);
  CHECK(a.status == 200);
  CHECK(a.body ==
        R"({"webhook_url":"https://bot.example.com/integrations/c1","routes":["vote.create","webhook.test"]})");
  CHECK(f.post("/integrations", create("c2", "whs_c2"), own_secret).status == 200);
  CHECK(f.registry->size() == 2);
  CHECK(f.registry->find("c1")->webhook_secret == "whs_c1");
  CHECK(f.registry->webhook_url("c2") == "https://bot.example.com/integrations/c2");

  CHECK(f.post("/integrations/c1", vote("100"), "whs_c1").status == 204);
  CHECK(f.post("/integrations/c1", vote("101"), "whs_c2").status == 403);   // another connection's secret
  CHECK(f.post("/integrations/c1", vote("102"), own_secret).status == 403); // the integration's own
  // No such connection: first 500 (it may have been made through another receiver: the store is
  // read again, and Top.gg retries), then 403 once a reload begun after that ask has ended.
  CHECK(f.post("/integrations/nobody", vote("103"), "whs_c1").status == 500);
  CHECK(f.until_not(500, [&] { return f.post("/integrations/nobody", vote("103"), "whs_c1").status; }) == 403);
  CHECK(f.post("/integrations", vote("104"), "whs_c1").status == 403); // the config route: its own secret only
  CHECK(
      f.post("/integrations/c2", R"({"type":"webhook.test","data":{)" + project + "," + user + "}}", "whs_c2").status ==
      204);
  CHECK(f.events == std::vector<std::string>{"vote 100 via c1", "test via c2"});
  // Told through the error hook (the 403s); the registry writes no line per refused delivery.
  CHECK(f.all_lines().find("403 ") != std::string::npos);
  for (const std::string& line : f.lines)
    CHECK(line.find("nobody") == std::string::npos);
}

TEST_CASE("a connection id that cannot be a path segment: 422, nothing stored") {
  Fixture f;
  CHECK(f.post("/integrations", create("a/b", "whs_ab"), own_secret).status == 422);
  CHECK(f.registry->size() == 0);
  CHECK(f.store->connection_store()->load().connections.empty());
}

TEST_CASE("rotation replaces the secret at once; a stale create changes nothing; delete forgets") {
  Fixture f;
  REQUIRE(f.post("/integrations", create("c1", "whs_old"), own_secret).status == 200);
  const Answer again = f.post("/integrations", create("c1", "whs_new"), own_secret);
  CHECK(again.status == 200); // a replayed create answers the handshake again
  CHECK(again.body.find("/integrations/c1") != std::string::npos);
  CHECK(f.post("/integrations/c1", vote("1"), "whs_old").status == 403);
  CHECK(f.post("/integrations/c1", vote("1"), "whs_new").status == 204);
  CHECK(f.post("/integrations", create("c1", "whs_stale"), own_secret, 3600s).status == 403);
  CHECK(f.registry->find("c1")->webhook_secret == "whs_new");
  CHECK(f.store->connection_store()->load().connections.at(0).webhook_secret == "whs_new");
  CHECK(f.post("/integrations", delete_of("c1"), own_secret).status == 204);
  CHECK(f.registry->size() == 0);
  CHECK(f.store->connection_store()->load().connections.empty());
  CHECK(f.post("/integrations/c1", vote("2"), "whs_new").status == 403);
  CHECK(f.events == std::vector<std::string>{"vote 1 via c1"});
  for (std::string_view secret : {"whs_old", "whs_new", "whs_stale", "whs_integration"})
    CHECK(f.all_lines().find(secret) == std::string::npos);
}

TEST_CASE("a new registry on the same store serves the stored connections (a restart)") {
  auto store = std::make_shared<topgg::MemoryStore>();
  {
    Fixture f(store);
    REQUIRE(f.post("/integrations", create("c1", "whs_c1"), own_secret).status == 200);
  }
  Fixture g(store);
  CHECK(g.post("/integrations/c1", vote("5"), "whs_c1").status == 204);
  CHECK(g.events == std::vector<std::string>{"vote 5 via c1"});
}

TEST_CASE("a connection written to the store by someone else (another receiver) is served, never refused 403") {
  Fixture f;
  f.store->connection_store()->put(ts::connection("elsewhere", "whs_else"));
  // Never 403 (Top.gg would not retry): 500 until the store is read again, then handled.
  const int first = f.post("/integrations/elsewhere", vote("10"), "whs_else").status;
  CHECK((first == 500 || first == 204));
  CHECK(f.until_not(500, [&] { return f.post("/integrations/elsewhere", vote("10"), "whs_else").status; }) == 204);
  CHECK(f.events == std::vector<std::string>{"vote 10 via elsewhere"});
}

namespace {
/// A memory store whose connections cannot be written.
struct Broken final : topgg::ConnectionStore {
  void put(const topgg::IntegrationConnection&) override { throw std::runtime_error("disk full"); }
  bool erase(std::string_view) override { throw std::runtime_error("disk full"); }
  topgg::ConnectionSnapshot load() override { return {}; }
  std::uint64_t version() override { return 0; }
};
struct BrokenStore final : topgg::IdempotencyStore {
  topgg::MemoryStore keys;
  Broken broken;
  std::optional<topgg::ClaimResult> claim(std::string_view k, topgg::Now n, std::chrono::milliseconds l,
                                          topgg::ClaimDeferral& d) override {
    return keys.claim(k, n, l, d);
  }
  void confirm(std::string_view k, topgg::Now n, std::chrono::milliseconds t) override { keys.confirm(k, n, t); }
  void release(std::string_view k, topgg::Now n) override { keys.release(k, n); }
  topgg::ConnectionStore* connection_store() noexcept override { return &broken; }
};
} // namespace

TEST_CASE("a store that cannot be written: create and delete answered 503 (Top.gg retries), nothing kept") {
  Fixture f(std::make_shared<BrokenStore>());
  CHECK(f.post("/integrations", create("c1", "whs_c1"), own_secret).status == 503);
  CHECK(f.registry->size() == 0);
  CHECK(f.until_not(500, [&] { return f.post("/integrations/c1", vote("1"), "whs_c1").status; }) == 403);
  CHECK(f.post("/integrations", delete_of("c1"), own_secret).status == 503);
  CHECK(f.all_lines().find("could not be stored") != std::string::npos);
  CHECK(f.all_lines().find("whs_c1") == std::string::npos);
}

TEST_CASE("before start(), or after stop(): connection deliveries answered 500, creates 503 (retried)") {
  topgg::Router r;
  r.on_warning([](std::string_view) {});
  r.on_error([](const topgg::Rejection&) {});
  r.on_vote_create([](const topgg::v1::VoteCreate&) {});
  topgg::IntegrationsOptions o;
  o.secrets = {std::string(own_secret)};
  o.public_url = "https://bot.example.com";
  topgg::Integrations reg(r, o);
  auto status = [&](const std::string& path, const std::string& body, std::string_view secret) {
    return handle_signed(r, path, body, secret).status;
  };
  CHECK(status("/integrations/c1", vote("1"), "whs_c1") == 500);
  CHECK(status("/integrations", create("c1", "whs_c1"), own_secret) == 503);
}

TEST_CASE("two registries on one store: an unknown delete here does not hide a connection made there") {
  // Issue 22: A took its own write for the store's single change (++version). B makes X (the store
  // moves to V+1); a delete of an unknown id reaches A (the store does not move): A at V+1 would
  // never read X, whose deliveries were then 500, then 403 for ever. A polls rarely here: only the
  // reload a miss asks for can find X.
  auto store = std::make_shared<topgg::MemoryStore>();
  Fixture a(store, std::chrono::hours(1));
  Fixture b(store);
  REQUIRE(b.post("/integrations", create("x", "whs_x"), own_secret).status == 200);
  REQUIRE(a.post("/integrations", delete_of("never-made"), own_secret).status == 204);
  const int first = a.post("/integrations/x", vote("20"), "whs_x").status;
  CHECK((first == 500 || first == 204));
  CHECK(a.until_not(500, [&] { return a.post("/integrations/x", vote("20"), "whs_x").status; }) == 204);
  CHECK(a.events == std::vector<std::string>{"vote 20 via x"});
}

TEST_CASE("only the integration's route manages connections: not a connection's route, not another v1 route") {
  std::vector<std::string> others;
  Fixture f(std::make_shared<topgg::MemoryStore>(), 50ms, [&](topgg::IntegrationsOptions& o) {
    o.other_create = [&](const topgg::v1::IntegrationCreate& ev, topgg::Ack ack) {
      others.push_back("create " + ev.connection_id + " at " + ev.route);
      ack.ok();
    };
  });
  f.router.v1_webhook("/topgg", "whs_bot_own");
  REQUIRE(f.post("/integrations", create("c1", "whs_c1"), own_secret).status == 200);
  REQUIRE(f.post("/integrations", create("c2", "whs_c2"), own_secret).status == 200);
  // c2's holder, at its own URL: cannot rotate or end c1 (or itself).
  CHECK(f.post("/integrations/c2", create("c1", "whs_taken"), "whs_c2").status == 403);
  CHECK(f.post("/integrations/c2", create("c2", "whs_taken"), "whs_c2").status == 403);
  CHECK(f.post("/integrations/c2", delete_of("c1"), "whs_c2").status == 403);
  CHECK(f.registry->find("c1")->webhook_secret == "whs_c1");
  CHECK(f.registry->find("c2")->webhook_secret == "whs_c2");
  CHECK(f.post("/integrations/c1", vote("30"), "whs_c1").status == 204);
  // The bot's own v1 route: its create goes to the other handler; no delete handler: 403.
  CHECK(f.post("/topgg", create("c1", "whs_mine"), "whs_bot_own").status == 204);
  CHECK(others == std::vector<std::string>{"create c1 at /topgg"});
  CHECK(f.post("/topgg", delete_of("c1"), "whs_bot_own").status == 403);
  CHECK(f.registry->find("c1")->webhook_secret == "whs_c1");
  CHECK(f.store->connection_store()->load().connections.size() == 2);
  CHECK(f.post("/integrations/c1", vote("31"), "whs_c1").status == 204);
  // One line per route, not per request.
  const std::string all = f.all_lines();
  std::size_t n = 0;
  for (auto at = all.find("only /integrations manages"); at != std::string::npos;
       at = all.find("only /integrations manages", at + 1))
    ++n;
  CHECK(n == 2); // /integrations/* and /topgg
}

TEST_CASE("integration.create without a webhook_secret: 422, nothing stored") {
  Fixture f;
  CHECK(f.post("/integrations", create("c1", ""), own_secret).status == 422);
  CHECK(f.registry->size() == 0);
  CHECK(f.store->connection_store()->load().connections.empty());
}

namespace {
/// A memory store whose connections cannot be read while `down`; counts the polls.
struct Flaky final : topgg::ConnectionStore {
  topgg::MemoryStore& real;
  std::atomic<bool> down{false};
  std::atomic<int> asked{0};
  explicit Flaky(topgg::MemoryStore& r) : real(r) {}
  void put(const topgg::IntegrationConnection& c) override { real.connection_store()->put(c); }
  bool erase(std::string_view id) override { return real.connection_store()->erase(id); }
  topgg::ConnectionSnapshot load() override {
    if (down)
      throw std::runtime_error("connection refused");
    return real.connection_store()->load();
  }
  std::uint64_t version() override {
    ++asked;
    if (down)
      throw std::runtime_error("connection refused");
    return real.connection_store()->version();
  }
};
struct FlakyStore final : topgg::IdempotencyStore {
  topgg::MemoryStore keys;
  Flaky flaky{keys};
  std::optional<topgg::ClaimResult> claim(std::string_view k, topgg::Now n, std::chrono::milliseconds l,
                                          topgg::ClaimDeferral& d) override {
    return keys.claim(k, n, l, d);
  }
  void confirm(std::string_view k, topgg::Now n, std::chrono::milliseconds t) override { keys.confirm(k, n, t); }
  void release(std::string_view k, topgg::Now n) override { keys.release(k, n); }
  topgg::ConnectionStore* connection_store() noexcept override { return &flaky; }
};
} // namespace

TEST_CASE("a store that cannot be read: one line per outage, not one per poll") {
  auto store = std::make_shared<FlakyStore>();
  Fixture f(store);
  auto count = [&](std::string_view what) {
    std::lock_guard lock(f.m);
    return std::count_if(f.lines.begin(), f.lines.end(),
                         [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  store->flaky.down = true;
  const int from = store->flaky.asked;
  for (int i = 0; i < 600 && store->flaky.asked < from + 10; ++i) // ten polls at least, 30 s at most
    std::this_thread::sleep_for(50ms);
  REQUIRE(store->flaky.asked >= from + 10);
  CHECK(count("cannot read the connections") == 1);
  store->flaky.down = false;
  for (int i = 0; i < 600 && count("the store answers again") == 0; ++i)
    std::this_thread::sleep_for(50ms);
  CHECK(count("the store answers again") == 1);
  store->flaky.down = true;
  for (int i = 0; i < 600 && count("cannot read the connections") < 2; ++i)
    std::this_thread::sleep_for(50ms);
  CHECK(count("cannot read the connections") == 2); // a second outage: its own line
}
