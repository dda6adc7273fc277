// What running as a service asks of the core: a graceful close that answers
// a request still on its way (Connection: close), keys replaced while
// serving, and the headers that name a client behind a proxy given to the
// error hook.
#include <doctest/doctest.h>

#include <stdexcept>

#include "harness.hpp"

using th::at;
using th::bot_body;
using th::post;
using th::status_line;
using topgg::Connection;

namespace {

bool says_close(std::string_view out) { return out.find("\r\nConnection: close\r\n") != std::string_view::npos; }

std::string v1_vote(std::string_view secret, std::int64_t t) {
  const std::string body =
      R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2025-01-01T00:00:00Z","expires_at":"2025-01-01T12:00:00Z",)"
      R"("project":{"id":"p1","type":"bot","platform":"discord","platform_id":"264811613708746752"},)"
      R"("user":{"id":"u1","platform_id":"160105994217586689","name":"n","avatar_url":""}}})";
  return post("/topgg", "", body, "x-topgg-signature: " + topgg::v1::sign(secret, t, body) + "\r\n");
}

} // namespace

TEST_CASE("shutdown: a connection that has sent nothing yet still gets its first request answered, then closes") {
  th::Fixture f;
  Connection c(f.router, at(0));
  c.shutdown(at(1));
  CHECK(c.want_read()); // its request may be on its way: closing would reset the client
  CHECK_FALSE(c.done());
  c.receive(post("/dbl", "secret-key", bot_body), at(2));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  CHECK(says_close(c.output()));
  CHECK_FALSE(c.want_read());
  c.consume(c.output().size());
  CHECK(c.done());
  // A silent one goes at its header timeout, as it would have anyway.
  Connection silent(f.router, at(0));
  silent.shutdown(at(1));
  REQUIRE(silent.deadline());
  silent.on_timer(at(10'000));
  CHECK(silent.done());
  CHECK(silent.output().empty());
}

TEST_CASE("shutdown: a request partly received is read to its end and answered with Connection: close") {
  th::Fixture f;
  Connection c(f.router, at(0));
  const std::string vote = post("/dbl", "secret-key", bot_body);
  const std::string second = post("/dbl", "secret-key", bot_body);
  c.receive(vote, at(1)); // one answered: the connection is kept alive
  CHECK_FALSE(says_close(c.output()));
  c.consume(c.output().size());
  c.receive(std::string_view(second).substr(0, 40), at(2));
  c.shutdown(at(3));
  CHECK(c.want_read());
  c.receive(std::string_view(second).substr(40), at(4));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  CHECK(says_close(c.output()));
  c.consume(c.output().size());
  CHECK(c.done());
}

TEST_CASE("shutdown: between two requests nothing more is read; an answer still waiting says Connection: close") {
  topgg::Router r;
  topgg::Ack pending;
  topgg::Settings s;
  s.dedup_ttl = std::chrono::seconds(0); // the same vote twice: both reach the handler
  r.settings(s).dbl_webhook("/dbl", "k").on_bot_vote([&pending](const topgg::BotVote&, topgg::Ack a) { pending = a; });
  Connection idle(r, at(0));
  idle.receive(post("/dbl", "k", bot_body), at(1));
  pending.ok();
  idle.resume(at(1));
  idle.consume(idle.output().size());
  idle.shutdown(at(2)); // idle keep-alive: closed at once
  CHECK_FALSE(idle.want_read());
  CHECK(idle.done());

  Connection waiting(r, at(0));
  waiting.receive(post("/dbl", "k", bot_body), at(1));
  waiting.shutdown(at(2));
  CHECK_FALSE(waiting.want_read());
  pending.ok();
  waiting.resume(at(3));
  CHECK(status_line(waiting.output()) == "HTTP/1.1 200 OK");
  CHECK(says_close(waiting.output()));
}

TEST_CASE("replace_auth_key: the new key is accepted and the old refused on the same connection") {
  th::Fixture f;
  Connection c(f.router, at(0));
  c.receive(post("/dbl", "secret-key", bot_body), at(1));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  c.consume(c.output().size());
  f.router.replace_auth_key("/dbl", "rotated-key");
  c.receive(post("/dbl", "secret-key", bot_body), at(2));
  CHECK(status_line(c.output()) == "HTTP/1.1 401 Unauthorized");
  c.consume(c.output().size());
  Connection next(f.router, at(0));
  f.router.settings(f.router.settings()); // configuring still works (not frozen)
  f.router.idempotency_store(std::make_shared<topgg::MemoryStore>());
  next.receive(post("/dbl", "rotated-key", bot_body), at(3));
  CHECK(status_line(next.output()) == "HTTP/1.1 200 OK");
  CHECK(th::status_line(th::drive(f.router, {post("/dsl", "other-key", th::server_body)}).output) ==
        "HTTP/1.1 200 OK"); // the other route keeps its own key
}

TEST_CASE("replace_auth_key and replace_v1_secrets refuse what would lose votes, and change nothing then") {
  th::Fixture f;
  f.router.v1_webhook("/topgg", "whs_old");
  CHECK_THROWS_AS(f.router.replace_auth_key("/nope", "k"), std::invalid_argument);
  CHECK_THROWS_AS(f.router.replace_auth_key("/health", "k"), std::invalid_argument); // a custom route has no key
  CHECK_THROWS_AS(f.router.replace_auth_key("/topgg", "k"), std::invalid_argument);  // v1 routes have secrets
  CHECK_THROWS_AS(f.router.replace_auth_key("/dbl", ""), std::invalid_argument);     // would accept anything
  CHECK_THROWS_AS(f.router.replace_v1_secrets("/dbl", {"whs_x"}), std::invalid_argument);
  CHECK_THROWS_AS(f.router.replace_v1_secrets("/topgg", {"", ""}), std::invalid_argument);
  CHECK(status_line(th::drive(f.router, {post("/dbl", "secret-key", bot_body)}).output) == "HTTP/1.1 200 OK");
}

TEST_CASE("replace_v1_secrets: deliveries signed with the new secret are accepted, with the old refused") {
  topgg::Router r;
  int votes = 0;
  r.v1_webhook("/topgg", "whs_old").on_vote_create([&votes](const topgg::v1::VoteCreate&) { ++votes; });
  r.settings([] {
    topgg::Settings s;
    s.dedup_ttl = std::chrono::seconds(0); // the same vote, again and again
    return s;
  }());
  const std::int64_t t = std::chrono::duration_cast<std::chrono::seconds>(at(0).wall.time_since_epoch()).count();
  CHECK(status_line(th::drive(r, {v1_vote("whs_old", t)}).output) == "HTTP/1.1 204 No Content");
  r.replace_v1_secrets("/topgg", {"whs_new"});
  CHECK(status_line(th::drive(r, {v1_vote("whs_new", t)}).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(th::drive(r, {v1_vote("whs_old", t)}).output) == "HTTP/1.1 403 Forbidden");
  r.replace_v1_secrets("/topgg", {"whs_new", "whs_old"}); // rotation: both for a while
  CHECK(status_line(th::drive(r, {v1_vote("whs_old", t)}).output) == "HTTP/1.1 204 No Content");
  CHECK(votes == 3);
}

TEST_CASE("the error hook is given X-Forwarded-For, Forwarded and the trace, when each came once") {
  topgg::Router r;
  std::vector<std::string> seen;
  r.dbl_webhook("/dbl", "k").on_error([&seen](const topgg::Rejection& e) {
    seen.push_back(std::string(e.forwarded_for) + "|" + std::string(e.forwarded) + "|" + std::string(e.trace));
  });
  th::drive(r, {post("/dbl", "wrong", bot_body,
                     "X-Forwarded-For: 198.51.100.7, 10.0.0.1\r\nForwarded: for=192.0.2.60;proto=https\r\n"
                     "x-topgg-trace: abc\r\n")});
  th::drive(r, {post("/dbl", "wrong", bot_body, "X-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n")});
  // Router::handle gives the same.
  std::vector<topgg::Header> h{{"Host", "x"}, {"Authorization", "wrong"}, {"x-forwarded-for", "203.0.113.9"}};
  topgg::Request req;
  req.method = "POST";
  req.target = "/dbl";
  req.headers = h;
  req.body = bot_body;
  r.handle(req, at(0), [](topgg::Response) {});
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "198.51.100.7, 10.0.0.1|for=192.0.2.60;proto=https|abc");
  CHECK(seen[1] == "||"); // repeated: which one a proxy wrote cannot be told
  CHECK(seen[2] == "203.0.113.9||");
}

TEST_CASE("a duplicate told later (a store that answers from its thread) still names the forwarded client") {
  // Pending's copy: the request's buffers are gone when the claim is answered.
  struct Later : topgg::IdempotencyStore {
    std::optional<topgg::ClaimTicket> ticket;
    std::optional<topgg::ClaimResult> claim(std::string_view, topgg::Now, std::chrono::milliseconds,
                                            topgg::ClaimDeferral& later) override {
      ticket = later.defer();
      return std::nullopt;
    }
    void confirm(std::string_view, topgg::Now, std::chrono::milliseconds) override {}
    void release(std::string_view, topgg::Now) override {}
  };
  auto store = std::make_shared<Later>();
  topgg::Router r;
  std::vector<std::string> seen;
  r.dbl_webhook("/dbl", "k")
      .idempotency_store(store)
      .on_bot_vote([](const topgg::BotVote&) {})
      .on_duplicate([&seen](const topgg::Rejection& e) {
        seen.push_back(std::string(e.forwarded_for) + "|" + std::string(e.trace));
      });
  Connection c(r, at(0));
  c.receive(post("/dbl", "k", bot_body, "X-Forwarded-For: 198.51.100.7\r\nx-topgg-trace: t-1\r\n"), at(1));
  REQUIRE(store->ticket);
  store->ticket->complete(topgg::ClaimResult::done); // a retry of a delivery already handled
  c.resume(at(2));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "198.51.100.7|t-1");
}
