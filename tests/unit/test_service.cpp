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

