// v1 routes through the Connection (byte level) and Router::handle: every
// status row of the v1 column, replay windows, rotation, de-duplication.
#include <thread>

#include "harness.hpp"

using namespace th;
namespace v1 = topgg::v1;

namespace {

constexpr std::int64_t t0 = 1'700'000'000; // th::at(ms).wall is t0 + ms

const std::string vote = R"({"type":"vote.create","data":{"id":"808499215864008704","weight":2,
"created_at":"2026-02-09T00:47:14.2510149+00:00","expires_at":"2026-02-09T12:47:14.2510149+00:00",
"project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"160105994217586689"},
"user":{"id":"u1","platform_id":"111","name":"voter","avatar_url":"https://a/b.png"},"query":{"ref":"home"},
"future_field":[1,2]}})";
const std::string test_event = R"({"type":"webhook.test","data":{
"project":{"id":"p","type":"bot","platform":"discord","platform_id":"1"},
"user":{"id":"u","platform_id":"2","name":"tester","avatar_url":null}}})";
const std::string integration_create = R"({"type":"integration.create","data":{"connection_id":"c1",
"webhook_secret":"whs_new_conn","project":{"id":"p","type":"bot","platform":"discord","platform_id":"1"},
"user":{"id":"u","platform_id":"2","name":"adder","avatar_url":"x"}}})";
const std::string integration_delete = R"({"type":"integration.delete","data":{"connection_id":"c1"}})";

std::string delivery(std::string_view body, std::string_view secret = "whs_secret", std::int64_t t = t0,
                     std::string_view trace = "trace-1", std::string_view path = "/v1") {
  std::string r = "POST " + std::string(path) + " HTTP/1.1\r\nHost: bot.example\r\nContent-Type: application/json\r\n";
  r += "x-topgg-signature: " + v1::sign(secret, t, body) + "\r\n";
  if (!trace.empty())
    r += "x-topgg-trace: " + std::string(trace) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

std::string with_header(std::string_view body, std::string_view signature_line) {
  return "POST /v1 HTTP/1.1\r\nHost: x\r\n" + std::string(signature_line) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

struct V1Fixture : Fixture {
  explicit V1Fixture(std::vector<std::string> secrets = {"whs_secret"}, std::size_t dedup = 4096) {
    topgg::Settings s;
    if (dedup == 0)
      s.dedup_ttl = std::chrono::seconds(0); // off
    else
      s.dedup_capacity = dedup;
    router.settings(s)
        .v1_webhook("/v1", std::move(secrets))
        .on_vote_create([this](const v1::VoteCreate& v) {
          std::string e = "vote.create " + v.id + " w" + std::to_string(v.weight) + " project " + v.project.id + "/" +
                          v.project.type + "/" + v.project.platform + "/" + v.project.platform_id + " user " +
                          v.user.id + "/" + v.user.platform_id + "/" + v.user.name + "/" + v.user.avatar_url +
                          " trace " + v.trace;
          for (const auto& p : v.query)
            e += " [" + p.key + "=" + p.value + "]";
          events.push_back(e);
        })
        .on_webhook_test([this](const v1::WebhookTest& t) {
          events.push_back("webhook.test " + t.project.id + " " + t.user.name + " '" + t.user.avatar_url + "' trace " +
                           t.trace);
        })
        .on_integration_create([this](const v1::IntegrationCreate& c, topgg::Ack ack) {
          events.push_back("integration.create " + c.connection_id + " " + c.webhook_secret + " " + c.user.name);
          topgg::Response reply;
          reply.headers.emplace_back("Content-Type", "application/json");
          reply.body = R"({"webhook_url":"https://bot.example/v1/c1","routes":["vote.create"]})";
          ack.ok(std::move(reply));
        })
        .on_integration_delete(
            [this](const v1::IntegrationDelete& d) { events.push_back("integration.delete " + d.connection_id); });
  }
};

} // namespace

TEST_CASE("v1: every event type is delivered, field by field, answered 204") {
  V1Fixture f{{"whs_secret"}, 0}; // replays repeat deliveries: no de-duplication here
  Trace t = replay_all(f, delivery(vote));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.output.find("Content-Length") == std::string::npos);
  CHECK(t.events == std::vector<std::string>{
                        "vote.create 808499215864008704 w2 project 803190510032756736/bot/discord/160105994217586689 "
                        "user u1/111/voter/https://a/b.png trace trace-1 [ref=home]"});

  t = replay_all(f, delivery(test_event, "whs_secret", t0, "trace-2"));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.events == std::vector<std::string>{"webhook.test p tester '' trace trace-2"});

  t = replay_all(f, delivery(integration_create, "whs_secret", t0, "trace-3"));
  CHECK(status_line(t.output) == "HTTP/1.1 200 OK");
  CHECK(t.output.find("Content-Type: application/json") != std::string::npos);
  CHECK(t.output.ends_with(R"({"webhook_url":"https://bot.example/v1/c1","routes":["vote.create"]})"));
  CHECK(t.events == std::vector<std::string>{"integration.create c1 whs_new_conn adder"});

  t = replay_all(f, delivery(integration_delete, "whs_secret", t0, "trace-4"));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.events == std::vector<std::string>{"integration.delete c1"});
}

TEST_CASE("v1: signature missing 401, malformed 422, wrong 403 — no event, body not needed") {
  V1Fixture f;
  const std::string sig = "x-topgg-signature: " + v1::sign("whs_secret", t0, vote) + "\r\n";
  const std::pair<std::string, std::string> cases[] = {
      {with_header(vote, ""), "HTTP/1.1 401 Unauthorized"},
      {with_header(vote, "x-topgg-signature: \r\n"), "HTTP/1.1 401 Unauthorized"}, // empty is missing, as the Python SDK's tests expect
      {with_header(vote, "x-topgg-signature: t=abc,v1=00\r\n"), "HTTP/1.1 422 Unprocessable Content"},
      {with_header(vote, "x-topgg-signature: v1=" + std::string(64, 'a') + "\r\n"), "HTTP/1.1 422 Unprocessable Content"},
      {with_header(vote, sig.substr(0, sig.size() - 3) + "\r\n"), "HTTP/1.1 422 Unprocessable Content"}, // truncated hex
      {with_header(vote, sig + sig), "HTTP/1.1 422 Unprocessable Content"},
      {delivery(vote, "whs_other"), "HTTP/1.1 403 Forbidden"},
      {delivery(vote, ""), "HTTP/1.1 403 Forbidden"},
  };
  for (const auto& [req, status] : cases) {
    CAPTURE(req);
    Trace t = replay_all(f, req);
    CHECK(status_line(t.output) == status);
    REQUIRE(t.events.size() == 1);
    CHECK(t.events[0].starts_with("rejected " + status.substr(9, 3)));
    CHECK_FALSE(t.finished);
  }
}

TEST_CASE("v1: a body with any one byte flipped is 403") {
  V1Fixture f;
  const std::string good = delivery(vote);
  const std::size_t body_at = good.size() - vote.size();
  for (std::size_t i = body_at; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    Trace t = f.whole(bad);
    if (status_line(t.output) != "HTTP/1.1 403 Forbidden") {
      FAIL_CHECK("flipped byte " << i - body_at << " was accepted");
      break;
    }
    CHECK(t.events.size() == 1); // the rejection, no vote
  }
}

TEST_CASE("v1: replay window edges (default 300 s)") {
  V1Fixture f{{"whs_secret"}, 0};
  // at(1) is t0 + 1 ms: a request signed at t passes iff |t0 + 1 ms − t| <= 300 s.
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 - 299)).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 - 300)).output) == "HTTP/1.1 403 Forbidden");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 + 300)).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 + 301)).output) == "HTTP/1.1 403 Forbidden");
  CHECK(f.whole(delivery(vote, "whs_secret", t0 + 301)).events ==
        std::vector<std::string>{"rejected 403 signature timestamp outside the allowed window"});

  topgg::Settings s;
  s.v1_window = std::chrono::seconds(30);
  s.dedup_ttl = std::chrono::seconds(0);
  f.router.settings(s);
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 - 29)).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 - 31)).output) == "HTTP/1.1 403 Forbidden");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 + 30)).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_secret", t0 + 31)).output) == "HTTP/1.1 403 Forbidden");
}

TEST_CASE("v1: secrets given in braces are a list, not one string") {
  V1Fixture f{{"whs_old", "whs_new"}, 0};
  CHECK(status_line(f.whole(delivery(vote, "whs_old")).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_new")).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_oldwhs_new")).output) == "HTTP/1.1 403 Forbidden");
}

TEST_CASE("v1: rotated secrets and a resolver") {
  V1Fixture f{{"whs_old", "whs_new"}, 0};
  CHECK(status_line(f.whole(delivery(vote, "whs_old")).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_new")).output) == "HTTP/1.1 204 No Content");
  CHECK(status_line(f.whole(delivery(vote, "whs_else")).output) == "HTTP/1.1 403 Forbidden");

  std::string seen_path;
  f.router.v1_secret_resolver([&seen_path](const topgg::Request& r, std::vector<std::string>& secrets) {
    seen_path = std::string(r.path);
    if (r.header("x-topgg-trace") == "conn-c1")
      secrets.push_back("whs_new_conn");
  });
  CHECK(status_line(f.whole(delivery(vote, "whs_new_conn", t0, "conn-c1")).output) == "HTTP/1.1 204 No Content");
  CHECK(seen_path == "/v1");
  CHECK(status_line(f.whole(delivery(vote, "whs_new_conn", t0, "other")).output) == "HTTP/1.1 403 Forbidden");
  CHECK(status_line(f.whole(delivery(vote, "whs_old", t0, "other")).output) == "HTTP/1.1 204 No Content");
}

TEST_CASE("v1: signed but undecodable or unknown type is 204 with no event, error hook told") {
  V1Fixture f;
  Trace t = replay_all(f, delivery("{not json"));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.events == std::vector<std::string>{"rejected 204 body is not valid JSON"});
  t = replay_all(f, delivery(R"({"type":"vote.create","data":{"id":"1"}})"));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.events == std::vector<std::string>{"rejected 204 body is not a valid delivery"});
  t = replay_all(f, delivery(R"({"type":"vote.delete","data":{}})"));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(t.events == std::vector<std::string>{"rejected 204 body is not a valid delivery"});
}

TEST_CASE("v1: a vote.create nobody handles is answered 503 (never acknowledged unseen); other events 204") {
  Fixture f;
  std::vector<std::string> warnings;
  f.router.v1_webhook("/v1", "whs_secret").on_warning([&warnings](std::string_view w) { warnings.emplace_back(w); });
  Trace t = replay_all(f, delivery(vote));
  CHECK(status_line(t.output) == "HTTP/1.1 503 Service Unavailable");
  CHECK(t.events == std::vector<std::string>{"rejected 503 no handler for this kind of vote"});
  CHECK(std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) {
    return w.find("no vote.create handler: its votes are answered 503") != std::string::npos;
  }));
  t = replay_all(f, delivery(test_event));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  // Not remembered as handled: once a handler is set, Top.gg's retry reaches it.
  Fixture g;
  int seen = 0;
  g.router.v1_webhook("/v1", "whs_secret").on_vote_create([&seen](const v1::VoteCreate&) { ++seen; });
  t = g.whole(delivery(vote));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
  CHECK(seen == 1);
}

TEST_CASE("v1: an Ack's reply with a status outside 200-599 is replaced by the usual 204") {
  Fixture f;
  f.router.v1_webhook("/v1", "whs_secret").on_integration_create([](const v1::IntegrationCreate&, topgg::Ack ack) {
    topgg::Response reply;
    reply.status = 1000; // would be written as "HTTP/1.1 1000"
    reply.body = "{}";
    ack.ok(std::move(reply));
  });
  const Trace t = replay_all(f, delivery(integration_create));
  CHECK(status_line(t.output) == "HTTP/1.1 204 No Content");
}

TEST_CASE("v1: a duplicate delivery is answered without a second event; bounded memory") {
  V1Fixture f{{"whs_secret"}, 2};
  // The same vote (project, voter, created_at) retried with a new trace and time: one event.
  Trace t = f.whole(delivery(vote, "whs_secret", t0, "a") + delivery(vote, "whs_secret", t0 + 5, "b"));
  CHECK(count_responses(t.output) == 2);
  CHECK(status_line(t.output, 1) == "HTTP/1.1 204 No Content");
  CHECK(t.events.size() == 2); // the vote, and the error hook told of the dropped duplicate
  CHECK(t.events[1] == "duplicate 204");
  // webhook.test is never de-duplicated, even with the same trace: pressing Test twice shows twice.
  t = f.whole(delivery(test_event, "whs_secret", t0, "tt") + delivery(test_event, "whs_secret", t0, "tt"));
  CHECK(t.events.size() == 2);
  // Capacity 2: the vote has been pushed out by two other keys (votes cast at other times), so it is
  // delivered again.
  auto at_time = [](std::string body, std::string_view when) {
    const auto p = body.find("\"created_at\":\"") + 14;
    body.replace(p, 4, when); // the year
    return body;
  };
  f.whole(delivery(at_time(vote, "2024")) + delivery(at_time(vote, "2023")));
  t = f.whole(delivery(vote));
  CHECK(t.events.size() == 1);
  CHECK(t.events[0].starts_with("vote.create"));

  V1Fixture off{{"whs_secret"}, 0};
  t = off.whole(delivery(vote) + delivery(vote));
  CHECK(t.events.size() == 2);
}

TEST_CASE("v1: a failed handler is not remembered, so Top.gg's retry is delivered") {
  V1Fixture f;
  int calls = 0;
  f.router.on_vote_create([&calls](const v1::VoteCreate&) {
    if (++calls == 1)
      throw std::runtime_error("db down");
  });
  Trace t = f.whole(delivery(vote) + delivery(vote));
  CHECK(status_line(t.output, 0) == "HTTP/1.1 500 Internal Server Error");
  CHECK(status_line(t.output, 1) == "HTTP/1.1 204 No Content");
  CHECK(calls == 2);
}

TEST_CASE("v1: acknowledgement later, retry, through Router::handle too") {
  V1Fixture f;
  std::vector<topgg::Ack> acks;
  f.router.on_vote_create([&acks](const v1::VoteCreate&, topgg::Ack a) { acks.push_back(a); });
  topgg::Connection c(f.router, at(0));
  c.receive(delivery(vote), at(1));
  REQUIRE(acks.size() == 1);
  std::thread([a = acks[0]] { a.retry("later"); }).join();
  c.resume(at(2));
  CHECK(status_line(c.output()) == "HTTP/1.1 503 Service Unavailable");
  c.consume(c.output().size());
  c.receive(delivery(vote), at(3)); // retried: not remembered, delivered again
  REQUIRE(acks.size() == 2);
  acks[1].ok();
  c.resume(at(4));
  CHECK(status_line(c.output()) == "HTTP/1.1 204 No Content");

  const std::string body = test_event;
  const std::string sig = v1::sign("whs_secret", t0, body);
  std::vector<topgg::Header> headers{{"X-Topgg-Signature", sig}, {"x-topgg-trace", "h1"}};
  topgg::Request req;
  req.method = "POST";
  req.target = "/v1";
  req.headers = headers;
  req.body = body;
  int status = 0;
  f.router.handle(req, at(1), [&status](topgg::Response r) { status = r.status; });
  CHECK(status == 204);
  CHECK(f.events.back() == "webhook.test p tester '' trace h1");
  const std::string wrong = v1::sign("whs_wrong", t0, body);
  headers[0].value = wrong;
  f.router.handle(req, at(1), [&status](topgg::Response r) { status = r.status; });
  CHECK(status == 403);
  headers.erase(headers.begin());
  req.headers = headers;
  f.router.handle(req, at(1), [&status](topgg::Response r) { status = r.status; });
  CHECK(status == 401);
}
