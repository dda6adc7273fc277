// Router::deliver: votes from outside HTTP (catch-up) through the same
// pipeline as live deliveries — de-duplicated against them, acknowledged like
// them — and Router::newest_vote, the catch-up's high-water mark.
#include <thread>

#include "harness.hpp"

using namespace th;
namespace v1 = topgg::v1;
using topgg::Error;

namespace {

v1::VoteCreate vote(std::string user, v1::Timestamp created) {
  v1::VoteCreate v;
  v.weight = 1;
  v.created_at = created;
  v.expires_at = created + std::chrono::hours(12);
  v.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  v.user.id = std::move(user);
  v.user.platform_id = "160105994217586689";
  v.source = v1::Source::catch_up;
  return v;
}

const v1::Timestamp t1{std::chrono::seconds(1'770'598'034) + std::chrono::microseconds(251014)};
const std::string project = "803190510032756736";

/// A time after the test votes were cast (marks ignore votes dated ahead of the clock).
topgg::Now after_votes(int ms = 0) {
  topgg::Now n = at(ms);
  n.wall = std::chrono::system_clock::time_point(t1.time_since_epoch()) + std::chrono::hours(2) +
           std::chrono::milliseconds(ms);
  return n;
}

// The same vote as Top.gg's webhook sends it (created_at to a finer fraction: the same second).
std::string webhook(std::string_view user, std::int64_t signed_at = 1'700'000'000) {
  const std::string body = R"({"type":"vote.create","data":{"id":"w1","weight":1,)"
                           R"("created_at":"2026-02-09T00:47:14.2510149Z","expires_at":"2026-02-09T12:47:14Z",)"
                           R"("project":{"id":"803190510032756736","type":"bot","platform":"discord",)"
                           R"("platform_id":"264811613708746752"},"user":{"id":")" +
                           std::string(user) + R"(","platform_id":"1","name":"n","avatar_url":null}}})";
  return "POST /v1 HTTP/1.1\r\nHost: x\r\nx-topgg-signature: " + v1::sign("whs_s", signed_at, body) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct DeliverFixture {
  topgg::Router router;
  std::vector<v1::VoteCreate> seen;
  std::vector<Error> done;
  bool fail = false;

  DeliverFixture() {
    router.v1_webhook("/v1", "whs_s")
        .on_vote_create([this](const v1::VoteCreate& v) {
          if (fail)
            throw std::runtime_error("database down");
          seen.push_back(v);
        })
        .on_error([](const topgg::Rejection&) {})
        .on_warning([](std::string_view) {});
  }
  Error deliver(const v1::VoteCreate& v, topgg::Now now = after_votes()) {
    router.deliver(v, now, [this](Error e) { done.push_back(e); });
    REQUIRE(!done.empty());
    return done.back();
  }
};

} // namespace

TEST_CASE("Router::deliver: handled once, marked as caught up; the same vote again is a duplicate") {
  DeliverFixture f;
  CHECK(f.deliver(vote("u1", t1)) == Error::ok);
  REQUIRE(f.seen.size() == 1);
  CHECK(f.seen[0].source == v1::Source::catch_up);
  CHECK(f.deliver(vote("u1", t1 + std::chrono::milliseconds(300))) == Error::duplicate); // same second
  CHECK(f.deliver(vote("u1", t1 + std::chrono::seconds(1))) == Error::ok);               // another vote
  CHECK(f.deliver(vote("u2", t1)) == Error::ok);
  CHECK(f.seen.size() == 3);
}

TEST_CASE("Router::deliver and the webhook recognise each other's votes") {
  DeliverFixture f;
  // Webhook first, then the history returns the same vote.
  Trace t = drive(f.router, {webhook("u1")});
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(f.deliver(vote("u1", t1)) == Error::duplicate);
  // Caught up first, then Top.gg's late retry of the webhook.
  CHECK(f.deliver(vote("u2", t1)) == Error::ok);
  t = drive(f.router, {webhook("u2")});
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(f.seen.size() == 2);
  CHECK(f.seen[0].source == v1::Source::webhook);
}

TEST_CASE("Router::deliver: a failed handler is reported and the vote can be delivered again") {
  DeliverFixture f;
  f.fail = true;
  CHECK(f.deliver(vote("u1", t1)) == Error::handler_failed);
  CHECK_FALSE(f.router.newest_vote(project)); // nothing handled: no mark
  f.fail = false;
  CHECK(f.deliver(vote("u1", t1)) == Error::ok); // released, not remembered
  CHECK(f.router.newest_vote(project) == t1);
}

TEST_CASE("Router::deliver with an Ack completed on another thread answers there") {
  topgg::Router r;
  std::optional<topgg::Ack> held;
  r.v1_webhook("/v1", "whs_s").on_vote_create([&held](const v1::VoteCreate&, topgg::Ack a) { held = a; });
  std::optional<Error> result;
  std::thread::id answered_on;
  r.deliver(vote("u1", t1), after_votes(), [&](Error e) {
    result = e;
    answered_on = std::this_thread::get_id();
  });
  CHECK_FALSE(result);
  REQUIRE(held);
  std::thread::id worker;
  std::thread([&] {
    worker = std::this_thread::get_id();
    held->ok();
  }).join();
  CHECK(result == Error::ok);
  CHECK(answered_on == worker);
  CHECK(r.newest_vote(project) == t1);
}

TEST_CASE("a vote's key outlives Settings::dedup_ttl: a day, as long as the history returns it") {
  DeliverFixture f;
  topgg::Settings s;
  s.dedup_ttl = std::chrono::seconds(60);
  f.router.settings(s);
  CHECK(f.deliver(vote("u1", t1), after_votes(0)) == Error::ok);
  CHECK(f.deliver(vote("u1", t1), after_votes(2 * 3600 * 1000)) == Error::duplicate); // 2 h later: still known
  CHECK(f.deliver(vote("u1", t1), after_votes(26 * 3600 * 1000)) == Error::ok);       // 26 h later: forgotten
  // A legacy vote keeps the configured TTL.
  Fixture legacy;
  legacy.router.settings(s);
  auto sent = [&](int ms) {
    topgg::Connection c(legacy.router, at(ms));
    c.receive(post("/dbl", "secret-key", bot_body), at(ms));
    return std::count_if(legacy.events.begin(), legacy.events.end(), [](auto& e) { return e.starts_with("bot "); });
  };
  const auto first = sent(0);
  CHECK(sent(30'000) == first);     // 30 s: a retry, no event
  CHECK(sent(61'000) == first + 1); // 61 s: forgotten
}

TEST_CASE("newest_vote: the newest created_at handled, by webhook or catch-up") {
  DeliverFixture f;
  CHECK_FALSE(f.router.newest_vote(project));
  CHECK(f.deliver(vote("u1", t1 + std::chrono::hours(1))) == Error::ok);
  CHECK(f.deliver(vote("u2", t1)) == Error::ok); // older: the mark does not go back
  CHECK(f.router.newest_vote(project) == t1 + std::chrono::hours(1));
  drive(f.router, {webhook("u3")});
  CHECK(f.router.newest_vote(project) == t1 + std::chrono::hours(1));
}

TEST_CASE("newest_vote is kept per project, and a vote dated ahead of the clock never moves it") {
  // One future-dated vote on any route moved the one mark for all routes:
  // catch-up would then skip every later vote (issue 23, item 7).
  DeliverFixture f;
  CHECK(f.deliver(vote("u1", t1)) == Error::ok);
  REQUIRE(f.router.newest_vote(project) == t1);
  v1::VoteCreate other = vote("u2", t1 + std::chrono::minutes(30));
  other.project.id = "999";
  CHECK(f.deliver(other) == Error::ok); // another project's vote: its own mark
  CHECK(f.router.newest_vote(project) == t1);
  CHECK(f.router.newest_vote("999") == t1 + std::chrono::minutes(30));
  // Dated in 2031: handled (it is a vote), but no mark moves.
  const v1::Timestamp future = t1 + std::chrono::hours(24 * 365 * 5);
  CHECK(f.deliver(vote("u3", future)) == Error::ok);
  CHECK(f.router.newest_vote(project) == t1);
  // A little ahead (clocks differ by seconds): still counted.
  CHECK(f.deliver(vote("u4", t1 + std::chrono::hours(2) + std::chrono::minutes(4))) == Error::ok);
  CHECK(f.router.newest_vote(project) == t1 + std::chrono::hours(2) + std::chrono::minutes(4));
}

TEST_CASE("Router::deliver goes through a named v1 route: its key, its event route; no such route: not_found") {
  topgg::Router r;
  std::vector<v1::VoteCreate> seen;
  r.v1_webhook("/a", "whs_a").v1_webhook("/b", "whs_b").on_vote_create([&](const v1::VoteCreate& v) {
    seen.push_back(v);
  });
  r.on_error([](const topgg::Rejection&) {}).on_warning([](std::string_view) {});
  std::vector<Error> done;
  auto record = [&](Error e) { done.push_back(e); };
  CHECK(r.only_v1_route().empty()); // two: ambiguous
  r.deliver(vote("u1", t1), after_votes(), record);
  r.deliver("/a", vote("u1", t1), after_votes(), record);
  r.deliver("/a", vote("u1", t1), after_votes(), record); // the same route: a duplicate
  r.deliver("/b", vote("u1", t1), after_votes(), record); // another route: its own key
  r.deliver("/nope", vote("u1", t1), after_votes(), record);
  CHECK(done == std::vector<Error>{Error::not_found, Error::ok, Error::duplicate, Error::ok, Error::not_found});
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].route == "/a");
  CHECK(seen[1].route == "/b");
}
