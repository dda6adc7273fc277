// Request-level embedding: Router::handle for servers that parse HTTP themselves.
#include <doctest/doctest.h>

#include <optional>
#include <thread>

#include "harness.hpp"

namespace {
topgg::Request request(std::string_view method, std::string_view target, std::vector<topgg::Header>& headers,
                       std::string_view body) {
  topgg::Request r;
  r.method = method;
  r.target = target;
  r.headers = headers;
  r.body = body;
  return r;
}

struct Capture {
  std::optional<topgg::Response> response;
  int calls = 0;
  std::function<void(topgg::Response)> fn() {
    return [this](topgg::Response r) {
      response = std::move(r);
      ++calls;
    };
  }
};
} // namespace

TEST_CASE("Router::handle: votes, refusals and custom routes, answered synchronously") {
  th::Fixture f;
  std::vector<topgg::Header> good{{"Host", "x"}, {"authorization", "secret-key"}};
  std::vector<topgg::Header> bad{{"Authorization", "nope"}};
  std::vector<topgg::Header> twice{{"Authorization", "secret-key"}, {"Authorization", "secret-key"}};
  Capture c;

  f.router.handle(request("POST", "/dbl?x=1", good, th::bot_body), th::at(0), c.fn());
  REQUIRE(c.calls == 1);
  CHECK(c.response->status == 200);
  CHECK(f.events.back() == "bot 264811613708746752 user 160105994217586689 upvote [ref=home]");

  f.router.handle(request("POST", "/dbl", bad, th::bot_body), th::at(0), c.fn());
  CHECK(c.response->status == 401);
  CHECK(f.events.back() == "rejected 401 Authorization header missing or wrong");
  f.router.handle(request("POST", "/dbl", twice, th::bot_body), th::at(0), c.fn());
  CHECK(c.response->status == 401);

  f.router.handle(request("GET", "/dbl", good, ""), th::at(0), c.fn());
  CHECK(c.response->status == 405);
  REQUIRE(c.response->headers.size() == 1);
  CHECK(c.response->headers[0].second == "POST");

  f.router.handle(request("POST", "/missing", good, ""), th::at(0), c.fn());
  CHECK(c.response->status == 404);

  f.router.handle(request("POST", "/dbl", good, R"({"bot":"1"})"), th::at(0), c.fn());
  CHECK(c.response->status == 400);
  CHECK(c.response->body == "missing field user");

  f.router.handle(request("POST", "/dbl", good, std::string(64 * 1024 + 1, ' ')), th::at(0), c.fn());
  CHECK(c.response->status == 413);

  f.router.handle(request("GET", "/health?q", good, ""), th::at(0), c.fn());
  CHECK(c.response->status == 200);
  CHECK(c.response->body == "up /health?q");
  CHECK(c.calls == 8);
}

TEST_CASE("Router::handle: an Ack completed on another thread answers there; a dropped Ack answers 503") {
  topgg::Router r;
  std::optional<topgg::Ack> held;
  r.dsl_webhook("/dsl", "k").on_server_vote([&held](const topgg::ServerVote&, topgg::Ack a) { held = a; });
  std::vector<topgg::Header> h{{"Authorization", "k"}};
  Capture c;
  r.handle(request("POST", "/dsl", h, th::server_body), th::at(0), c.fn());
  CHECK(c.calls == 0);
  std::thread::id answered_on;
  std::thread t([&] {
    held->ok();
    answered_on = std::this_thread::get_id();
  });
  t.join();
  CHECK(c.calls == 1);
  CHECK(c.response->status == 200);
  CHECK_FALSE(held->retry()); // second completion ignored
  CHECK(c.calls == 1);

  r.handle(request("POST", "/dsl", h, th::server_body), th::at(0), c.fn());
  CHECK(c.calls == 1);
  held.reset(); // the last Ack goes away uncompleted
  CHECK(c.calls == 2);
  CHECK(c.response->status == 503);
}
