// Router configuration: mistakes that would lose votes without a trace are
// refused when configured, and several legacy routes of one kind each keep
// their own key (one process serving several bots).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <unistd.h>

#include "harness.hpp"

namespace {
topgg::Request request(std::string_view target, std::vector<topgg::Header>& headers, std::string_view body) {
  topgg::Request r;
  r.method = "POST";
  r.target = target;
  r.headers = headers;
  r.body = body;
  return r;
}

int answer(topgg::Router& router, std::string_view path, std::string_view key, std::string_view body) {
  std::vector<topgg::Header> h{{"Host", "x"}, {"Authorization", key}};
  int status = 0;
  router.handle(request(path, h, body), th::at(0), [&status](topgg::Response r) { status = r.status; });
  return status;
}

std::string what_of(const std::function<void()>& configure) {
  try {
    configure();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

const std::string bot2_body = R"({"bot":"2222","user":"160105994217586689","type":"upvote","isWeekend":false})";
} // namespace

TEST_CASE("a route without a leading '/' is refused when configured") {
  topgg::Router r;
  const std::string what = what_of([&] { r.dbl_webhook("dbl", "k"); });
  CHECK(what.find("\"dbl\"") != std::string::npos);
  CHECK(what.find("must start with '/'") != std::string::npos);
  CHECK_THROWS_AS(r.dsl_webhook("dsl", "k"), std::invalid_argument);
  CHECK_THROWS_AS(r.v1_webhook("topgg", "whs_x"), std::invalid_argument);
  CHECK_THROWS_AS(r.route("GET", "health", [](const topgg::Request&) { return topgg::Response{}; }),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.dbl_webhook("", "k"), std::invalid_argument);
  // Nothing was added: every path is still unknown.
  CHECK(r.allowed_methods("dbl").empty());
  CHECK(r.allowed_methods("/dbl").empty());
}

TEST_CASE("two routes on one path and method are refused; other methods on the path are fine") {
  topgg::Router r;
  r.dbl_webhook("/dbl", "k");
  CHECK(what_of([&] { r.dbl_webhook("/dbl", "other"); }).find("/dbl is already set up") != std::string::npos);
  CHECK_THROWS_AS(r.dsl_webhook("/dbl", "k"), std::invalid_argument); // dsl would be unreachable
  CHECK_THROWS_AS(r.v1_webhook("/dbl", "whs_x"), std::invalid_argument);
  CHECK_THROWS_AS(r.route("POST", "/dbl", [](const topgg::Request&) { return topgg::Response{}; }),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.route("", "/dbl", [](const topgg::Request&) { return topgg::Response{}; }),
                  std::invalid_argument); // "" is any method, POST included
  r.route("GET", "/dbl", [](const topgg::Request&) { return topgg::Response{}; });
  CHECK(r.allowed_methods("/dbl") == "POST, GET");
  // A route for any method takes the whole path.
  r.route("", "/any", [](const topgg::Request&) { return topgg::Response{}; });
  CHECK_THROWS_AS(r.route("GET", "/any", [](const topgg::Request&) { return topgg::Response{}; }),
                  std::invalid_argument);
  CHECK_THROWS_AS(r.dbl_webhook("/any", "k"), std::invalid_argument);
  r.on_bot_vote([](const topgg::BotVote&) {});
  // The refused calls left the first route as it was.
  CHECK(answer(r, "/dbl", "k", th::bot_body) == 200);
  CHECK(answer(r, "/dbl", "other", th::bot_body) == 401);
}

TEST_CASE("a legacy vote nobody handles is answered 503, so Top.gg delivers it again; the warning says so") {
  topgg::Router r;
  std::vector<std::string> warnings;
  r.dbl_webhook("/dbl", "k").dsl_webhook("/dsl", "k").on_warning([&warnings](std::string_view w) {
    warnings.emplace_back(w);
  });
  CHECK(answer(r, "/dbl", "k", th::bot_body) == 503);
  CHECK(answer(r, "/dsl", "k", th::server_body) == 503);
  CHECK(std::count_if(warnings.begin(), warnings.end(), [](const std::string& w) {
          return w.find("has no vote handler: its votes are answered 503") != std::string::npos;
        }) == 2);
  r.on_bot_vote([](const topgg::BotVote&) {});
  CHECK(answer(r, "/dbl", "k", th::bot_body) == 200);
}

TEST_CASE("several bot-vote and server-vote routes, each with its own key") {
  topgg::Router r;
  std::vector<std::string> seen;
  r.dbl_webhook("/bot1", "key1")
      .dbl_webhook("/bot2", "key2")
      .dsl_webhook("/server1", "skey1")
      .dsl_webhook("/server2", "skey2")
      .on_bot_vote([&](const topgg::BotVote& v) { seen.push_back("bot " + v.bot.to_string()); })
      .on_server_vote([&](const topgg::ServerVote& v) { seen.push_back("guild " + v.guild.to_string()); })
      .on_error([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  CHECK(answer(r, "/bot1", "key1", th::bot_body) == 200);
  CHECK(answer(r, "/bot2", "key2", bot2_body) == 200);
  CHECK(answer(r, "/bot1", "key2", th::bot_body) == 401); // each route checks its own key only
  CHECK(answer(r, "/bot2", "key1", bot2_body) == 401);
  CHECK(answer(r, "/server1", "skey1", th::server_body) == 200);
  CHECK(answer(r, "/server2", "skey2", th::server_body) == 200);
  CHECK(answer(r, "/server2", "skey1", th::server_body) == 401);
  // The vote's own bot / guild tells the handler which one was voted for.
  CHECK(seen == std::vector<std::string>{"bot 264811613708746752", "bot 2222", "guild 5678", "guild 5678"});
}

namespace {
/// What `f` writes to standard error (redirected to a temporary file meanwhile).
template <class F> std::string stderr_of(F&& f) {
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp);
  std::fflush(stderr);
  const int saved = ::dup(2);
  REQUIRE(saved >= 0);
  ::dup2(::fileno(tmp), 2);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text;
  std::rewind(tmp);
  for (int c; (c = std::fgetc(tmp)) != EOF;)
    text.push_back(static_cast<char>(c));
  std::fclose(tmp);
  return text;
}
} // namespace

TEST_CASE("without on_error, a refusal is one line on standard error") {
  topgg::Router r;
  r.dbl_webhook("/dbl", "k").on_bot_vote([](const topgg::BotVote&) {}).on_warning([](std::string_view) {});
  int status = 0;
  const std::string text = stderr_of([&] { status = answer(r, "/dbl", "wrong", th::bot_body); });
  CHECK(status == 401);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find("401") != std::string::npos);
  CHECK(text.find("/dbl") != std::string::npos);
  CHECK(text.find("does not match") != std::string::npos);
  CHECK(text.find("wrong") == std::string::npos); // never the key that was sent
}

TEST_CASE("without on_error, a request broken before its request line is named as such") {
  topgg::Router r;
  r.dbl_webhook("/dbl", "k").on_bot_vote([](const topgg::BotVote&) {}).on_warning([](std::string_view) {});
  const std::string text = stderr_of([&] {
    topgg::Connection c(r, th::at(0));
    c.receive("\x01\x02 not http\r\n\r\n", th::at(0));
    CHECK(th::status_line(c.output()) == "HTTP/1.1 400 Bad Request");
  });
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find("refused 400 (before the request line): ") != std::string::npos);
}
