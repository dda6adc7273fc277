// RedisPostQueue (topgg/redis_post_queue.hpp) against a real redis-server: order, seq across a
// reopen, capacity, pop of one message, the keys under the prefix, two replicas on one Redis (the
// lease: one is handed messages at a time; the other takes over once the first is gone or its lease
// ran out), and Redis stopped then back. The tool's replicas are in tests/discord (test_discord.py).
#include <doctest/doctest.h>

#include "redis_server.hpp"
#include "topgg/redis_post_queue.hpp"

using namespace std::chrono_literals;
using topgg::RedisPostQueue;
using ts::patient;
using ts::RedisServer;

namespace {

/// front() until it hands a message (another replica's lease must run out first); nullopt after 60 s.
std::optional<topgg::QueuedPost> front_eventually(RedisPostQueue& q) {
  const auto until = ts::Steady::now() + 60s;
  while (ts::Steady::now() < until) {
    if (auto p = q.front())
      return p;
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

} // namespace

TEST_CASE("Redis post queue: oldest first, capacity, pop removes that message only, keys under the prefix") {
  RedisServer redis;
  topgg::RedisOptions o = patient(redis.port());
  o.key_prefix = "bot7:";
  RedisPostQueue q(o, 3);
  CHECK(q.size() == 0);
  CHECK_FALSE(q.front());
  CHECK(q.push("{\"content\":\"one\"}"));
  CHECK(q.push("two: with a colon"));
  CHECK(q.push("three"));
  CHECK_FALSE(q.push("four")); // full
  CHECK(q.size() == 3);

  auto first = q.front();
  REQUIRE(first);
  CHECK(first->body == "{\"content\":\"one\"}");
  CHECK(q.front()->seq == first->seq); // not removed by looking

  // The middle one goes; the head stays the head, and there is room again.
  q.pop(first->seq + 1);
  CHECK(q.size() == 2);
  CHECK(q.front()->body == "{\"content\":\"one\"}");
  q.pop(first->seq + 100); // not queued: nothing
  CHECK(q.size() == 2);
  CHECK(q.push("five"));

  std::vector<std::string> bodies;
  std::uint64_t last = 0;
  while (auto p = q.front()) {
    CHECK(p->seq > last);
    last = p->seq;
    bodies.push_back(p->body);
    q.pop(p->seq);
  }
  CHECK(bodies == std::vector<std::string>{"{\"content\":\"one\"}", "three", "five"});
  CHECK(q.size() == 0);

  RedisServer::Client c(redis.port());
  CHECK(c.command({"GET", "bot7:discord-seq"}) == "4");
  CHECK(c.command({"EXISTS", "bot7:discord-lease"}) == "1");
  CHECK(c.command({"EXISTS", "topgg:discord-seq"}) == "0");
}

TEST_CASE("Redis post queue: what waits and the seq survive a reopen; seq never goes back") {
  RedisServer redis;
  std::uint64_t before = 0;
  {
    RedisPostQueue q(patient(redis.port()), 100);
    CHECK(q.push("a"));
    CHECK(q.push("b"));
    auto p = q.front();
    REQUIRE(p);
    q.pop(p->seq);
    auto b = q.front();
    REQUIRE(b);
    before = b->seq;
    q.pop(b->seq); // empty now: the seq must still not start again
    CHECK(q.push("c"));
  }
  RedisPostQueue q(patient(redis.port()), 100);
  CHECK(q.size() == 1);
  auto c = q.front(); // the first queue released its lease when it went
  REQUIRE(c);
  CHECK(c->body == "c");
  CHECK(c->seq > before);
  CHECK(q.push("d"));
  q.pop(c->seq);
  auto d = q.front();
  REQUIRE(d);
  CHECK(d->body == "d");
  CHECK(d->seq > c->seq);
}

TEST_CASE("Redis post queue: two replicas share one queue; one is handed messages at a time, the other takes over") {
  RedisServer redis;
  SUBCASE("the holder goes away") {
    auto first = std::make_unique<RedisPostQueue>(patient(redis.port()), 100);
    RedisPostQueue second(patient(redis.port()), 100);
    CHECK(first->push("1 from first"));
    CHECK(second.push("2 from second"));
    CHECK(first->push("3 from first"));
    CHECK(second.size() == 3);

    auto p = first->front(); // takes the lease
    REQUIRE(p);
    CHECK(p->body == "1 from first");
    CHECK_FALSE(second.front()); // the first holds it
    first->pop(p->seq);
    auto q = first->front(); // the holder is handed the other replica's push, in order
    REQUIRE(q);
    CHECK(q->body == "2 from second");
    CHECK_FALSE(second.front());

    first.reset(); // releases the lease: the second goes on where the first stopped
    auto r = second.front();
    REQUIRE(r);
    CHECK(r->body == "2 from second");
    second.pop(r->seq);
    CHECK(second.front()->body == "3 from first");
  }
  SUBCASE("the holder stops asking: its lease runs out") {
    RedisPostQueue first(patient(redis.port()), 100, 300ms);
    // Only the first needs a short lease: the second's must outlast the checks below on a busy machine.
    RedisPostQueue second(patient(redis.port()), 100, 60s);
    CHECK(first.push("a"));
    CHECK(first.push("b"));
    auto a = first.front();
    REQUIRE(a);
    CHECK(a->body == "a");
    first.pop(a->seq);
    // The first is stuck (a long request, a dead process): after 300 ms the second is handed "b".
    auto b = front_eventually(second);
    REQUIRE(b);
    CHECK(b->body == "b");
    CHECK_FALSE(first.front()); // the second holds the lease now (renewed by its front())
    second.pop(b->seq);
    CHECK(second.size() == 0);
  }
}

TEST_CASE("Redis post queue: Redis stopped, every call throws; back, the queue works again with what it held") {
  RedisServer redis;
  RedisPostQueue q(patient(redis.port()), 100);
  CHECK(q.push("kept"));
  REQUIRE(q.front());
  {
    RedisServer::Client c(redis.port());
    REQUIRE(c.command({"SAVE"}) == "OK"); // the queue outlives this restart of the server (its dump)
  }
  redis.stop();
  CHECK_THROWS_AS(q.push("lost"), std::runtime_error);
  CHECK_THROWS_AS(q.front(), std::runtime_error);
  CHECK_THROWS_AS(q.pop(1), std::runtime_error);
  CHECK_THROWS_AS(q.size(), std::runtime_error);
  redis.start();
  CHECK(q.size() == 1);
  auto p = q.front();
  REQUIRE(p);
  CHECK(p->body == "kept");
  CHECK(q.push("after"));
  q.pop(p->seq);
  CHECK(q.front()->body == "after");
}
