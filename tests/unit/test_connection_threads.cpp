// The connection driven from other threads: Acks completed on another
// thread, handlers run by an executor. A file of its own so that tests/run's
// ThreadSanitizer stage runs these (its `unit` shard leaves out
// test_connection.cpp, whose byte-by-byte replays run on one thread).
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace th;
using topgg::Connection;

TEST_CASE("asynchronous acknowledgement: later, retry, twice, never, after the connection is gone") {
  topgg::Router r;
  std::vector<topgg::Ack> acks;
  int wakes = 0;
  topgg::Settings s;
  s.ack_timeout = std::chrono::milliseconds(500);
  s.max_pipelined = 2;
  s.dedup_ttl = std::chrono::seconds(0); // the same vote, sent again and again: each one counts here
  r.dbl_webhook("/dbl", "k").settings(s).on_bot_vote([&acks](const topgg::BotVote&, topgg::Ack a) {
    acks.push_back(std::move(a));
  });
  auto req = post("/dbl", "k", bot_body);

  SUBCASE("ok later, from another thread; second completion ignored") {
    Connection c(r, at(0));
    c.set_waker([&wakes] { ++wakes; });
    c.receive(req, at(1));
    CHECK(c.output().empty());
    REQUIRE(acks.size() == 1);
    std::thread([a = acks[0]] { CHECK(a.ok()); }).join();
    CHECK(wakes == 1);
    CHECK_FALSE(acks[0].retry());
    c.resume(at(2));
    CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
    CHECK(count_responses(c.output()) == 1);
  }
  SUBCASE("retry is 503") {
    Connection c(r, at(0));
    c.receive(req, at(1));
    acks.at(0).retry("queue full");
    c.resume(at(2));
    CHECK(status_line(c.output()) == "HTTP/1.1 503 Service Unavailable");
    CHECK(c.output().find("queue full") == std::string_view::npos); // the reason is the error hook's, not the peer's
  }
  SUBCASE("never completed: 503 at the deadline, later completion ignored") {
    Connection c(r, at(0));
    c.receive(req, at(1));
    CHECK(*c.deadline() == at(501).mono);
    c.on_timer(at(501));
    CHECK(status_line(c.output()) == "HTTP/1.1 503 Service Unavailable");
    CHECK(acks.at(0).done());
    CHECK_FALSE(acks.at(0).ok());
  }
  SUBCASE("pipelined requests wait behind a pending ack, in order; reading stops at max_pipelined") {
    Connection c(r, at(0));
    c.receive(req + req + req, at(1));
    CHECK(acks.size() == 2);
    CHECK_FALSE(c.want_read());
    CHECK(c.output().empty());
    acks[1].ok();
    c.resume(at(2));
    CHECK(c.output().empty()); // first still pending: nothing may overtake it
    acks[0].ok();
    c.resume(at(3));
    CHECK(count_responses(c.output()) == 2);
    REQUIRE(acks.size() == 3); // held third request parsed once room was made
    acks[2].retry();
    c.resume(at(4));
    CHECK(count_responses(c.output()) == 3);
    CHECK(status_line(c.output(), 2) == "HTTP/1.1 503 Service Unavailable");
    CHECK(c.want_read());
  }
  SUBCASE("completed after the connection is destroyed: nothing happens") {
    {
      Connection c(r, at(0));
      c.set_waker([&wakes] { ++wakes; });
      c.receive(req, at(1));
    }
    CHECK_FALSE(acks.at(0).ok()); // expired with the connection
    CHECK(wakes == 0);
  }
}

TEST_CASE("executor: votes run on another thread, answered when the handler returns") {
  topgg::Router r;
  std::vector<std::function<void()>> jobs;
  std::thread::id ran_on;
  r.dbl_webhook("/dbl", "k")
      .executor([&jobs](std::function<void()> job) { jobs.push_back(std::move(job)); })
      .on_bot_vote([&ran_on](const topgg::BotVote& v) {
        ran_on = std::this_thread::get_id();
        if (v.user.value() == 7)
          throw std::runtime_error("bad user");
      });
  Connection c(r, at(0));
  c.receive(post("/dbl", "k", bot_body) + post("/dbl", "k", R"({"bot":"1","user":"7","type":"upvote"})"), at(1));
  CHECK(c.output().empty());
  REQUIRE(jobs.size() == 2);
  std::thread([&jobs] {
    for (auto& j : jobs)
      j();
  }).join();
  CHECK(ran_on != std::this_thread::get_id());
  c.resume(at(2));
  CHECK(status_line(c.output(), 0) == "HTTP/1.1 200 OK");
  CHECK(status_line(c.output(), 1) == "HTTP/1.1 500 Internal Server Error");
}
