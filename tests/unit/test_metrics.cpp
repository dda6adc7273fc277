// Metrics: what the pipeline counts (requests by route and status, events,
// refusals by reason, duplicates, handler outcomes, latency), through both
// entry points and through deliveries that wait; the exact Prometheus text of
// a known sequence; label escaping; the histogram's bounds; the store's health
// and catch-up's rounds; counting from several threads at once.
#include <atomic>
#include <thread>

#include "harness.hpp"
#include "topgg/metrics.hpp"
#include "topgg/version.hpp"

using namespace th;
using topgg::Metrics;
using topgg::Refusal;

namespace {

// A clock that moves 1.5 ms each time it is read: a synchronous handler (read
// at its start and at its end) takes exactly 1.5 ms.
std::atomic<std::int64_t> fake_ns{0};
topgg::Clock::time_point fake_clock() noexcept {
  return topgg::Clock::time_point(std::chrono::nanoseconds(fake_ns.fetch_add(1'500'000) + 1'500'000));
}

// A clock the test sets.
std::atomic<std::int64_t> set_ns{0};
topgg::Clock::time_point set_clock() noexcept {
  return topgg::Clock::time_point(std::chrono::nanoseconds(set_ns.load()));
}

const std::string v1_vote_body =
    R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2026-02-09T00:47:14Z",)"
    R"("expires_at":"2026-02-09T12:47:14Z","project":{"id":"p","type":"bot","platform":)"
    R"("discord","platform_id":"1"},"user":{"id":"u1","platform_id":"2","name":"n",)"
    R"("avatar_url":null}}})";

/// Router::handle with these parts; the status answered (0 if not yet).
int handle(topgg::Router& r, std::string_view method, std::string_view path, std::vector<topgg::Header> headers = {},
           std::string_view body = {}) {
  int status = 0;
  topgg::Request req{method, path, path, headers, body};
  r.handle(req, at(0), [&status](topgg::Response res) { status = res.status; });
  return status;
}

int v1_post(topgg::Router& r, std::string_view signature, std::string_view body = v1_vote_body) {
  std::vector<topgg::Header> h;
  if (!signature.empty())
    h.push_back({"x-topgg-signature", signature});
  return handle(r, "POST", "/v1", h, body);
}

std::string prometheus(const Metrics& m) {
  std::string s;
  m.write_prometheus(s);
  return s;
}

// Every line of `text` that starts with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, std::string_view prefix) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.starts_with(prefix))
      out.push_back(line);
    at = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

/// A MemoryStore whose health the test sets: down, every claim is unavailable.
class FlakyStore final : public topgg::IdempotencyStore {
public:
  std::atomic<bool> up{true};
  std::optional<topgg::ClaimResult> claim(std::string_view key, topgg::Now now, std::chrono::milliseconds lease,
                                          topgg::ClaimDeferral& later) override {
    return up ? keys_.claim(key, now, lease, later) : topgg::ClaimResult::unavailable;
  }
  void confirm(std::string_view key, topgg::Now now, std::chrono::milliseconds ttl) override {
    keys_.confirm(key, now, ttl);
  }
  void release(std::string_view key, topgg::Now now) override { keys_.release(key, now); }
  bool available() const noexcept override { return up; }
  std::string unavailable_reason() const override { return up ? "" : "flaky: down"; }

private:
  topgg::MemoryStore keys_;
};

} // namespace

TEST_CASE("metrics: the exact Prometheus text of a known sequence, label values escaped") {
  fake_ns = 0;
  auto m = std::make_shared<Metrics>(&fake_clock);
  topgg::Router r;
  r.metrics(m) // before the routes: each is metered as it is added
      .dbl_webhook("/dbl", "k")
      .v1_webhook("/v1", "whs_s")
      .route("GET", "/a\"b\\c\nd", [](const topgg::Request&) { return topgg::Response{}; })
      .on_bot_vote([](const topgg::BotVote&) {})
      .on_vote_create([](const topgg::v1::VoteCreate&) {})
      .on_error([](const topgg::Rejection&) {})
      .on_duplicate([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  const std::vector<topgg::Header> key{{"Authorization", "k"}};
  CHECK(handle(r, "POST", "/dbl", key, bot_body) == 200);
  CHECK(handle(r, "POST", "/dbl", key, bot_body) == 200); // a retry: a duplicate
  CHECK(handle(r, "POST", "/dbl", {}, bot_body) == 401);
  CHECK(handle(r, "POST", "/dbl", {{"Authorization", "wrong"}}, bot_body) == 401);
  CHECK(handle(r, "POST", "/nope\"x", {}, "") == 404); // never a label
  CHECK(handle(r, "GET", "/dbl") == 405);
  CHECK(v1_post(r, "") == 401);
  CHECK(v1_post(r, "t=1") == 422);
  CHECK(v1_post(r, topgg::v1::sign("whs_other", 1'700'000'000, v1_vote_body)) == 403);
  CHECK(v1_post(r, topgg::v1::sign("whs_s", 1'700'000'000 - 3600, v1_vote_body)) == 403); // stale
  CHECK(v1_post(r, topgg::v1::sign("whs_s", 1'700'000'000, v1_vote_body)) == 204);
  CHECK(handle(r, "GET", "/a\"b\\c\nd") == 200);

  const std::string want =
      std::string(
          R"(# HELP topgg_webhook_requests_total HTTP requests answered, by route (its configured path; "none" when no route matched) and status.
# TYPE topgg_webhook_requests_total counter
topgg_webhook_requests_total{route="/dbl",status="200"} 2
topgg_webhook_requests_total{route="/dbl",status="401"} 2
topgg_webhook_requests_total{route="/v1",status="204"} 1
topgg_webhook_requests_total{route="/v1",status="401"} 1
topgg_webhook_requests_total{route="/v1",status="403"} 2
topgg_webhook_requests_total{route="/v1",status="422"} 1
topgg_webhook_requests_total{route="/a\"b\\c\nd",status="200"} 1
topgg_webhook_requests_total{route="none",status="404"} 1
topgg_webhook_requests_total{route="none",status="405"} 1
# HELP topgg_webhook_events_total Events handed to a handler, by type (caught-up votes included).
# TYPE topgg_webhook_events_total counter
topgg_webhook_events_total{event="dbl_vote"} 1
topgg_webhook_events_total{event="dsl_vote"} 0
topgg_webhook_events_total{event="vote.create"} 1
topgg_webhook_events_total{event="webhook.test"} 0
topgg_webhook_events_total{event="integration.create"} 0
topgg_webhook_events_total{event="integration.delete"} 0
# HELP topgg_webhook_refused_total Requests refused before any handler ran, by reason.
# TYPE topgg_webhook_refused_total counter
topgg_webhook_refused_total{reason="malformed_http"} 0
topgg_webhook_refused_total{reason="bad_host"} 0
topgg_webhook_refused_total{reason="not_found"} 1
topgg_webhook_refused_total{reason="method_not_allowed"} 1
topgg_webhook_refused_total{reason="auth_missing"} 1
topgg_webhook_refused_total{reason="auth_wrong"} 1
topgg_webhook_refused_total{reason="payload_too_large"} 0
topgg_webhook_refused_total{reason="headers_too_large"} 0
topgg_webhook_refused_total{reason="request_timeout"} 0
topgg_webhook_refused_total{reason="expectation_failed"} 0
topgg_webhook_refused_total{reason="version_not_supported"} 0
topgg_webhook_refused_total{reason="invalid_json"} 0
topgg_webhook_refused_total{reason="invalid_payload"} 0
topgg_webhook_refused_total{reason="signature_missing"} 1
topgg_webhook_refused_total{reason="signature_malformed"} 1
topgg_webhook_refused_total{reason="signature_mismatch"} 1
topgg_webhook_refused_total{reason="signature_stale"} 1
topgg_webhook_refused_total{reason="wrong_target"} 0
topgg_webhook_refused_total{reason="no_handler"} 0
# HELP topgg_webhook_duplicates_total Retries of deliveries already handled, answered success without an event.
# TYPE topgg_webhook_duplicates_total counter
topgg_webhook_duplicates_total 1
# HELP topgg_webhook_duplicates_in_progress_total Retries that arrived while the first delivery was being handled, answered 503.
# TYPE topgg_webhook_duplicates_in_progress_total counter
topgg_webhook_duplicates_in_progress_total 0
# HELP topgg_webhook_handler_failures_total Handlers that threw, answered 500.
# TYPE topgg_webhook_handler_failures_total counter
topgg_webhook_handler_failures_total 0
# HELP topgg_webhook_handler_retries_total Handlers that asked for a retry, answered 503.
# TYPE topgg_webhook_handler_retries_total counter
topgg_webhook_handler_retries_total 0
# HELP topgg_webhook_ack_timeouts_total Acks not completed in time, answered 503.
# TYPE topgg_webhook_ack_timeouts_total counter
topgg_webhook_ack_timeouts_total 0
# HELP topgg_webhook_store_unavailable_total Deliveries answered 503 because the idempotency store could not be asked.
# TYPE topgg_webhook_store_unavailable_total counter
topgg_webhook_store_unavailable_total 0
# HELP topgg_webhook_handler_seconds Time from a handler's start to its outcome.
# TYPE topgg_webhook_handler_seconds histogram
topgg_webhook_handler_seconds_bucket{le="0.0005"} 0
topgg_webhook_handler_seconds_bucket{le="0.001"} 0
topgg_webhook_handler_seconds_bucket{le="0.0025"} 2
topgg_webhook_handler_seconds_bucket{le="0.005"} 2
topgg_webhook_handler_seconds_bucket{le="0.01"} 2
topgg_webhook_handler_seconds_bucket{le="0.025"} 2
topgg_webhook_handler_seconds_bucket{le="0.05"} 2
topgg_webhook_handler_seconds_bucket{le="0.1"} 2
topgg_webhook_handler_seconds_bucket{le="0.25"} 2
topgg_webhook_handler_seconds_bucket{le="0.5"} 2
topgg_webhook_handler_seconds_bucket{le="1"} 2
topgg_webhook_handler_seconds_bucket{le="2"} 2
topgg_webhook_handler_seconds_bucket{le="3"} 2
topgg_webhook_handler_seconds_bucket{le="4"} 2
topgg_webhook_handler_seconds_bucket{le="5"} 2
topgg_webhook_handler_seconds_bucket{le="+Inf"} 2
topgg_webhook_handler_seconds_sum 0.003
topgg_webhook_handler_seconds_count 2
# HELP topgg_webhook_store_up Whether the idempotency store answers (1) or not (0).
# TYPE topgg_webhook_store_up gauge
topgg_webhook_store_up 1
# HELP topgg_webhook_build_info The topgg-webhook library's version.
# TYPE topgg_webhook_build_info gauge
topgg_webhook_build_info{version=")") +
      TOPGG_WEBHOOK_VERSION + "\"} 1\n";
  CHECK(prometheus(*m) == want);
}

TEST_CASE("metrics: counted the same through a Connection, the route's meter found whenever metrics are set") {
  Fixture f; // routes first, metrics after: every route still gets its meter
  auto m = std::make_shared<Metrics>();
  f.router.metrics(m);
  CHECK(f.router.metrics() == m);
  const std::string ok = post("/dbl", "secret-key", bot_body);
  for (const std::string& req :
       {ok, ok, post("/dbl", "", bot_body), post("/dsl", "bad", server_body),
        std::string("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"), std::string("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")})
    CHECK(count_responses(f.whole(req).output) == 1);
  // Broken requests, answered by the connection itself (not the pipeline): at their route once the head is read.
  f.whole("POST /dsl HTTP/1.1\r\nHost: x\r\nAuthorization: other-key\r\nTransfer-Encoding: chunked\r\n\r\n"
          "11170\r\n" +
          std::string(70000, 'x'));                                              // 413 while reading the body
  f.whole("POST /dsl HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"); // 413 before its path is read
  f.whole("GARBAGE\r\n\r\n");
  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(s.requests_at("/dbl", "200") == 2);
  CHECK(s.requests_at("/dbl", "401") == 1);
  CHECK(s.requests_at("none", "400") == 1); // broken before its path was read
  CHECK(s.requests_at("/dsl", "401") == 1);
  CHECK(s.requests_at("/dsl", "413") == 1);
  CHECK(s.requests_at("none", "413") == 1);
  CHECK(s.requests_at("/health", "200") == 1);
  CHECK(s.requests_at("none", "404") == 1);
  CHECK(s.event("dbl_vote") == 1);
  CHECK(s.duplicates == 1);
  CHECK(s.refusals(Refusal::auth_missing) == 1);
  CHECK(s.refusals(Refusal::auth_wrong) == 1);
  CHECK(s.refusals(Refusal::not_found) == 1);
  CHECK(s.refusals(Refusal::malformed_http) == 1);
  CHECK(s.refusals(Refusal::payload_too_large) == 2);
  CHECK(s.handler_seconds.count == 1);
  CHECK(s.handler_seconds.sum == 0); // no clock: the Now given, the same at both ends
}

TEST_CASE("metrics: handler outcomes — failure, retry, Ack timeout, in-progress duplicate, store unavailable") {
  set_ns = 0;
  auto m = std::make_shared<Metrics>(&set_clock);
  auto store = std::make_shared<FlakyStore>();
  topgg::Router r;
  std::vector<topgg::Ack> acks;
  r.dbl_webhook("/dbl", "k")
      .dsl_webhook("/dsl", "k")
      .idempotency_store(store)
      .metrics(m)
      .on_bot_vote([&acks](const topgg::BotVote&, topgg::Ack a) { acks.push_back(a); })
      .on_server_vote([](const topgg::ServerVote&) { throw std::runtime_error("database down"); })
      .on_error([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  topgg::Connection c(r, at(0));
  auto send = [&c](const std::string& req, int ms) {
    c.receive(req, at(ms));
    const std::string out(c.output());
    c.consume(out.size());
    return out;
  };
  auto bot = [](int user) {
    return post("/dbl", "k",
                R"({"bot":"264811613708746752","user":")" + std::to_string(160105994217586689ULL + user) +
                    R"(","type":"upvote"})");
  };
  CHECK(status_line(send(post("/dsl", "k", server_body), 1)) == "HTTP/1.1 500 Internal Server Error");

  send(bot(1), 2); // waits for its Ack
  REQUIRE(acks.size() == 1);
  set_ns = 7'000'000; // 7 ms later
  acks[0].retry("busy");
  c.resume(at(3));
  CHECK(status_line(c.output()) == "HTTP/1.1 503 Service Unavailable");
  c.consume(c.output().size());

  send(bot(2), 4); // this one is never acknowledged: 503 at the deadline
  REQUIRE(acks.size() == 2);
  set_ns = 4'500'000'000; // its Ack timed out 4.493 s after it started
  c.on_timer(at(4 + 4000));
  CHECK(status_line(c.output()) == "HTTP/1.1 503 Service Unavailable");
  c.consume(c.output().size());

  topgg::Connection c2(r, at(5000)); // the same delivery twice while the first waits
  c2.receive(bot(3), at(5000));
  c2.receive(bot(3), at(5001));
  REQUIRE(acks.size() == 3);
  acks[2].ok();
  c2.resume(at(5002));
  CHECK(status_line(c2.output(), 0) == "HTTP/1.1 200 OK");
  CHECK(status_line(c2.output(), 1) == "HTTP/1.1 503 Service Unavailable");

  store->up = false;
  c2.consume(c2.output().size());
  c2.receive(bot(4), at(5003));
  CHECK(status_line(c2.output()) == "HTTP/1.1 503 Service Unavailable");

  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(s.handler_failures == 1);
  CHECK(s.handler_retries == 1);
  CHECK(s.ack_timeouts == 1);
  CHECK(s.duplicates_in_progress == 1);
  CHECK(s.store_unavailable == 1);
  CHECK(s.event("dsl_vote") == 1);
  CHECK(s.event("dbl_vote") == 3); // the in-progress duplicate and the refused one never reach it
  CHECK(s.requests_at("/dsl", "500") == 1);
  CHECK(s.requests_at("/dbl", "503") == 4); // retry, timeout, in progress, store unavailable
  CHECK(s.requests_at("/dbl", "200") == 1);
  // Timed on the given clock: 0 (thrown at once), 7 ms (retry), 4.493 s (timeout), 0 (ok at once).
  const topgg::HistogramSnapshot& h = s.handler_seconds;
  REQUIRE(h.counts.size() == h.bounds.size() + 1);
  CHECK(h.count == 4);
  CHECK(h.counts[0] == 2);  // le 0.0005: the two of 0 s
  CHECK(h.counts[4] == 3);  // le 0.01: and the 7 ms one
  CHECK(h.counts[13] == 3); // le 4
  CHECK(h.counts[14] == 4); // le 5: the timeout
  CHECK(h.sum == doctest::Approx(4.5).epsilon(1e-9));
  CHECK(s.store_up == false);
  store->up = true;
  CHECK(m->snapshot().store_up == true);
}

TEST_CASE("metrics: a claim answered later is counted when its delivery is answered, handler timed from its start") {
  // A store that defers every claim, completed by the test.
  struct LateStore final : topgg::IdempotencyStore {
    std::vector<topgg::ClaimTicket> tickets;
    std::optional<topgg::ClaimResult> claim(std::string_view, topgg::Now, std::chrono::milliseconds,
                                            topgg::ClaimDeferral& later) override {
      tickets.push_back(later.defer());
      return std::nullopt;
    }
    void confirm(std::string_view, topgg::Now, std::chrono::milliseconds) override {}
    void release(std::string_view, topgg::Now) override {}
  };
  auto store = std::make_shared<LateStore>();
  set_ns = 0;
  auto m = std::make_shared<Metrics>(&set_clock);
  topgg::Router r;
  int seen = 0;
  r.dbl_webhook("/dbl", "k")
      .idempotency_store(store)
      .metrics(m)
      .on_bot_vote([&seen](const topgg::BotVote&) {
        ++seen;
        set_ns += 2'000'000; // the handler takes 2 ms
      })
      .on_duplicate([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  topgg::Connection c(r, at(0));
  c.receive(post("/dbl", "k", bot_body), at(0));
  CHECK(c.output().empty());
  CHECK(m->snapshot().requests.empty()); // not answered yet: not counted
  set_ns = 1'000'000'000;                // the store answers a second later
  REQUIRE(store->tickets.size() == 1);
  store->tickets[0].complete(topgg::ClaimResult::claimed);
  c.resume(at(1000));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  c.consume(c.output().size());
  c.receive(post("/dbl", "k", bot_body), at(1001));
  store->tickets[1].complete(topgg::ClaimResult::done);
  c.resume(at(1002));
  CHECK(status_line(c.output()) == "HTTP/1.1 200 OK");
  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(seen == 1);
  CHECK(s.requests_at("/dbl", "200") == 2);
  CHECK(s.event("dbl_vote") == 1);
  CHECK(s.duplicates == 1);
  CHECK(s.handler_seconds.count == 1);
  CHECK(s.handler_seconds.sum == doctest::Approx(0.002)); // its run, not the wait for the store
}

TEST_CASE("metrics: caught-up votes count as events, never as requests or duplicates") {
  auto m = std::make_shared<Metrics>();
  topgg::Router r;
  int seen = 0;
  r.v1_webhook("/v1", "whs_s").metrics(m).on_vote_create([&seen](const topgg::v1::VoteCreate&) { ++seen; });
  topgg::v1::VoteCreate v;
  v.project.id = "p";
  v.user.id = "u";
  v.created_at = topgg::v1::Timestamp(std::chrono::seconds(1'699'990'000));
  std::vector<topgg::Error> done;
  for (int i = 0; i < 2; ++i)
    r.deliver(v, at(0), [&done](topgg::Error e) { done.push_back(e); });
  CHECK(done == std::vector<topgg::Error>{topgg::Error::ok, topgg::Error::duplicate});
  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(seen == 1);
  CHECK(s.event("vote.create") == 1);
  CHECK(s.requests.empty());
  CHECK(s.duplicates == 0);
}

TEST_CASE("metrics: the histogram's bounds are inclusive, +Inf takes the rest") {
  topgg::Router r;
  auto m = std::make_shared<Metrics>(&set_clock);
  std::vector<std::int64_t> takes = {500'000, 500'001, 5'000'000'000, 6'000'000'000, 0};
  std::size_t next = 0;
  r.dbl_webhook("/dbl", "k").metrics(m).settings([] {
    topgg::Settings s;
    s.dedup_ttl = std::chrono::seconds(0);
    return s;
  }());
  r.on_bot_vote([&](const topgg::BotVote&) { set_ns += takes[next++]; });
  for (std::size_t i = 0; i < takes.size(); ++i)
    CHECK(handle(r, "POST", "/dbl", {{"Authorization", "k"}}, bot_body) == 200);
  const topgg::HistogramSnapshot h = m->snapshot().handler_seconds;
  CHECK(h.count == 5);
  CHECK(h.counts[0] == 2);                   // 0 and exactly 0.0005
  CHECK(h.counts[1] == 3);                   // 0.0005 s + 1 ns: le 0.001
  CHECK(h.counts[h.bounds.size() - 1] == 4); // exactly 5 s: le 5
  CHECK(h.counts.back() == 5);               // 6 s: +Inf only
  CHECK(h.bounds == std::vector<double>(Metrics::handler_buckets.begin(), Metrics::handler_buckets.end()));
  CHECK(m->snapshot().store_up == std::nullopt); // de-duplication off: no store to report
}

TEST_CASE("metrics: catch-up rounds and the last success, in the text") {
  Metrics m;
  CHECK(lines_starting(prometheus(m), "topgg_webhook_catch_up").empty()); // no catch-up: no such lines
  const auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'767'225'600'250'000));
  m.catch_up_round(false, t, 0);
  CHECK(lines_starting(prometheus(m), "topgg_webhook_catch_up_last_success").empty());
  m.catch_up_round(true, t, 3);
  m.catch_up_round(true, t - std::chrono::hours(1), 2); // told late: the newest success stays
  const topgg::MetricsSnapshot s = m.snapshot();
  CHECK(s.catch_up_rounds == 2);
  CHECK(s.catch_up_rounds_failed == 1);
  CHECK(s.catch_up_votes == 5);
  CHECK(s.catch_up_last_success == t);
  const std::string text = prometheus(m);
  CHECK(lines_starting(text, "topgg_webhook_catch_up") ==
        std::vector<std::string>{"topgg_webhook_catch_up_rounds_total{result=\"ok\"} 2",
                                 "topgg_webhook_catch_up_rounds_total{result=\"failed\"} 1",
                                 "topgg_webhook_catch_up_votes_total 5",
                                 "topgg_webhook_catch_up_last_success_timestamp_seconds 1767225600.25"});
}

TEST_CASE("metrics: two routers into one Metrics add up; no Metrics, nothing counted") {
  auto m = std::make_shared<Metrics>();
  topgg::Router a, b, off;
  for (topgg::Router* r : {&a, &b, &off})
    r->dbl_webhook("/dbl", "k").on_bot_vote([](const topgg::BotVote&) {}).on_error([](const topgg::Rejection&) {});
  a.metrics(m);
  b.metrics(m);
  CHECK(off.metrics() == nullptr);
  CHECK(handle(a, "POST", "/dbl", {}, bot_body) == 401);
  CHECK(handle(b, "POST", "/dbl", {}, bot_body) == 401);
  CHECK(handle(off, "POST", "/dbl", {}, bot_body) == 401);
  CHECK(m->snapshot().requests_at("/dbl", "401") == 2);
  a.metrics(nullptr); // off again
  CHECK(handle(a, "POST", "/dbl", {}, bot_body) == 401);
  CHECK(m->snapshot().requests_at("/dbl", "401") == 2);
}

TEST_CASE("metrics: statuses outside the usual set are counted in their class") {
  auto m = std::make_shared<Metrics>();
  topgg::Router r;
  r.metrics(m)
      .route("GET", "/teapot",
             [](const topgg::Request&) {
               return topgg::Response{418, {}, "short and stout"};
             })
      .route("GET", "/moved", [](const topgg::Request&) {
        return topgg::Response{302, {}, ""};
      });
  CHECK(handle(r, "GET", "/teapot") == 418);
  CHECK(handle(r, "GET", "/moved") == 302);
  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(s.requests_at("/teapot", "4xx") == 1);
  CHECK(s.requests_at("/moved", "3xx") == 1);
  CHECK(topgg::to_string(Refusal::signature_stale) == "signature_stale");
  CHECK(topgg::to_string(Refusal::auth_missing) == "auth_missing");
}

TEST_CASE("metrics: counted from several threads while read, none lost") {
  auto m = std::make_shared<Metrics>(&topgg::Clock::now);
  topgg::Router r;
  topgg::Settings st;
  st.dedup_ttl = std::chrono::seconds(0);
  r.dbl_webhook("/dbl", "k")
      .settings(st)
      .metrics(m)
      .on_bot_vote([](const topgg::BotVote&) {})
      .on_error([](const topgg::Rejection&) {});
  constexpr int threads = 4, each = 500;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    std::string text;
    while (!stop) {
      text.clear();
      m->write_prometheus(text);
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&r, t] {
      for (int i = 0; i < each; ++i)
        handle(r, "POST", "/dbl", {{"Authorization", (i + t) % 2 ? "k" : "no"}}, bot_body);
    });
  for (auto& t : ts)
    t.join();
  stop = true;
  reader.join();
  const topgg::MetricsSnapshot s = m->snapshot();
  CHECK(s.requests_at("/dbl", "200") + s.requests_at("/dbl", "401") == threads * each);
  CHECK(s.event("dbl_vote") == s.requests_at("/dbl", "200"));
  CHECK(s.refusals(Refusal::auth_wrong) == s.requests_at("/dbl", "401"));
  CHECK(s.handler_seconds.count == s.event("dbl_vote"));
}
