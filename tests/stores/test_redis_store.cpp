// RedisStore against a real redis-server started on a free loopback port: the
// claim semantics on Redis' own clock, what it writes, two receivers on one
// Redis, pipelining, outages (stopped, silent, refusing) with their reports,
// and what probe() tells of a misconfiguration or an outage at start.
#include <doctest/doctest.h>

#include <netdb.h>

#include "redis_server.hpp"
#include "topgg/redis_store.hpp"

using namespace std::chrono_literals;
using topgg::ClaimResult;
using topgg::RedisOptions;
using topgg::RedisStore;
using ts::claim;
using ts::RedisServer;

namespace {

topgg::Now now() { return topgg::Now::current(); }

using ts::patient;

/// For the cases where a timeout must run out (a Redis that accepts but never
/// answers): the library's default, short enough to wait for, long enough that
/// the claims made while Redis answers are not timed out on a busy machine.
RedisOptions timed(int port) {
  RedisOptions o = patient(port);
  o.command_timeout = 1000ms;
  o.connect_timeout = 1000ms;
  return o;
}

/// Far below patient()'s timeouts: an answer that came this soon was not a timeout.
constexpr auto promptly = 10s;

// Appends rather than `"k" + std::to_string(i)`, which trips GCC 12's -Wrestrict false positive at -O3.
std::string numbered(const char* prefix, std::size_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

std::string url_error(std::string_view url) {
  try {
    RedisOptions::from_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

/// Claims fresh keys until one is claimed (the store reconnected) or `wait` passes.
bool claimed_again(RedisStore& s, std::chrono::milliseconds wait = 30'000ms) {
  const auto until = ts::Steady::now() + wait;
  for (std::size_t i = 0; ts::Steady::now() < until; ++i) {
    if (claim(s, numbered("probe-", i), now()) == ClaimResult::claimed)
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::size_t lines_with(ts::Reports& r, std::string_view text) {
  std::size_t n = 0;
  for (auto& l : r.lines())
    n += l.find(text) != std::string::npos;
  return n;
}

} // namespace

TEST_CASE("redis store: URLs") {
  auto o = RedisOptions::from_url("redis://127.0.0.1:6380");
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == 6380);
  CHECK(o.db == 0);
  CHECK(o.password.empty());
  CHECK(o.key_prefix == "topgg:");
  CHECK_FALSE(o.fail_open);

  o = RedisOptions::from_url("redis://:s3cr%40t%3a@cache.internal:7000/3");
  CHECK(o.host == "cache.internal");
  CHECK(o.port == 7000);
  CHECK(o.db == 3);
  CHECK(o.username.empty());
  CHECK(o.password == "s3cr@t:");

  o = RedisOptions::from_url("redis://bot:pw@[::1]:6379/0");
  CHECK(o.username == "bot");
  CHECK(o.password == "pw");
  CHECK(o.host == "::1");
  CHECK(RedisOptions::from_url("redis://localhost").port == 6379);
  CHECK(RedisOptions::from_url("redis://localhost/").db == 0);
  CHECK(RedisOptions::from_url("redis://[::1]").host == "::1");

  for (std::string_view bad :
       {"http://h:6379",  "rediss://h:6379", "unix:///run/redis.sock", "redis://",       "redis://:6379",
        "redis://h:0",    "redis://h:65536", "redis://h:port",         "redis://h:",     "redis://h/x",
        "redis://h/1/2",  "redis://h/-1",    "redis://h:6379?db=1",    "redis://h#x",    "redis://password@h",
        "redis://:%zz@h", "redis://:%4@h",   "redis://[::1",           "redis://[::1]x", "REDIS://h"})
    CHECK_MESSAGE(url_error(bad).rfind("redis URL: ", 0) == 0, bad);
  CHECK(url_error("redis://:hunter2@h:bad").find("hunter2") == std::string::npos); // never in a message
  CHECK(url_error("redis://:hunter2@h/%").find("hunter2") == std::string::npos);

  CHECK_THROWS_AS(RedisStore("redis://h:0"), std::invalid_argument);
  RedisOptions zero;
  zero.port = 0;
  CHECK_THROWS_AS(RedisStore{zero}, std::invalid_argument);
  RedisOptions slow;
  slow.command_timeout = 0ms;
  CHECK_THROWS_AS(RedisStore{slow}, std::invalid_argument);
}

TEST_CASE("redis store: claim, confirm, release, lease and TTL") {
  RedisServer srv;
  RedisStore s(patient(srv.port()));
  CHECK(claim(s, "a", now()) == ClaimResult::claimed);
  CHECK(claim(s, "a", now()) == ClaimResult::in_progress); // held while handled
  s.release("a", now());
  CHECK(claim(s, "a", now()) == ClaimResult::claimed); // released: the retry is handled
  s.confirm("a", now(), 60'000ms);
  CHECK(claim(s, "a", now()) == ClaimResult::done);
  s.release("a", now()); // never drops a confirmed key
  CHECK(claim(s, "a", now()) == ClaimResult::done);

  // A short lease and a short TTL, on Redis' clock: each key is claimed again
  // once its time is over and not before, however late this thread looks.
  // How long until a claim of `key` is claimed, counted from `since`; every
  // answer before that one must be `meanwhile`.
  auto claimable_after = [&](const char* key, ts::Steady::time_point since, ClaimResult meanwhile) {
    for (;;) {
      const auto r = claim(s, key, now());
      const auto took = ts::Steady::now() - since;
      if (r == ClaimResult::claimed)
        return took;
      REQUIRE(r == meanwhile);
      REQUIRE(took < 30s);
      std::this_thread::sleep_for(10ms);
    }
  };
  const auto lease_from = ts::Steady::now();
  CHECK(claim(s, "b", now(), 150ms) == ClaimResult::claimed);
  REQUIRE(claim(s, "t", now()) == ClaimResult::claimed);
  const auto ttl_from = ts::Steady::now();
  s.confirm("t", now(), 400ms);
  // Lease lapsed: a crashed receiver does not block the retry (5 ms: Redis' clock in milliseconds).
  CHECK(claimable_after("b", lease_from, ClaimResult::in_progress) >= 150ms - 5ms);
  CHECK(claimable_after("t", ttl_from, ClaimResult::done) >= 400ms - 5ms); // TTL over: forgotten
}

TEST_CASE("redis store: what it writes, under its prefix and database") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  auto o = patient(srv.port());
  {
    RedisStore s(o);
    // Leases and TTLs long enough that this thread, however late, reads them
    // well before they run out; in milliseconds (PX), not seconds.
    REQUIRE(claim(s, "held", now(), 600'000ms) == ClaimResult::claimed);
    const std::string v = raw.command({"GET", "topgg:held"});
    CHECK(v.rfind("claimed:", 0) == 0);
    CHECK(v.size() == 8 + 32);
    const long pttl = std::stol(raw.command({"PTTL", "topgg:held"}));
    CHECK(pttl > 500'000);
    CHECK(pttl <= 600'000);
    s.confirm("held", now(), 3'600'000ms);
    CHECK(claim(s, "held", now()) == ClaimResult::done);
    CHECK(raw.command({"GET", "topgg:held"}) == "done");
    CHECK(std::stol(raw.command({"PTTL", "topgg:held"})) > 3'000'000);
  }
  o.key_prefix = "bot2:";
  o.db = 2;
  RedisStore other(o);
  CHECK(claim(other, "held", now()) == ClaimResult::claimed); // another prefix and database: another key
  CHECK(raw.command({"EXISTS", "bot2:held"}) == "0");         // not in database 0
  CHECK(raw.command({"SELECT", "2"}) == "OK");
  CHECK(raw.command({"GET", "bot2:held"}).rfind("claimed:", 0) == 0);
}

TEST_CASE("redis store: a claim is released only by the store that made it") {
  RedisServer srv;
  RedisStore a(patient(srv.port())), b(patient(srv.port()));
  REQUIRE(claim(a, "k", now()) == ClaimResult::claimed);
  b.release("k", now()); // b never claimed it
  CHECK(claim(b, "k", now()) == ClaimResult::in_progress);
  a.release("k", now());
  CHECK(claim(a, "sync", now()) == ClaimResult::claimed); // a's release has been written
  CHECK(claim(b, "k", now()) == ClaimResult::claimed);
  b.confirm("k", now(), 60'000ms);
  b.release("k", now());
  a.release("k", now());
  CHECK(claim(b, "sync2", now()) == ClaimResult::claimed);
  CHECK(claim(a, "k", now()) == ClaimResult::done); // nobody drops a done key
}

TEST_CASE("redis store: two receivers claiming the same keys at once: exactly one claimed each") {
  RedisServer srv;
  RedisStore a(patient(srv.port())), b(patient(srv.port()));
  constexpr std::size_t n = 500;
  ts::Batch ba(n), bb(n);
  std::thread ta([&] {
    for (std::size_t i = 0; i < n; ++i)
      ba.start(a, i, numbered("race-", i), now());
  });
  std::thread tb([&] { // the other way round, so that they meet
    for (std::size_t i = n; i-- > 0;)
      bb.start(b, i, numbered("race-", i), now());
  });
  ta.join();
  tb.join();
  REQUIRE(ba.wait());
  REQUIRE(bb.wait());
  const auto ra = ba.results(), rb = bb.results();
  std::size_t exactly_one = 0;
  for (std::size_t i = 0; i < n; ++i)
    exactly_one += (ra[i] == ClaimResult::claimed && rb[i] == ClaimResult::in_progress) ||
                   (ra[i] == ClaimResult::in_progress && rb[i] == ClaimResult::claimed);
  CHECK(exactly_one == n);
}

TEST_CASE("redis store: many claims in flight from several threads") {
  RedisServer srv;
  RedisStore s(patient(srv.port()));
  constexpr std::size_t threads = 4, keys = 2000;
  std::vector<std::unique_ptr<ts::Batch>> batches;
  for (std::size_t t = 0; t < threads; ++t)
    batches.push_back(std::make_unique<ts::Batch>(keys));
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = 0; i < keys; ++i)
        batches[t]->start(s, i, numbered("k", (i + t * 577) % keys), now());
    });
  for (auto& th : pool)
    th.join();
  std::vector<int> claimed(keys), in_progress(keys);
  for (std::size_t t = 0; t < threads; ++t) {
    REQUIRE(batches[t]->wait());
    const auto r = batches[t]->results();
    for (std::size_t i = 0; i < keys; ++i) {
      const std::size_t k = (i + t * 577) % keys;
      claimed[k] += r[i] == ClaimResult::claimed;
      in_progress[k] += r[i] == ClaimResult::in_progress;
    }
  }
  CHECK(std::count(claimed.begin(), claimed.end(), 1) == static_cast<long>(keys));
  CHECK(std::count(in_progress.begin(), in_progress.end(), static_cast<int>(threads - 1)) == static_cast<long>(keys));
}

TEST_CASE("redis store: marks round-trip in microseconds") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  const auto t = std::chrono::sys_time<std::chrono::microseconds>(1'700'000'000'123'456us);
  {
    RedisStore s(patient(srv.port()));
    CHECK_FALSE(s.load_mark("catch-up"));
    s.save_mark("catch-up", t);
    CHECK(s.load_mark("catch-up") == t);
    CHECK(raw.command({"GET", "topgg:mark:catch-up"}) == "1700000000123456");
  }
  RedisStore s(patient(srv.port()));
  CHECK(s.load_mark("catch-up") == t); // another receiver sees it
  raw.command({"SET", "topgg:mark:bad", "yesterday"});
  CHECK_THROWS_AS(s.load_mark("bad"), std::runtime_error);
  srv.stop();
  const auto t0 = ts::Steady::now();
  CHECK_THROWS_AS(s.load_mark("catch-up"), std::runtime_error); // no hang
  CHECK_THROWS_AS(s.save_mark("catch-up", t), std::runtime_error);
  CHECK(ts::Steady::now() - t0 < promptly); // refused, not timed out
}

TEST_CASE("redis store: an idle store sleeps, connected or not") {
  RedisServer srv;
  RedisStore up(patient(srv.port()));
  REQUIRE(claim(up, "k", now()) == ClaimResult::claimed);
  RedisStore down(patient(ts::free_port())); // reconnecting every 100 ms meanwhile
  CHECK(ts::cpu_while_sleeping(300ms) < 100ms);
}

TEST_CASE("redis store: Redis stopped mid-run: unavailable at once, one line, then back") {
  RedisServer srv;
  const auto o = patient(srv.port());
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "before", now()) == ClaimResult::claimed);

  srv.stop();
  for (int round = 0; round < 10; ++round) { // through several reconnect attempts
    ts::Batch b(20);
    const auto t0 = ts::Steady::now();
    for (std::size_t i = 0; i < 20; ++i)
      b.start(s, i, numbered("down-", i), now());
    REQUIRE(b.wait());
    CHECK(ts::Steady::now() - t0 < promptly); // Redis refused: no waiting for the timeout
    CHECK(b.count(ClaimResult::unavailable) == 20);
    std::this_thread::sleep_for(30ms);
  }
  REQUIRE(reports.size() == 1); // one line for the outage, not one per claim or attempt
  CHECK(reports.lines()[0].find("redis 127.0.0.1:" + std::to_string(srv.port())) != std::string::npos);
  CHECK(reports.lines()[0].find("claims answer unavailable") != std::string::npos);

  srv.start(); // same port
  REQUIRE(claimed_again(s));
  REQUIRE(reports.wait_for(2));
  CHECK(reports.lines()[1].find("answering again") != std::string::npos);
  CHECK(claim(s, "before", now()) == ClaimResult::claimed); // that Redis kept nothing: no persistence
  CHECK(reports.size() == 2);
  MESSAGE(reports.all());
}

TEST_CASE("redis store: an idle connection closed by Redis is opened again without a report") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  RedisStore s(patient(srv.port()));
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "a", now()) == ClaimResult::claimed);
  CHECK(raw.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}) == "1"); // as Redis' idle `timeout` does
  std::this_thread::sleep_for(50ms);
  CHECK(claim(s, "a", now()) == ClaimResult::in_progress);
  CHECK(claim(s, "b", now()) == ClaimResult::claimed);
  CHECK(raw.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}) == "1");
  CHECK(claim(s, "c", now()) == ClaimResult::claimed); // right after: waits for the new connection
  CHECK(reports.size() == 0);
}

TEST_CASE("redis store: a silent Redis: pending claims answered within the timeout, then back") {
  RedisServer srv;
  const auto o = timed(srv.port());
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "before", now()) == ClaimResult::claimed);

  srv.pause(); // the connection stays open; nothing is answered
  ts::Batch b(50);
  const auto t0 = ts::Steady::now();
  for (std::size_t i = 0; i < 50; ++i)
    b.start(s, i, numbered("silent-", i), now());
  REQUIRE(b.wait());
  const auto took = ts::Steady::now() - t0;
  CHECK(took >= o.command_timeout - 10ms); // waited for an answer
  CHECK(took < 10 * o.command_timeout);    // and not much longer, however busy the machine
  CHECK(b.count(ClaimResult::unavailable) == 50);
  for (int i = 0; i < 3; ++i) // reconnecting to a server that accepts but never answers
    CHECK(claim(s, numbered("still-", static_cast<std::size_t>(i)), now()) == ClaimResult::unavailable);
  CHECK(reports.size() == 1);
  CHECK(lines_with(reports, "within 1000 ms") == 1);

  srv.resume();
  REQUIRE(claimed_again(s));
  REQUIRE(reports.wait_for(2));
  CHECK(reports.lines()[1].find("answering again") != std::string::npos);
  CHECK(reports.size() == 2);
}

TEST_CASE("redis store: many claims in flight when the connection dies: each answered once") {
  RedisServer srv;
  RedisStore s(patient(srv.port()));
  constexpr std::size_t n = 5000;
  ts::Batch b(n);
  for (std::size_t i = 0; i < n; ++i) {
    b.start(s, i, numbered("flight-", i), now());
    if (i == n / 2)
      srv.stop();
  }
  REQUIRE(b.wait()); // Batch throws if any is answered twice
  CHECK(b.count(ClaimResult::claimed) + b.count(ClaimResult::unavailable) == n);
  CHECK(b.count(ClaimResult::unavailable) >= n / 2 - 1);
}

TEST_CASE("redis store: unreachable from the start; the hook set after construction hears it") {
  auto o = patient(ts::free_port()); // nobody listens there
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  std::this_thread::sleep_for(100ms); // attempts fail meanwhile, before anyone asked
  CHECK(reports.size() == 0);
  for (int i = 0; i < 5; ++i) {
    const auto t0 = ts::Steady::now();
    CHECK(claim(s, "k", now()) == ClaimResult::unavailable);
    CHECK(ts::Steady::now() - t0 < promptly); // refused: no waiting for the timeout
  }
  REQUIRE(reports.size() == 1);
  CHECK(reports.lines()[0].find("refused") != std::string::npos);
}

TEST_CASE("redis store: a host name is looked up (off the store's thread), every address tried") {
  RedisServer srv; // listens on 127.0.0.1 only; "localhost" may also (or first) be ::1
  auto o = patient(srv.port());
  o.host = "localhost";
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  CHECK(claim(s, "k", now()) == ClaimResult::claimed);
  CHECK(claim(s, "k", now()) == ClaimResult::in_progress);
  CHECK(reports.size() == 0); // an address that refused (::1 where it comes first) is not an outage
}

TEST_CASE("redis store: a wrong password is one line, and never printed") {
  RedisServer srv({"--requirepass", "hunter2"});
  {
    auto o = patient(srv.port());
    o.password = "wrong-secret";
    RedisStore s(o);
    ts::Reports reports;
    reports.attach(s);
    for (int i = 0; i < 5; ++i) {
      CHECK(claim(s, "k", now()) == ClaimResult::unavailable);
      std::this_thread::sleep_for(30ms);
    }
    REQUIRE(reports.size() == 1);
    CHECK(reports.lines()[0].find("AUTH failed") != std::string::npos);
    CHECK(reports.all().find("wrong-secret") == std::string::npos);
  }
  {
    auto o = patient(srv.port());
    o.password = "hunter2";
    RedisStore s(o);
    CHECK(claim(s, "k", now()) == ClaimResult::claimed);
  }
  RedisStore by_url("redis://default:hunter2@127.0.0.1:" + std::to_string(srv.port()) + "/1"); // ACL user, db 1
  CHECK(claim(by_url, "k", now()) == ClaimResult::claimed);
  CHECK(claim(by_url, "k", now()) == ClaimResult::in_progress);
}

TEST_CASE("redis store: fail-open claims proceed while Redis is down") {
  RedisServer srv;
  auto o = patient(srv.port());
  o.fail_open = true;
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "k", now()) == ClaimResult::claimed);
  srv.stop();
  CHECK(claim(s, "k", now()) == ClaimResult::claimed); // no de-duplication meanwhile
  CHECK(claim(s, "k", now()) == ClaimResult::claimed);
  REQUIRE(reports.size() == 1);
  CHECK(reports.lines()[0].find("fail-open") != std::string::npos);
}

TEST_CASE("redis store: a confirm made during an outage is written once Redis is back") {
  RedisServer srv;
  RedisStore s(patient(srv.port()));
  REQUIRE(claim(s, "k", now()) == ClaimResult::claimed);
  srv.stop();
  s.confirm("k", now(), 60'000ms); // handled while Redis was down
  std::this_thread::sleep_for(50ms);
  srv.start(); // empty: no persistence
  REQUIRE(claimed_again(s));
  CHECK(claim(s, "k", now()) == ClaimResult::done);
}

TEST_CASE("redis store: too many pending claims answer at once, reported once") {
  RedisServer srv;
  auto o = timed(srv.port()); // the pending ones wait for their timeout
  o.max_pending = 3;
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "warm", now()) == ClaimResult::claimed);
  srv.pause();
  ts::Batch b(10);
  std::size_t at_once = 0;
  for (std::size_t i = 0; i < 10; ++i)
    at_once += b.start(s, i, numbered("p", i), now());
  CHECK(at_once == 7);
  REQUIRE(b.wait());
  CHECK(b.count(ClaimResult::unavailable) == 10);
  srv.resume();
  REQUIRE(claimed_again(s));
  CHECK(lines_with(reports, "3 claims pending") == 1);
}

TEST_CASE("redis store: a primary turned replica: unavailable, one line, reconnecting until it is primary again") {
  RedisServer srv, other;
  RedisServer::Client raw(srv.port());
  RedisStore s(patient(srv.port()));
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "a", now()) == ClaimResult::claimed);
  CHECK(raw.command({"REPLICAOF", "127.0.0.1", std::to_string(other.port())}) == "OK"); // as after a failover
  for (std::size_t i = 0; i < 10; ++i) {
    CHECK(claim(s, numbered("r", i), now()) == ClaimResult::unavailable);
    std::this_thread::sleep_for(30ms); // reconnections happen meanwhile; none is a new outage
  }
  CHECK(reports.size() == 1);
  CHECK(lines_with(reports, "READONLY") == 1);
  CHECK(raw.command({"REPLICAOF", "NO", "ONE"}) == "OK");
  REQUIRE(claimed_again(s));
  CHECK(reports.size() == 2);
  CHECK(lines_with(reports, "answering again") == 1);
  MESSAGE(reports.all());
}

TEST_CASE("redis store: a flushed script cache is reloaded") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  RedisStore s(patient(srv.port()));
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "a", now()) == ClaimResult::claimed);
  CHECK(raw.command({"SCRIPT", "FLUSH"}) == "OK");
  CHECK(claim(s, "b", now()) == ClaimResult::unavailable); // NOSCRIPT: reported, scripts loaded again
  CHECK(claim(s, "b", now()) == ClaimResult::claimed);
  CHECK(lines_with(reports, "NOSCRIPT") == 1);
  CHECK(reports.size() == 2);
}

TEST_CASE("redis store: closing writes the confirms still queued") {
  RedisServer srv;
  RedisServer::Client raw(srv.port());
  {
    RedisStore s(patient(srv.port()));
    REQUIRE(claim(s, "k", now()) == ClaimResult::claimed);
    for (std::size_t i = 0; i < 100; ++i)
      s.confirm(numbered("c", i), now(), 60'000ms);
    s.confirm("k", now(), 60'000ms);
  }
  CHECK(raw.command({"GET", "topgg:k"}) == "done");
  CHECK(raw.command({"GET", "topgg:c99"}) == "done");
}

TEST_CASE("redis store: probe: ok, or a permanent error for a wrong, missing or unexpected password and a bad db") {
  RedisServer srv({"--requirepass", "hunter2"});
  auto probe_with = [&](const std::string& password, int db) {
    auto o = patient(srv.port());
    o.password = password;
    o.db = db;
    return RedisStore(o).probe(20'000ms);
  };
  {
    auto o = patient(srv.port());
    o.password = "hunter2";
    o.db = 15;
    RedisStore s(o);
    const auto r = s.probe(20'000ms);
    CHECK(r.kind == topgg::RedisProbe::Kind::ok);
    CHECK(r.ok());
    CHECK(r.why.empty());
    CHECK(claim(s, "k", now()) == ClaimResult::claimed); // the probe's connection is the store's
    CHECK(s.probe(20'000ms).ok());                       // connected: ok again
  }
  const auto wrong = probe_with("wrong-secret", 0);
  CHECK(wrong.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(wrong.why.find("WRONGPASS") != std::string::npos, wrong.why);
  CHECK(wrong.why.find("wrong-secret") == std::string::npos);

  const auto none = probe_with("", 0);
  CHECK(none.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(none.why.find("NOAUTH") != std::string::npos, none.why);

  const auto db = probe_with("hunter2", 99); // a default server has 16
  CHECK(db.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(db.why.find("DB index is out of range") != std::string::npos, db.why);

  RedisServer open; // no password: AUTH with one is an error, not ignored
  auto o = patient(open.port());
  o.password = "hunter2";
  RedisStore s(o);
  const auto unexpected = s.probe(20'000ms);
  CHECK(unexpected.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(unexpected.why.find("without any password configured") != std::string::npos, unexpected.why);
  CHECK(unexpected.why.find("hunter2") == std::string::npos);

  // Not a use of the store: the error hook set after it hears the outage when a claim comes.
  ts::Reports reports;
  reports.attach(s);
  CHECK(claim(s, "k", now()) == ClaimResult::unavailable);
  REQUIRE(reports.wait_for(1));
  CHECK(lines_with(reports, "AUTH failed") == 1);
}

TEST_CASE("redis store: an error that quotes AUTH's arguments never shows the password") {
  RedisServer srv({"--rename-command", "AUTH", ""}); // AUTH unknown: Redis quotes the arguments back
  auto o = patient(srv.port());
  o.password = std::string(200, 'p') + "-secret"; // longer than Redis' quote, which cuts it
  RedisStore s(o);
  ts::Reports reports;
  reports.attach(s);
  const auto r = s.probe(20'000ms);
  CHECK(r.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(r.why.find("unknown command") != std::string::npos, r.why);
  CHECK(r.why.find("pppp") == std::string::npos);
  CHECK(claim(s, "k", now()) == ClaimResult::unavailable);
  REQUIRE(reports.wait_for(1));
  CHECK(lines_with(reports, "AUTH failed: ERR unknown command") == 1);
  CHECK(reports.all().find("pppp") == std::string::npos);
  MESSAGE(reports.all());
}

TEST_CASE("redis store: probe: a host name that does not exist is permanent") {
  const std::string host = "topgg-webhook-test.invalid"; // RFC 2606: never resolves
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (list)
    ::freeaddrinfo(list);
  if (rc != EAI_NONAME) { // e.g. EAI_AGAIN where no name server answers: rightly transient
    MESSAGE("skipped: this machine's lookup of " << host << " gives " << ::gai_strerror(rc) << ", not EAI_NONAME");
    return;
  }
  auto o = patient(6379);
  o.host = host;
  RedisStore s(o);
  const auto r = s.probe(20'000ms);
  CHECK(r.kind == topgg::RedisProbe::Kind::permanent);
  CHECK_MESSAGE(r.why.find(host) != std::string::npos, r.why);
}

TEST_CASE("redis store: probe: refused or silent is transient; the next probe tries at once, not after the back-off") {
  RedisServer srv;
  const int port = srv.port();
  srv.stop();
  auto o = patient(port);
  o.reconnect_min = o.reconnect_max = 3'600'000ms; // only a probe starts another attempt within this test
  RedisStore s(o);
  const auto refused = s.probe(20'000ms);
  CHECK(refused.kind == topgg::RedisProbe::Kind::transient);
  CHECK_MESSAGE(refused.why.find("refused") != std::string::npos, refused.why);
  CHECK(s.probe(20'000ms).kind == topgg::RedisProbe::Kind::transient); // still refused

  srv.start(); // same port
  const auto back = s.probe(20'000ms);
  CHECK_MESSAGE(back.ok(), back.why);
  CHECK(claim(s, "k", now()) == ClaimResult::claimed);

  srv.pause();          // accepts connections, answers nothing
  auto q = timed(port); // its connect_timeout, not the probe's 20 s, runs out
  RedisStore silent(q);
  const auto r = silent.probe(20'000ms);
  CHECK(r.kind == topgg::RedisProbe::Kind::transient);
  CHECK_MESSAGE(r.why.find("not connected within") != std::string::npos, r.why);
}

namespace {
/// Waits (generously: a busy machine) until `cond` holds; whether it did.
template <class F> bool eventually(F cond, std::chrono::milliseconds wait = 20'000ms) {
  const auto until = ts::Steady::now() + wait;
  while (!cond()) {
    if (ts::Steady::now() >= until)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}
} // namespace

TEST_CASE("redis store: available() follows Redis without deliveries — false once stopped, true once back") {
  RedisServer srv;
  auto o = patient(srv.port()); // a stopped Redis refuses at once: no timeout involved
  o.health_interval = 3'600'000ms; // no idle check here: back, it is the reconnection's own check that tells
  RedisStore s(o);
  REQUIRE(claim(s, "a", now()) == ClaimResult::claimed);
  CHECK(s.available());
  CHECK(s.unavailable_reason().empty());
  srv.stop(); // no claim from here on
  REQUIRE(eventually([&] { return !s.available(); }));
  CHECK(s.unavailable_reason().find("redis 127.0.0.1:" + std::to_string(srv.port()) + ": ") == 0);
  srv.start();                                      // same port
  CHECK(eventually([&] { return s.available(); })); // the store writes <prefix>health once reconnected
  CHECK(s.unavailable_reason().empty());
}

TEST_CASE("redis store: idle, a silent Redis or a replica is noticed within health_interval") {
  RedisServer srv, other;
  RedisServer::Client raw(srv.port());
  auto o = timed(srv.port()); // the paused Redis is found out by the command timeout
  o.health_interval = 100ms;
  RedisStore s(o);
  REQUIRE(claim(s, "a", now()) == ClaimResult::claimed);
  srv.pause(); // the connection stays open; nothing is answered
  REQUIRE(eventually([&] { return !s.available(); }));
  CHECK(s.unavailable_reason().find("no answer within 1000 ms") != std::string::npos);
  srv.resume();
  REQUIRE(eventually([&] { return s.available(); }));
  CHECK(raw.command({"GET", "topgg:health"}) == "1");                                   // what it wrote to find out
  CHECK(raw.command({"REPLICAOF", "127.0.0.1", std::to_string(other.port())}) == "OK"); // accepts, refuses writes
  REQUIRE(eventually([&] { return !s.available(); }));
  CHECK(s.unavailable_reason().find("READONLY") != std::string::npos);
  CHECK(raw.command({"REPLICAOF", "NO", "ONE"}) == "OK");
  CHECK(eventually([&] { return s.available(); }));
}
