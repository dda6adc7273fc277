// RedisStore's vote ledger against a real redis-server: the ledger's contract
// (ledger_cases.hpp: the same records as the C++ rules, from Lua), what it
// writes, two receivers claiming expiries from one Redis, an outage, a flushed
// script cache.
#include <doctest/doctest.h>

#include "ledger_cases.hpp"
#include "redis_server.hpp"
#include "topgg/redis_store.hpp"

using namespace std::chrono_literals;
using topgg::RedisOptions;
using topgg::RedisStore;
using namespace ts;

namespace {
/// The tests' store: see quick_options().
RedisOptions options(int port, std::chrono::milliseconds timeout = 10'000ms) { return quick_options(port, timeout); }
} // namespace

TEST_CASE("redis vote ledger: records with the key's first confirm; the rules in Lua as in C++") {
  RedisServer srv;
  RedisStore s(options(srv.port()));
  REQUIRE(s.vote_ledger());
  ledger_records(s);
}

TEST_CASE("redis vote ledger: expiries in order, claimed until the lease ends, finished or retried") {
  RedisServer srv;
  RedisStore s(options(srv.port()));
  ledger_expiries(s, "redis");
}

TEST_CASE("redis vote ledger: a hash per subject and user, a sorted set of expiries by due time, the subjects") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  RedisStore s(options(srv.port()));
  s.vote_ledger()->record("k1", wall_at(t0), 1h, vote("160105994217586689", t0, 2s), grace);
  CHECK(find(*s.vote_ledger(), "160105994217586689")); // written before this answer
  const std::string hash = "topgg:vote:project/803190510032756736/160105994217586689";
  CHECK(raw.command({"HGET", hash, "route"}) == "/topgg");
  CHECK(raw.command({"HGET", hash, "voted_at"}) == "1770598034251014");
  CHECK(raw.command({"HGET", hash, "expires_at"}) == "1770598036251014");
  CHECK(raw.command({"HGET", hash, "streak"}) == "1");
  CHECK(raw.command({"HGET", hash, "count"}) == "1");
  CHECK(raw.command({"HGET", hash, "pending"}) == "1");
  CHECK(raw.command({"ZSCORE", "topgg:vote-expiries", "project/803190510032756736/160105994217586689"}) ==
        "1770598036251014");
  CHECK(raw.command({"SISMEMBER", "topgg:vote-subjects", "project/803190510032756736"}) == "1");
  CHECK(raw.command({"GET", "topgg:k1"}) == "done");
  auto due = s.vote_ledger()->take_due(t0 + 3s, 10, t0 + 40s, "tok");
  REQUIRE(due.size() == 1);
  CHECK(raw.command({"HGET", hash, "token"}) == "tok");
  s.vote_ledger()->finish(due[0], "tok", true, {});
  CHECK_FALSE(s.vote_ledger()->next_due());
  CHECK(raw.command({"HGET", hash, "pending"}) == "0");
  CHECK(raw.command({"HEXISTS", hash, "token"}) == "0");
}

TEST_CASE("redis vote ledger: two receivers on one Redis never both get an expiry") {
  RedisServer srv;
  RedisStore a(options(srv.port())), b(options(srv.port()));
  ledger_two_takers(*a.vote_ledger(), *b.vote_ledger(), 60, 30);
  // The same vote recorded by both (two receivers confirming one key): once.
  a.vote_ledger()->record("shared", wall_at(t0), 1h, vote("x", t0), grace);
  b.vote_ledger()->record("shared", wall_at(t0), 1h, vote("x", t0), grace);
  CHECK(find(*b.vote_ledger(), "x")->count == 1);
  CHECK(find(*a.vote_ledger(), "x")->count == 1);
}

TEST_CASE("redis vote ledger: while Redis is down reads fail and records wait; then they are written") {
  RedisServer srv;
  RedisStore s(options(srv.port(), 500ms));
  Reports reports;
  reports.attach(s);
  VoteLedger& l = *s.vote_ledger();
  l.record("before", wall_at(t0), 1h, vote("0", t0), grace);
  REQUIRE(find(l, "0"));
  srv.stop();
  l.record("during", wall_at(t0), 1h, vote("1", t0), grace);
  bool ok = true;
  CHECK_FALSE(find(l, "1", &ok));
  CHECK_FALSE(ok);
  CHECK_THROWS_AS(l.take_due(t0 + 1h, 10, t0 + 2h, "a"), std::runtime_error);
  CHECK_THROWS_AS(l.next_due(), std::runtime_error);
  srv.start(); // empty again (no persistence): only what the store kept comes back
  std::optional<topgg::VoteRecord> r;
  for (int i = 0; i < 600 && !(r = find(l, "1", &ok)); ++i) // up to 30 s: a busy machine
    std::this_thread::sleep_for(50ms);
  REQUIRE(r);
  CHECK(r->count == 1);
  CHECK(claim(s, "during", wall_at(t0)) == topgg::ClaimResult::done);
}

TEST_CASE("redis vote ledger: a flushed script cache is loaded again and the record written") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  RedisStore s(options(srv.port()));
  Reports reports;
  reports.attach(s);
  VoteLedger& l = *s.vote_ledger();
  l.record("a", wall_at(t0), 1h, vote("1", t0), grace);
  REQUIRE(find(l, "1"));
  CHECK(raw.command({"SCRIPT", "FLUSH"}) == "OK");
  l.record("b", wall_at(t0), 1h, vote("2", t0), grace); // NOSCRIPT: kept, scripts loaded, sent again
  std::optional<topgg::VoteRecord> r;
  for (int i = 0; i < 600 && !(r = find(l, "2")); ++i) // up to 30 s: a busy machine
    std::this_thread::sleep_for(50ms);
  REQUIRE(r);
  CHECK(r->count == 1);
  CHECK(l.take_due(t0 + 13h, 10, t0 + 14h, "t").size() == 2);
}
