// Regression tests for the security and concurrency audit (issue 15): each
// case failed before its fix.
#include <stdexcept>
#include <thread>

#include "harness.hpp"

using namespace th;
using topgg::Connection;

namespace {

std::string chunked_with_trailer(std::string_view path, std::string_view auth, std::string_view body,
                                 std::string_view trailer) {
  std::string r = "POST " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n";
  if (!auth.empty())
    r += "Authorization: " + std::string(auth) + "\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  r += "Transfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" + std::string(body) + "\r\n0\r\n";
  r += trailer;
  r += "\r\n";
  return r;
}

} // namespace

TEST_CASE("trailers count against the header limits and are never kept (431, closed)") {
  topgg::Settings s;
  s.max_header_bytes = 400;
  s.max_header_count = 6;
  Fixture f;
  f.router.settings(s);

  // Within the limits: accepted, the trailer dropped.
  Trace t = replay_all(f, chunked_with_trailer("/dbl", "secret-key", bot_body, "X-T: small\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");

  // One trailer value over the byte limit: 431 however the bytes arrive.
  t = replay_all(f, chunked_with_trailer("/dbl", "secret-key", bot_body, "X-T: " + std::string(500, 'a') + "\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(t.finished);
  CHECK(t.events.size() == 1); // the rejection only, no vote

  // Too many trailer fields.
  std::string many;
  for (int i = 0; i < 7; ++i)
    many += "X-" + std::to_string(i) + ": 1\r\n";
  t = replay_all(f, chunked_with_trailer("/dbl", "secret-key", bot_body, many));
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");

  // A refused request's trailer is bounded too (the audit's reproduction:
  // signature malformed, then an endless trailer).
  t = f.whole(chunked_with_trailer("/dbl", "wrong", bot_body, "X-T: " + std::string(500, 'a') + "\r\n"));
  CHECK(status_line(t.output) == "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_CASE("an endless trailer is refused once past the limit, with the connection holding nothing of it") {
  Fixture f; // default limits: 16 KiB of header bytes
  Connection c(f.router, at(0));
  c.receive("POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: secret-key\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\n{}\r\n0\r\nX-T: ",
            at(1));
  const std::string block(64 * 1024, 'a');
  std::size_t sent = 0;
  while (c.want_read() && sent < 8 * block.size()) {
    c.receive(block, at(2));
    sent += block.size();
  }
  CHECK(sent <= block.size()); // refused within the first 64 KiB after the limit
  CHECK(status_line(c.output()) == "HTTP/1.1 431 Request Header Fields Too Large");
  c.consume(c.output().size());
  CHECK(c.done());
}

TEST_CASE("trailer fields never become request headers") {
  topgg::Router r;
  std::string seen;
  r.route("POST", "/echo", [&seen](const topgg::Request& req) {
    seen = std::string(req.header("authorization").value_or("<none>"));
    return topgg::Response{};
  });
  r.on_warning([](std::string_view) {});
  Connection c(r, at(0));
  c.receive(chunked_with_trailer("/echo", "", "hi", "Authorization: sneaked-in\r\n"), at(1));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  CHECK(seen == "<none>");
}

TEST_CASE("HEAD answers carry headers only, so the next answer is not misread") {
  Fixture f;
  Trace t = replay_all(f, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n" + post("/dbl", "secret-key", bot_body));
  REQUIRE(count_responses(t.output) == 2);
  CHECK(status_line(t.output, 0) == "HTTP/1.1 404 Not Found");
  // The first answer's blank line is followed directly by the second status line.
  const auto end_of_first = t.output.find("\r\n\r\n");
  REQUIRE(end_of_first != std::string::npos);
  CHECK(t.output.substr(end_of_first + 4, 12) == "HTTP/1.1 200");

  t = replay_all(f, "HEAD /dbl HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(status_line(t.output) == "HTTP/1.1 405 Method Not Allowed");
  CHECK(t.output.ends_with("\r\n\r\n"));

  topgg::Router r;
  r.route("", "/any", [](const topgg::Request&) {
    topgg::Response res;
    res.body = "hello";
    return res;
  });
  r.on_warning([](std::string_view) {});
  Connection c(r, at(0));
  c.receive("HEAD /any HTTP/1.1\r\nHost: x\r\n\r\n", at(1));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  CHECK(c.output().find("Content-Length") == std::string_view::npos);
  CHECK(c.output().ends_with("\r\n\r\n"));
}

TEST_CASE("durations at their maximum mean 'never', not an overflow into the past") {
  topgg::Router r;
  topgg::Settings s;
  s.ack_timeout = std::chrono::milliseconds::max();
  s.header_timeout = std::chrono::milliseconds::max();
  s.body_timeout = std::chrono::milliseconds::max();
  s.idle_timeout = std::chrono::milliseconds::max();
  std::vector<topgg::Ack> acks;
  r.dbl_webhook("/dbl", "k").settings(s).on_bot_vote([&acks](const topgg::BotVote&, topgg::Ack a) {
    acks.push_back(std::move(a));
  });
  Connection c(r, at(0));
  c.receive(post("/dbl", "k", bot_body), at(1));
  REQUIRE(acks.size() == 1);
  REQUIRE(c.deadline());
  CHECK(*c.deadline() > at(1'000'000'000).mono);
  c.on_timer(at(2));
  CHECK(c.output().empty()); // not expired at once
  acks[0].ok();
  c.resume(at(3));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
}

TEST_CASE("exceptions from the resolver, the executor and the hooks are contained") {
  SUBCASE("secret resolver throws: 500, error hook told, next request served") {
    topgg::Router r;
    std::vector<std::string> errors;
    r.v1_webhook("/v1", "whs_a")
        .v1_secret_resolver([](const topgg::Request&, std::vector<std::string>&) { throw std::runtime_error("db"); })
        .on_error([&errors](const topgg::Rejection& rej) { errors.push_back(std::to_string(rej.status)); })
        .on_warning([](std::string_view) {});
    Connection c(r, at(0));
    const std::string body = R"({"type":"webhook.test","data":{}})";
    const std::string req = "POST /v1 HTTP/1.1\r\nHost: x\r\nx-topgg-signature: " +
                            topgg::v1::sign("whs_a", 1'700'000'000, body) +
                            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    c.receive(req + req, at(1));
    CHECK(count_responses(c.output()) == 2);
    CHECK(status_line(c.output(), 0) == "HTTP/1.1 500 Internal Server Error");
    CHECK(errors == std::vector<std::string>{"500", "500"});
  }
  SUBCASE("executor throws: 500, the vote is not lost silently") {
    topgg::Router r;
    int handled = 0;
    r.dbl_webhook("/dbl", "k")
        .executor([](std::function<void()>) { throw std::runtime_error("pool closed"); })
        .on_bot_vote([&handled](const topgg::BotVote&) { ++handled; })
        .on_warning([](std::string_view) {});
    Connection c(r, at(0));
    c.receive(post("/dbl", "k", bot_body), at(1));
    c.resume(at(2));
    CHECK(status_line(c.output()) == "HTTP/1.1 500 Internal Server Error");
    CHECK(handled == 0);
  }
  SUBCASE("error and warning hooks throw: requests are still answered") {
    topgg::Router r;
    r.dbl_webhook("/dbl", "")
        .on_bot_vote([](const topgg::BotVote&) {})
        .on_error([](const topgg::Rejection&) { throw std::runtime_error("logger down"); })
        .on_warning([](std::string_view) { throw 42; });
    Connection c(r, at(0));
    c.receive(post("/nope", "", bot_body) + post("/dbl", "", bot_body), at(1));
    CHECK(status_line(c.output(), 0) == "HTTP/1.1 404 Not Found");
    CHECK(status_line(c.output(), 1) == "HTTP/1.1 200 OK");
  }
}

TEST_CASE("Router::handle: an Ack completed after the Router is destroyed is harmless and still answers") {
  std::optional<topgg::Ack> held;
  std::optional<topgg::Response> answer;
  {
    topgg::Router r;
    r.dbl_webhook("/dbl", "k").on_bot_vote([&held](const topgg::BotVote&, topgg::Ack a) { held = a; });
    std::vector<topgg::Header> h{{"Authorization", "k"}};
    topgg::Request req;
    req.method = "POST";
    req.target = "/dbl";
    req.headers = h;
    req.body = bot_body;
    r.handle(req, at(0), [&answer](topgg::Response res) { answer = std::move(res); });
  }
  REQUIRE(held);
  CHECK_FALSE(answer);
  std::thread([&held] { CHECK(held->ok()); }).join(); // ASan: no use after free
  REQUIRE(answer);
  CHECK(answer->status == 200);
}
