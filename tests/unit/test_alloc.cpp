// Counts heap allocations on the steady-state request path: after a warm-up,
// requests on a reused connection must not allocate at all.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "harness.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
} // namespace

// Every replaceable form is replaced so that new/delete pairs always meet
// the same allocator (sanitizers check the pairing).
namespace {
void* counted_alloc(std::size_t n) noexcept {
  if (counting.load(std::memory_order_relaxed))
    allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* counted_or_throw(std::size_t n) {
  if (void* p = counted_alloc(n))
    return p;
  throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) { return counted_or_throw(n); }
void* operator new[](std::size_t n) { return counted_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {
// Sends requests[i % size] for 10 warm-up rounds, then n counted ones.
long allocations_per_request(topgg::Router& router, const std::vector<std::string>& requests, int n,
                             int per_write = 1) {
  topgg::Connection c(router, th::at(0));
  int i = 0;
  auto once = [&] {
    c.receive(requests[static_cast<std::size_t>(i++) % requests.size()], th::at(1));
    c.consume(c.output().size());
  };
  for (int k = 0; k < 10; ++k)
    once(); // warm-up: buffers, the JSON parser, the query's storage, the store's table grow here
  allocations = 0;
  counting = true;
  for (int k = 0; k < n; ++k)
    once();
  counting = false;
  CHECK(c.requests_seen() == static_cast<std::uint64_t>((n + 10) * per_write));
  return allocations.load();
}

// `count` bot (or server) votes from different users: each is a new delivery
// for the idempotency store (claimed, then confirmed).
std::vector<std::string> distinct(std::string_view path, std::string_view auth, std::string_view target_field,
                                  int count) {
  std::vector<std::string> out;
  for (int u = 0; u < count; ++u)
    out.push_back(th::post(path, auth,
                           "{\"" + std::string(target_field) + "\":\"264811613708746752\",\"user\":\"" +
                               std::to_string(160105994217586689ULL + static_cast<unsigned>(u)) +
                               "\",\"type\":\"upvote\",\"query\":\"?ref=home\"}"));
  return out;
}
} // namespace

TEST_CASE("zero heap allocations per request on a reused connection, de-duplication on") {
  topgg::Router r;
  unsigned long long sum = 0;
  topgg::Settings s;
  s.max_requests_per_connection = 1'000'000;
  r.settings(s)
      .dbl_webhook("/dbl", "secret-key")
      .dsl_webhook("/dsl", "other-key")
      .on_bot_vote([&sum](const topgg::BotVote& v) { sum += v.user.value() + v.query.size(); })
      .on_server_vote([&sum](const topgg::ServerVote& v) { sum += v.guild.value(); })
      .on_error([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  const int n = 1000;
  const auto bots = distinct("/dbl", "secret-key", "bot", n + 10);
  const long bot = allocations_per_request(r, bots, n);
  const long server = allocations_per_request(r, distinct("/dsl", "other-key", "guild", n + 10), n);
  const long duplicate = allocations_per_request(r, bots, n); // all handled already: answered, no event
  const long refused = allocations_per_request(r, {th::post("/dbl", "wrong", th::bot_body)}, n);
  // Bodies refused with a detail that names a place or a field (written into a per-thread buffer).
  const long bad_json = allocations_per_request(
      r, {th::post("/dbl", "secret-key", std::string(40, '[') + "nope"),
          th::post("/dbl", "secret-key", R"({"bot":"1","user":"2","type":"upvote","user":"3"})")}, n);
  const long pipelined = allocations_per_request(
      r, {th::post("/dbl", "secret-key", th::bot_body) + th::post("/dsl", "other-key", th::server_body)}, n, 2);
  MESSAGE("allocations over ", n, " requests: bot ", bot, ", server ", server, ", duplicate ", duplicate,
          ", refused ", refused, ", bad JSON ", bad_json,
          ", pipelined ", pipelined);
  CHECK(bot == 0);
  CHECK(server == 0);
  CHECK(duplicate == 0);
  CHECK(refused == 0);
  CHECK(bad_json == 0);
  CHECK(pipelined == 0);
  CHECK(sum > 0);
}

TEST_CASE("v1 route: no operator new per request, de-duplication on") {
  // OpenSSL's own mallocs inside HMAC re-keying are not operator new and are
  // not counted here.
  topgg::Router r;
  topgg::Settings s;
  s.max_requests_per_connection = 1'000'000;
  s.v1_window = std::chrono::seconds(1'000'000'000); // th::at() is a fixed 2023 time
  long seen = 0;
  r.settings(s).v1_webhook("/v1", "whs_secret").on_vote_create([&seen](const topgg::v1::VoteCreate& v) {
    seen += v.weight;
  });
  r.on_warning([](std::string_view) {});
  std::vector<std::string> requests;
  for (int u = 0; u < 1010; ++u) { // a different voter each time: a new key for the store
    const std::string body =
        R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2026-02-09T00:47:14Z",)"
        R"("expires_at":"2026-02-09T12:47:14Z","project":{"id":"p","type":"bot","platform":"discord",)"
        R"("platform_id":"1"},"user":{"id":"u)" + std::to_string(1000 + u) + R"(","platform_id":"2","name":"n","avatar_url":null}}})";
    requests.push_back("POST /v1 HTTP/1.1\r\nHost: x\r\nx-topgg-signature: " +
                       topgg::v1::sign("whs_secret", 1'700'000'000, body) +
                       "\r\nx-topgg-trace: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  const long v1 = allocations_per_request(r, requests, 1000);
  MESSAGE("operator new over 1000 signed v1 requests (de-duplication on): ", v1);
  CHECK(v1 == 0);
  CHECK(seen == 1010);
}

TEST_CASE("metrics on: still zero heap allocations per request, whatever the answer") {
  topgg::Router r;
  auto metrics = std::make_shared<topgg::Metrics>(&topgg::Clock::now); // timed, as the CLI does
  unsigned long long sum = 0;
  topgg::Settings s;
  s.max_requests_per_connection = 1'000'000;
  s.v1_window = std::chrono::seconds(1'000'000'000); // th::at() is a fixed 2023 time
  r.settings(s)
      .metrics(metrics)
      .dbl_webhook("/dbl", "secret-key")
      .dsl_webhook("/dsl", "other-key")
      .v1_webhook("/v1", "whs_secret")
      .on_bot_vote([&sum](const topgg::BotVote& v) { sum += v.user.value(); })
      .on_server_vote([&sum](const topgg::ServerVote& v) { sum += v.guild.value(); })
      .on_vote_create([&sum](const topgg::v1::VoteCreate& v) { sum += static_cast<unsigned>(v.weight); })
      .on_error([](const topgg::Rejection&) {})
      .on_duplicate([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  const int n = 1000;
  const auto bots = distinct("/dbl", "secret-key", "bot", n + 10);
  std::vector<std::string> v1s;
  for (int u = 0; u < n + 10; ++u) {
    const std::string body =
        R"({"type":"vote.create","data":{"id":"1","weight":1,"created_at":"2026-02-09T00:47:14Z",)"
        R"("expires_at":"2026-02-09T12:47:14Z","project":{"id":"p","type":"bot","platform":"discord",)"
        R"("platform_id":"1"},"user":{"id":"u)" +
        std::to_string(1000 + u) + R"(","platform_id":"2","name":"n","avatar_url":null}}})";
    v1s.push_back(
        "POST /v1 HTTP/1.1\r\nHost: x\r\nx-topgg-signature: " + topgg::v1::sign("whs_secret", 1'700'000'000, body) +
        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  const long bot = allocations_per_request(r, bots, n);
  const long duplicate = allocations_per_request(r, bots, n);
  const long v1 = allocations_per_request(r, v1s, n);
  const long refused =
      allocations_per_request(r,
                              {th::post("/dbl", "wrong", th::bot_body), th::post("/dbl", "", th::bot_body),
                               "POST /v1 HTTP/1.1\r\nHost: x\r\nx-topgg-signature: t=1\r\nContent-Length: 2\r\n\r\n{}",
                               th::post("/nowhere", "", th::bot_body)},
                              n);
  const long bad_json = allocations_per_request(r, {th::post("/dbl", "secret-key", std::string(40, '[') + "nope")}, n);
  const long pipelined = allocations_per_request(
      r, {th::post("/dbl", "secret-key", th::bot_body) + th::post("/dsl", "other-key", th::server_body)}, n, 2);
  MESSAGE("allocations over ", n, " requests with metrics on: bot ", bot, ", duplicate ", duplicate, ", v1 ", v1,
          ", refused ", refused, ", bad JSON ", bad_json, ", pipelined ", pipelined);
  CHECK(bot == 0);
  CHECK(duplicate == 0);
  CHECK(v1 == 0);
  CHECK(refused == 0);
  CHECK(bad_json == 0);
  CHECK(pipelined == 0);
  const topgg::MetricsSnapshot snap = metrics->snapshot();             // and they were counted
  CHECK(snap.event("dbl_vote") == static_cast<std::uint64_t>(n + 10)); // th::bot_body's voter is bots[0]
  CHECK(snap.duplicates == static_cast<std::uint64_t>(2 * (n + 10)));
  CHECK(snap.event("vote.create") == static_cast<std::uint64_t>(n + 10));
  CHECK(snap.refusals(topgg::Refusal::auth_missing) > 0);
  CHECK(sum > 0);
}
