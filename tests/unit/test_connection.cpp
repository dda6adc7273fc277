// Byte-in/byte-out tests of Connection: every request is replayed whole, one
// byte at a time and split at every offset (replay_all), and must give the
// same output and events each way.
#include "harness.hpp"

using namespace th;
using topgg::Connection;

namespace topgg::detail {
std::size_t idle_request_states(Workspace& w) noexcept;
}

namespace {
std::string header_of(std::string_view out, std::string_view name) {
  const std::string key = "\r\n" + std::string(name) + ": ";
  const auto pos = out.find(key);
  if (pos == std::string_view::npos)
    return "";
  const auto start = pos + key.size();
  return std::string(out.substr(start, out.find("\r\n", start) - start));
}
} // namespace

TEST_CASE("bot vote with the right key is delivered and answered 200") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0] == "bot 264811613708746752 user 160105994217586689 upvote [ref=home]");
  CHECK_FALSE(t.finished);
  CHECK(t.output.find("Connection: close") == std::string::npos);
}

TEST_CASE("server vote with a query object is delivered") {
  Fixture f;
  Trace t = replay_all(f, post("/dsl", "other-key", server_body));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  REQUIRE(t.events.size() == 1);
  CHECK(t.events[0] == "guild 5678 user 160105994217586689 test [a=1]");
}

TEST_CASE("Authorization: wrong, missing, repeated, prefix, longer and other route's key are 401") {
  Fixture f;
  const std::string cases[] = {
      post("/dbl", "secret-kez", bot_body),
      post("/dbl", "", bot_body),
      post("/dbl", "secret-ke", bot_body),
      post("/dbl", "secret-key2", bot_body),
      post("/dbl", "Bearer secret-key", bot_body),
      post("/dbl", "other-key", bot_body),
      post("/dbl", "secret-key", bot_body, "Authorization: secret-key\r\n"),
      post("/dsl", "secret-key", server_body),
  };
  for (const std::string& req : cases) {
    CAPTURE(req);
    Trace t = replay_all(f, req);
    CHECK(status_line(t.output) == "HTTP/1.1 401 Unauthorized");
    REQUIRE(t.events.size() == 1);
    CHECK(t.events[0] == "rejected 401 Authorization header missing or wrong");
    CHECK_FALSE(t.finished); // body discarded, connection kept
  }
}

TEST_CASE("a refused request's body is skipped and the next request on the connection is served") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "nope", bot_body) + post("/dbl", "secret-key", bot_body));
  CHECK(count_responses(t.output) == 2);
  CHECK(status_line(t.output, 0) == "HTTP/1.1 401 Unauthorized");
  CHECK(status_line(t.output, 1) == "HTTP/1.1 200 OK");
  REQUIRE(t.events.size() == 2);
  CHECK(t.events[1].starts_with("bot 264811613708746752"));
}

TEST_CASE("Authorization value is compared after trimming optional whitespace") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", " secret-key\t", bot_body));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
}

TEST_CASE("unknown path is 404, wrong method is 405 with Allow, query string ignored for routing") {
  Fixture f;
  Trace t = replay_all(f, post("/nope", "secret-key", bot_body));
  CHECK(status_line(t.output) == "HTTP/1.1 404 Not Found");
  CHECK(t.events == std::vector<std::string>{"rejected 404 no route for this path"});

  t = replay_all(f, "GET /dbl HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(header_of(t.output, "Allow") == "POST");

  t = replay_all(f, post("/dbl?from=topgg#frag", "secret-key", bot_body));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(t.events.size() == 1);
}

TEST_CASE("invalid bodies are 400 with no event and a reason") {
  Fixture f;
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "rejected 400 body is not valid JSON"},
      {"", "rejected 400 body is not valid JSON"},
      {R"({"bot":"1","user":"2","type":"upvote"} x)", "rejected 400 body is not valid JSON"},
      {R"({"bot":"1","user":"2","type":"upvote","x":[1,,2]})", "rejected 400 body is not valid JSON"},
      {R"(["bot"])", "rejected 400 body is not a valid delivery"},
      {R"({"user":"2","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1","user":"2"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1a","user":"2","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"-1","user":"2","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"18446744073709551616","user":"2","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":1,"user":"2","type":"upvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1","user":"2","type":"downvote"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1","user":"2","type":"upvote","isWeekend":"yes"})", "rejected 400 body is not a valid delivery"},
      {R"({"bot":"1","user":"2","user":"3","type":"upvote"})", "rejected 400 body is not a valid delivery"},
  };
  for (const auto& [body, event] : cases) {
    CAPTURE(body);
    Trace t = replay_all(f, post("/dbl", "secret-key", body));
    CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
    CHECK(t.events == std::vector<std::string>{event});
    CHECK_FALSE(t.finished);
  }
}

TEST_CASE("400 body says why") {
  Fixture f;
  Trace t = f.whole(post("/dbl", "secret-key", R"({"bot":"1","type":"upvote"})"));
  CHECK(t.output.ends_with("missing field user"));
}

TEST_CASE("unknown fields are ignored, absent isWeekend is false, query never fails the vote") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key",
                               R"({"bot":"1","user":"2","type":"test","extra":{"deep":[1,2,{"a":null}]},"query":5})"));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(t.events == std::vector<std::string>{"bot 1 user 2 test"});
  t = replay_all(f, post("/dbl", "secret-key", R"({"bot":"1","user":"2","type":"upvote","isWeekend":true,"query":"%zz&a"})"));
  CHECK(t.events == std::vector<std::string>{"bot 1 user 2 upvote weekend [%zz=] [a=]"});
}

TEST_CASE("pipelined requests are answered in order, events in order") {
  Fixture f;
  const std::string in = post("/dbl", "secret-key", bot_body) + post("/dsl", "other-key", server_body) +
                         "GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n" + post("/dbl", "secret-key", "{}");
  Trace t = replay_all(f, in);
  REQUIRE(count_responses(t.output) == 4);
  CHECK(status_line(t.output, 0) == "HTTP/1.1 200 OK");
  CHECK(status_line(t.output, 1) == "HTTP/1.1 200 OK");
  CHECK(status_line(t.output, 2) == "HTTP/1.1 200 OK");
  CHECK(status_line(t.output, 3) == "HTTP/1.1 400 Bad Request");
  CHECK(t.output.find("up /health?x=1") != std::string::npos);
  REQUIRE(t.events.size() == 3);
  CHECK(t.events[0].starts_with("bot "));
  CHECK(t.events[1].starts_with("guild "));
  CHECK(t.events[2].starts_with("rejected 400"));
}

TEST_CASE("Connection: close and HTTP/1.0") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body, "Connection: close\r\n"));
  CHECK(header_of(t.output, "Connection") == "close");
  CHECK(t.finished);

  std::string req10 = "POST /dbl HTTP/1.0\r\nAuthorization: secret-key\r\nContent-Length: " +
                      std::to_string(bot_body.size()) + "\r\n\r\n" + bot_body;
  t = replay_all(f, req10);
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(header_of(t.output, "Connection") == "close");
  CHECK(t.finished);

  std::string req10ka = "POST /dbl HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: secret-key\r\nContent-Length: " +
                        std::to_string(bot_body.size()) + "\r\n\r\n" + bot_body;
  t = replay_all(f, req10ka + req10ka);
  CHECK(count_responses(t.output) == 2);
  CHECK(header_of(t.output, "Connection") == "keep-alive");
  CHECK_FALSE(t.finished);
}

TEST_CASE("bytes after Connection: close are not processed") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body, "Connection: close\r\n") +
                              post("/dbl", "secret-key", bot_body));
  CHECK(count_responses(t.output) == 1);
  CHECK(t.events.size() == 1);
}

TEST_CASE("chunked body") {
  Fixture f;
  std::string in = "POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: secret-key\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string& b = bot_body;
  auto hex = [](std::size_t n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%zx", n);
    return std::string(buf);
  };
  in += hex(10) + "\r\n" + b.substr(0, 10) + "\r\n" + hex(b.size() - 10) + "\r\n" + b.substr(10) + "\r\n0\r\n\r\n";
  Trace t = replay_all(f, in);
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(t.events.size() == 1);
}

TEST_CASE("Expect: 100-continue") {
  Fixture f;
  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body, "Expect: 100-continue\r\n"));
  CHECK(t.output.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"));
  CHECK(t.events.size() == 1);

  // Refused before the body: no 100, final answer, connection closed.
  t = replay_all(f, post("/dbl", "bad", bot_body, "Expect: 100-continue\r\n"));
  CHECK(t.output.starts_with("HTTP/1.1 401 Unauthorized"));
  CHECK(t.finished);

  t = replay_all(f, post("/dbl", "secret-key", bot_body, "Expect: something-else\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 417 Expectation Failed");
  CHECK(t.finished);
}

TEST_CASE("Host: missing or repeated in HTTP/1.1 is 400 and closes") {
  Fixture f;
  Trace t = replay_all(f, "POST /dbl HTTP/1.1\r\nAuthorization: secret-key\r\nContent-Length: 2\r\n\r\n{}");
  CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
  CHECK(t.finished);
  t = replay_all(f, post("/dbl", "secret-key", bot_body, "Host: other\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
  CHECK(t.finished);
  CHECK(t.events == std::vector<std::string>{"rejected 400 HTTP/1.1 request needs exactly one Host header"});
}

TEST_CASE("unparseable HTTP is 400, connection closed, nothing after it processed") {
  Fixture f;
  const std::string bad[] = {
      "POST /dbl HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /dbl HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      "POST /dbl HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}",
      "POST /dbl HTTP/1.1\r\nHost : x\r\n\r\n",
      "POST /dbl HTTP/1.1\nHost: x\n\n",
      "GARBAGE\r\n\r\n",
      "POST /dbl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (const std::string& req : bad) {
    CAPTURE(req);
    Trace t = replay_all(f, req + post("/dbl", "secret-key", bot_body));
    CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
    CHECK(count_responses(t.output) == 1);
    CHECK(header_of(t.output, "Connection") == "close");
    CHECK(t.finished);
    REQUIRE(t.events.size() == 1);
    CHECK(t.events[0].starts_with("rejected 400"));
  }
}

TEST_CASE("HTTP/2 preface is refused and closed") {
  Fixture f;
  Trace t = f.whole("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  CHECK(t.output.starts_with("HTTP/1.1 "));
  CHECK(t.finished);
}

TEST_CASE("limits: header bytes, header count, body bytes (length and chunked), requests per connection") {
  topgg::Settings s;
  s.max_header_bytes = 300;
  s.max_header_count = 5;
  s.max_body_bytes = 150;
  s.max_requests_per_connection = 2;
  Fixture f;
  f.router.settings(s);

  Trace t = replay_all(f, post("/dbl", "secret-key", bot_body, "X-Pad: " + std::string(300, 'a') + "\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(t.finished);

  t = replay_all(f, post("/dbl", "secret-key", bot_body, "A: 1\r\nB: 1\r\nC: 1\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(t.finished);

  t = replay_all(f, post("/dbl", "secret-key", std::string(151, ' ')));
  CHECK(status_line(t.output) == "HTTP/1.1 413 Content Too Large");
  CHECK(t.finished);
  CHECK(t.events == std::vector<std::string>{"rejected 413 request body over the limit"});

  // A refused request's discarded body counts against the limit too.
  t = replay_all(f, "POST /dbl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n97\r\n" + std::string(151, ' ') +
                        "\r\n0\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 413 Content Too Large");
  CHECK(t.finished);

  t = replay_all(f, post("/dbl", "secret-key", bot_body) + post("/dbl", "secret-key", bot_body) +
                        post("/dbl", "secret-key", bot_body));
  CHECK(count_responses(t.output) == 2);
  CHECK(t.output.find("Connection: close") > t.output.find("HTTP/1.1 200", 10));
  CHECK(t.finished);
}

TEST_CASE("a handler that throws gives 500 and the connection carries on") {
  Fixture f;
  int calls = 0;
  f.router.on_bot_vote([&calls](const topgg::BotVote&) {
    if (++calls == 1)
      throw std::runtime_error("database down");
  });
  Trace t = f.whole(post("/dbl", "secret-key", bot_body) + post("/dbl", "secret-key", bot_body));
  CHECK(status_line(t.output, 0) == "HTTP/1.1 500 Internal Server Error");
  CHECK(status_line(t.output, 1) == "HTTP/1.1 200 OK");
  CHECK(t.events == std::vector<std::string>{"rejected 500 handler failed"});
  // The handler's words go to the error hook only, never into the answer (they may hold a password).
  CHECK(t.output.find("database down") == std::string::npos);
}

TEST_CASE("custom routes: request fields, headers, any-method routes, a throwing handler") {
  Fixture f;
  std::string seen;
  f.router.route("", "/echo", [&seen](const topgg::Request& r) {
    seen = std::string(r.method) + " " + std::string(r.path) + " " + std::string(r.header("x-thing").value_or("-")) +
           " " + std::string(r.body);
    topgg::Response res;
    res.status = 201;
    res.headers.emplace_back("Content-Type", "application/json");
    res.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: x");
    res.body = R"({"ok":true})";
    return res;
  });
  f.router.route("GET", "/boom", [](const topgg::Request&) -> topgg::Response { throw std::logic_error("no"); });
  Trace t = replay_all(f, "PUT /echo?q HTTP/1.1\r\nHost: x\r\nX-Thing:  v \r\nContent-Length: 3\r\n\r\nabc");
  CHECK(seen == "PUT /echo v abc");
  CHECK(status_line(t.output) == "HTTP/1.1 201 Created");
  CHECK(header_of(t.output, "Content-Type") == "application/json");
  CHECK(t.output.find("Set-Cookie") == std::string::npos);
  CHECK(t.output.ends_with(R"({"ok":true})"));
  t = f.whole("GET /boom HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 500 Internal Server Error");
  // A status that is not a final one would be written as an invalid (or interim) status line.
  for (int status : {0, 101, 1000}) {
    CAPTURE(status);
    Fixture g;
    g.router.route("GET", "/odd", [status](const topgg::Request&) {
      topgg::Response res;
      res.status = status;
      return res;
    });
    t = g.whole("GET /odd HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(status_line(t.output) == "HTTP/1.1 500 Internal Server Error");
    CHECK(t.events == std::vector<std::string>{"rejected 500 handler failed"}); // the hook is told
  }
}

TEST_CASE("empty auth key accepts every request and warns once") {
  topgg::Router r;
  std::vector<std::string> warnings;
  int votes = 0;
  r.dbl_webhook().on_bot_vote([&votes](const topgg::BotVote&) { ++votes; }).on_warning([&](std::string_view w) {
    warnings.emplace_back(w);
  });
  for (int i = 0; i < 3; ++i) {
    Connection c(r, at(0));
    const std::string vote = R"({"bot":"1","user":")" + std::to_string(100 + i) + R"(","type":"upvote"})";
    c.receive(post("/dbl", i == 0 ? "" : "anything", vote), at(1));
    CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  }
  CHECK(votes == 3);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("/dbl has no auth key") != std::string::npos);
}

TEST_CASE("timeouts: header 408, body 408, idle quiet close, fresh quiet close") {
  Fixture f;
  topgg::Settings s;
  s.header_timeout = std::chrono::milliseconds(100);
  s.body_timeout = std::chrono::milliseconds(200);
  s.idle_timeout = std::chrono::milliseconds(300);
  f.router.settings(s);

  { // headers trickle in too slowly
    Connection c(f.router, at(0));
    c.receive("POST /dbl HTTP/1.1\r\nHo", at(10));
    REQUIRE(c.deadline());
    CHECK(*c.deadline() == at(110).mono);
    c.on_timer(at(109));
    CHECK(c.output().empty());
    c.receive("st: x\r\n", at(105)); // more bytes do not extend the header timeout
    c.on_timer(at(110));
    CHECK(status_line(c.output()) == "HTTP/1.1 408 Request Timeout");
    c.consume(c.output().size());
    CHECK(c.done());
  }
  { // body too slow
    Connection c(f.router, at(0));
    c.receive("POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: secret-key\r\nContent-Length: 10\r\n\r\n{", at(10));
    CHECK(*c.deadline() == at(210).mono);
    c.on_timer(at(210));
    CHECK(status_line(c.output()) == "HTTP/1.1 408 Request Timeout");
    c.consume(c.output().size());
    CHECK(c.done());
  }
  { // idle keep-alive connection closes quietly
    Connection c(f.router, at(0));
    c.receive(post("/dbl", "secret-key", bot_body), at(10));
    c.consume(c.output().size());
    CHECK(*c.deadline() == at(310).mono);
    c.on_timer(at(309));
    CHECK_FALSE(c.done());
    c.on_timer(at(310));
    CHECK(c.done()); // and nothing was written
  }
  { // connected and silent: quiet close at the header timeout
    Connection c(f.router, at(0));
    CHECK(*c.deadline() == at(100).mono);
    c.on_timer(at(100));
    CHECK(c.done()); // and nothing was written
  }
}

TEST_CASE("EOF: mid-request closes without answer; after a full request the answer is still given") {
  Fixture f;
  {
    Connection c(f.router, at(0));
    c.receive(post("/dbl", "secret-key", bot_body).substr(0, 40), at(1));
    c.receive_eof(at(2));
    CHECK(c.done()); // and nothing was written
  }
  {
    Connection c(f.router, at(0));
    c.receive(post("/dbl", "secret-key", bot_body), at(1));
    c.receive_eof(at(2));
    CHECK_FALSE(c.want_read()); // no more reading after EOF
    CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
    CHECK_FALSE(c.done()); // the answer is still to be written
    c.consume(c.output().size());
    CHECK(c.done());
  }
}

TEST_CASE("shutdown answers what was received, then finishes") {
  topgg::Router r;
  topgg::Ack pending;
  r.dbl_webhook("/dbl", "k").on_bot_vote([&pending](const topgg::BotVote&, topgg::Ack a) { pending = a; });
  Connection c(r, at(0));
  c.receive(post("/dbl", "k", bot_body), at(1));
  c.shutdown(at(2));
  CHECK_FALSE(c.want_read());
  CHECK_FALSE(c.done());
  pending.ok();
  c.resume(at(3));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  c.consume(c.output().size());
  CHECK(c.done());
}

TEST_CASE("back-pressure: output over the bound stops reading until consumed") {
  Fixture f;
  topgg::Settings s;
  s.max_output_bytes = 100;
  f.router.settings(s);
  Connection c(f.router, at(0));
  const std::string one = post("/dbl", "secret-key", bot_body);
  c.receive(one + one + one, at(1));
  CHECK_FALSE(c.want_read());
  const std::size_t first = c.output().size();
  CHECK(first >= 100);
  c.consume(c.output().size());
  c.resume(at(2));
  CHECK(count_responses(c.output()) >= 1);
  c.consume(c.output().size());
  c.resume(at(3));
  c.consume(c.output().size());
  c.resume(at(4));
  CHECK(c.want_read());
  CHECK(c.requests_seen() == 3);
}

TEST_CASE("a last answer is given up only when the peer stops reading it, not while it reads slowly") {
  topgg::Router r;
  topgg::Settings s;
  s.body_timeout = std::chrono::milliseconds(200);
  r.settings(s).route("GET", "/big", [](const topgg::Request&) {
    topgg::Response res;
    res.body.assign(100'000, 'x');
    return res;
  });
  Connection c(r, at(0));
  // The answer is produced late (handler slower than body_timeout) on a closing connection.
  c.receive("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", at(1000));
  REQUIRE_FALSE(c.want_read()); // closing: only the answer is left to write
  REQUIRE_FALSE(c.done());
  c.consume(10'000); // the peer reads a little
  c.on_timer(at(1300));
  CHECK_FALSE(c.output().empty());
  c.consume(10'000);
  c.on_timer(at(1600)); // progress since the last look: another period
  CHECK_FALSE(c.output().empty());
  c.on_timer(at(1850)); // no progress for a whole period: given up
  CHECK(c.output().empty());
}

TEST_CASE("framing edge cases found by the smuggling suite") {
  Fixture f;
  const std::string vote = post("/dbl", "secret-key", bot_body);
  // An empty line (CRLF) before a request line is allowed; a bare CR or LF is not.
  Trace t = replay_all(f, "\r\n" + vote + "\r\n" + vote);
  CHECK(count_responses(t.output) == 2);
  CHECK(t.events.size() == 2);
  for (const std::string prefix : {"\r", "\n", "\n\r", "\r\r\n"}) {
    CAPTURE(prefix);
    t = replay_all(f, prefix + vote);
    CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
    CHECK(t.finished);
    CHECK(t.events == std::vector<std::string>{"rejected 400 malformed HTTP request"});
  }
  // Chunked framing on HTTP/1.0 is refused (an HTTP/1.0 hop would not see it).
  t = replay_all(f, "POST /dbl HTTP/1.0\r\nAuthorization: secret-key\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
  CHECK(t.finished);
  // CONNECT opens no tunnel.
  t = replay_all(f, "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n" + vote);
  CHECK(status_line(t.output) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(t.finished);
  CHECK(count_responses(t.output) == 1);
  // A Host value that is not host[:port].
  t = replay_all(f, "POST /dbl HTTP/1.1\r\nHost: local host\r\nContent-Length: 0\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
  CHECK(t.finished);
  t = replay_all(f, "GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  // Absolute-form targets route on their path.
  t = replay_all(f, "GET http://localhost:8080/health?x HTTP/1.1\r\nHost: localhost:8080\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(topgg::path_of("http://h") == "/");
  CHECK(topgg::path_of("https://h:1/a/b?c#d") == "/a/b");
  CHECK(topgg::path_of("*") == "*");
}

TEST_CASE("a chunk declared larger than the body limit is refused at its header") {
  Fixture f;
  topgg::Connection c(f.router, at(0));
  c.receive("POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: secret-key\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n",
            at(1));
  CHECK(status_line(c.output()) == "HTTP/1.1 413 Content Too Large");
  c.consume(c.output().size());
  CHECK(c.done());
}

TEST_CASE("head limit and refusals do not depend on how the bytes were split") {
  Fixture f;
  topgg::Settings s;
  s.max_header_bytes = 300;
  f.router.settings(s);
  std::vector<std::string> paths;
  f.router.on_error([&paths, &f](const topgg::Rejection& r) {
    paths.emplace_back(r.path);
    f.events.push_back("rejected " + std::to_string(r.status));
  });
  // A bad byte past the limit: 431 whether it arrives whole or in pieces.
  std::string far = "GET /" + std::string(350, 'a') + "\x01" + " HTTP/1.1\r\nHost: x\r\n\r\n";
  Trace t = replay_all(f, far);
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");
  // A bad byte within the limit: 400 either way.
  std::string near = "GET /" + std::string(100, 'a') + "\x01" + std::string(300, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  t = replay_all(f, near);
  CHECK(status_line(t.output) == "HTTP/1.1 400 Bad Request");
  // A head of exactly the limit is fine; one byte more is not.
  const std::string base = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n";
  const std::string exact = "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(300 - base.size(), 'p') + "\r\n\r\n";
  REQUIRE(exact.size() == 300);
  CHECK(status_line(replay_all(f, exact).output) == "HTTP/1.1 200 OK");
  CHECK(status_line(replay_all(f, exact.substr(0, 35) + "p" + exact.substr(35)).output) ==
        "HTTP/1.1 431 Request Header Fields Too Large");
  // Refused before the target was complete: the hook is given no path fragment.
  for (const auto& p : paths)
    if (!p.empty())
      FAIL_CHECK("rejection path '" << p << "' from a head refused mid-way");
}

TEST_CASE("answers produced late on a closing connection are still written") {
  topgg::Router r;
  std::vector<topgg::Ack> acks;
  topgg::Settings s;
  s.dedup_ttl = std::chrono::seconds(0); // the same vote twice: both reach the handler
  r.settings(s).dbl_webhook("/dbl", "k").on_bot_vote([&acks](const topgg::BotVote&, topgg::Ack a) { acks.push_back(a); });
  Connection c(r, at(0));
  const std::string vote = post("/dbl", "k", bot_body);
  c.receive(vote + vote, at(1));
  c.shutdown(at(2));
  c.on_timer(at(60'000)); // the loop fires very late: both acks expire now
  CHECK(count_responses(c.output()) == 2);
  CHECK(status_line(c.output(), 1) == "HTTP/1.1 503 Service Unavailable");
  c.consume(c.output().size());
  CHECK(c.done());
}

TEST_CASE("after a peak of connections, a workspace keeps at most 64 request states for reuse") {
  Fixture f;
  topgg::Workspace ws;
  std::vector<std::unique_ptr<Connection>> peak;
  const std::string request = post("/dbl", "secret-key", bot_body);
  const std::size_t half = request.find("\r\n") + 2; // the request line: a state is taken and held
  for (int i = 0; i < 1000; ++i) {
    peak.push_back(std::make_unique<Connection>(f.router, at(0), &ws));
    peak.back()->receive(std::string_view(request).substr(0, half), at(1));
  }
  CHECK(topgg::detail::idle_request_states(ws) == 0); // all 1,000 in use at once
  for (auto& c : peak) {
    c->receive(std::string_view(request).substr(half), at(2));
    REQUIRE(status_line(std::string(c->output())) == "HTTP/1.1 200 OK");
    c->consume(c->output().size());
  }
  // Every state came back once its request was answered: 64 kept, the rest freed.
  CHECK(topgg::detail::idle_request_states(ws) == 64);
  peak.clear();
  CHECK(topgg::detail::idle_request_states(ws) == 64);
  // A kept state serves the next request.
  Connection again(f.router, at(3), &ws);
  again.receive(request, at(4));
  CHECK(status_line(std::string(again.output())) == "HTTP/1.1 200 OK");
  CHECK(topgg::detail::idle_request_states(ws) == 64);
}
