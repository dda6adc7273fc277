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

TEST_CASE("only_for: a route refuses (403) a payload for another bot, server or project; the event names its route") {
  // Without it, whoever holds /bot1's key could post a vote naming bot 2 (issue 23, item 6).
  topgg::Router r;
  std::vector<std::string> seen;
  std::vector<std::string> refused;
  r.dbl_webhook("/bot1", "key1")
      .dbl_webhook("/bot2", "key2")
      .dsl_webhook("/server1", "skey1")
      .only_for("/bot1", "264811613708746752")
      .only_for("/bot2", "2222")
      .only_for("/server1", "5678")
      .on_bot_vote([&](const topgg::BotVote& v) { seen.push_back(v.route + " bot " + v.bot.to_string()); })
      .on_server_vote([&](const topgg::ServerVote& v) { seen.push_back(v.route + " guild " + v.guild.to_string()); })
      .on_error([&](const topgg::Rejection& e) {
        refused.push_back(std::to_string(e.status) + " " + std::string(e.path) + ": " + std::string(e.detail));
      })
      .on_warning([](std::string_view) {});
  CHECK(answer(r, "/bot1", "key1", th::bot_body) == 200);
  CHECK(answer(r, "/bot1", "key1", bot2_body) == 403); // key 1 speaking for bot 2
  CHECK(answer(r, "/bot2", "key2", bot2_body) == 200);
  CHECK(answer(r, "/server1", "skey1", th::server_body) == 200);
  CHECK(answer(r, "/server1", "skey1", R"({"guild":"9999","user":"1","type":"upvote"})") == 403);
  CHECK(seen == std::vector<std::string>{"/bot1 bot 264811613708746752", "/bot2 bot 2222", "/server1 guild 5678"});
  CHECK(refused == std::vector<std::string>{"403 /bot1: the vote is for bot 2222; /bot1 serves bot 264811613708746752",
                                            "403 /server1: the vote is for server 9999; /server1 serves server 5678"});
  // Mistakes are refused when configured.
  CHECK(what_of([&] {
          topgg::Router x;
          x.dbl_webhook("/d", "k").only_for("/e", "1");
        }).find("no dbl_webhook") != std::string::npos);
  CHECK(what_of([&] {
          topgg::Router x;
          x.dbl_webhook("/d", "k").only_for("/d", "abc");
        }).find("Discord ID") != std::string::npos);
}

TEST_CASE("only_for on a v1 route: another project's delivery is 403; its Top.gg or platform ID both name it") {
  namespace v1 = topgg::v1;
  topgg::Router r;
  std::vector<std::string> seen;
  int refused = 0;
  r.v1_webhook("/a", "whs_a")
      .v1_webhook("/b", "whs_b")
      .only_for("/a", "803190510032756736")
      .only_for("/b", "264811613708746752") // the bot's Discord ID: project.platform_id
      .on_vote_create([&](const v1::VoteCreate& v) { seen.push_back(v.route + " " + v.project.id); })
      .on_error([&](const topgg::Rejection& e) { refused += e.error == topgg::Error::wrong_target; })
      .on_warning([](std::string_view) {});
  auto vote = [](std::string project, std::string platform_id) {
    return R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2025-01-01T00:00:00Z",)"
           R"("expires_at":"2025-01-01T12:00:00Z","project":{"id":")" +
           project + R"(","type":"bot","platform":"discord","platform_id":")" + platform_id +
           R"("},"user":{"id":"u1","platform_id":"1","name":"n","avatar_url":null}}})";
  };
  auto send = [&](std::string path, std::string secret, const std::string& body) {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    std::vector<topgg::Header> h{{"Host", "x"}, {"x-topgg-signature", ""}};
    const std::string sig = v1::sign(secret, t, body);
    h[1].value = sig;
    topgg::Request req = request(path, h, body);
    topgg::Now n;
    n.mono = topgg::Clock::now();
    n.wall = now;
    int status = 0;
    r.handle(req, n, [&status](topgg::Response res) { status = res.status; });
    return status;
  };
  CHECK(send("/a", "whs_a", vote("803190510032756736", "264811613708746752")) == 204);
  // The holder of /a's secret signs a vote naming project B: refused, so B's own vote is not taken for a retry.
  CHECK(send("/a", "whs_a", vote("42", "264811613708746752")) == 403);
  CHECK(send("/b", "whs_b", vote("42", "264811613708746752")) == 204);
  CHECK(send("/b", "whs_b", vote("42", "1111")) == 403);
  CHECK(seen == std::vector<std::string>{"/a 803190510032756736", "/b 42"});
  CHECK(refused == 2);
}

TEST_CASE("without only_for, the same vote on two routes is two deliveries: the route is in every key") {
  // Keys carried payload IDs only: a vote signed with /a's secret naming project B made
  // B's genuine vote on /b a "duplicate", answered 204 and never delivered.
  namespace v1 = topgg::v1;
  topgg::Router r;
  std::vector<std::string> seen;
  r.v1_webhook("/a", "whs_a")
      .v1_webhook("/b", "whs_b")
      .dbl_webhook("/bot1", "k1")
      .dbl_webhook("/bot2", "k2")
      .on_vote_create([&](const v1::VoteCreate& v) { seen.push_back(v.route); })
      .on_bot_vote([&](const topgg::BotVote& v) { seen.push_back(v.route); })
      .on_error([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  const std::string body = R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2025-01-01T00:00:00Z",)"
                           R"("expires_at":"2025-01-01T12:00:00Z","project":{"id":"B","type":"bot",)"
                           R"("platform":"discord","platform_id":"1"},"user":{"id":"u1","platform_id":"1",)"
                           R"("name":"n","avatar_url":null}}})";
  for (const char* path : {"/a", "/b", "/a"}) {
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const std::string sig = v1::sign(std::string(path) == "/a" ? "whs_a" : "whs_b", t, body);
    std::vector<topgg::Header> h{{"Host", "x"}, {"x-topgg-signature", sig}};
    topgg::Now n{topgg::Clock::now(), now};
    int status = 0;
    r.handle(request(path, h, body), n, [&status](topgg::Response res) { status = res.status; });
    CHECK(status == 204);
  }
  CHECK(answer(r, "/bot1", "k1", th::bot_body) == 200);
  CHECK(answer(r, "/bot2", "k2", th::bot_body) == 200);
  CHECK(answer(r, "/bot1", "k1", th::bot_body) == 200); // a retry: no second event
  CHECK(seen == std::vector<std::string>{"/a", "/b", "/bot1", "/bot2"});
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
