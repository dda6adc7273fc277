// Catch-up (api/catch_up.cpp) against mock_api.py: votes cast while no
// receiver was up reach the vote.create handler once, in order, marked as
// caught up; a vote both delivered by webhook and returned by the API is
// handled once; a failed handler leaves the mark where it was; a restart on a
// persistent store resumes from its mark; API errors are reported, never the
// token. run_api_tests.py passes the mock's address, CA and token.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <unistd.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "topgg/catch_up.hpp"
#include "topgg/metrics.hpp"
#include "topgg/sqlite_store.hpp"
#include "topgg/uv.hpp"

namespace api = topgg::api;
namespace v1 = topgg::v1;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    FAIL("run through run_api_tests.py: $" << name << " is not set");
  return v;
}

std::string fetch(const std::string& path) {
  CURL* h = curl_easy_init();
  std::string body;
  const std::string url = env("TOPGG_API_MOCK") + path;
  const std::string ca = env("TOPGG_API_CA");
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(d, s * n);
        return s * n;
      });
  REQUIRE(curl_easy_perform(h) == CURLE_OK);
  curl_easy_cleanup(h);
  return body;
}

struct MockVote {
  std::string user_id, platform_id, created_text;
  v1::Timestamp created_at;
};

const std::vector<MockVote>& mock_votes() {
  static const std::vector<MockVote> votes = [] {
    simdjson::dom::parser parser;
    const std::string text = fetch("/_votes");
    std::vector<MockVote> out;
    for (simdjson::dom::element e : simdjson::dom::array(parser.parse(text))) {
      MockVote v;
      v.user_id = std::string(std::string_view(e["user_id"]));
      v.platform_id = std::string(std::string_view(e["platform_id"]));
      v.created_text = std::string(std::string_view(e["created_at"]));
      v.created_at = *v1::parse_rfc3339(v.created_text);
      out.push_back(v);
    }
    return out;
  }();
  return votes;
}

api::CatchUpOptions options(const std::string& scenario, std::vector<std::string>* errors = nullptr) {
  static int counter = 0;
  api::CatchUpOptions o;
  o.api.token = env("TOPGG_API_TEST_TOKEN");
  o.api.base_url = env("TOPGG_API_MOCK") + "/" + scenario + "/catchup-" + std::to_string(++counter);
  o.api.ca_file = env("TOPGG_API_CA");
  o.api.min_interval = 20ms;
  o.api.backoff = 50ms;
  o.api.timeout = 30'000ms; // timeouts a busy machine does not reach: no case here is about them
  o.since = 3h;             // the mock's votes are within the last two hours
  o.vote_timeout = 30'000ms;
  if (errors)
    o.on_error = [errors](std::string_view line) { errors->emplace_back(line); };
  return o;
}

// The vote handler's view: who voted, and from where.
struct Seen {
  std::mutex m;
  std::vector<v1::VoteCreate> votes;
  std::vector<std::thread::id> threads;
  void add(const v1::VoteCreate& v) {
    std::lock_guard lock(m);
    votes.push_back(v);
    threads.push_back(std::this_thread::get_id());
  }
  std::vector<std::string> users() {
    std::lock_guard lock(m);
    std::vector<std::string> out;
    for (const auto& v : votes)
      out.push_back(v.user.id);
    return out;
  }
};

/// The mock's run name in `o`'s base URL, for its request log.
std::string run_of(const api::CatchUpOptions& o) { return o.api.base_url.substr(o.api.base_url.rfind('/') + 1); }

/// Polls `done` until it holds or 30 s pass; returns done().
template <class Done> bool eventually(Done done) {
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!done() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  return done();
}

std::vector<std::string> user_ids(std::size_t from = 0, std::size_t to = 8) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < to && i < mock_votes().size(); ++i)
    out.push_back(mock_votes()[i].user_id);
  return out;
}

// A signed vote.create for mock vote `i`, as Top.gg's webhook would send it.
topgg::Request webhook_vote(std::size_t i, std::string& body, std::string& sig, std::vector<topgg::Header>& headers) {
  const MockVote& v = mock_votes()[i];
  body = R"({"type":"vote.create","data":{"id":"webhook-)" + std::to_string(i) + R"(","weight":1,"created_at":")" +
         v.created_text + R"(","expires_at":")" + v.created_text +
         R"(","project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"264811613708746752"},)"
         R"("user":{"id":")" + v.user_id + R"(","platform_id":")" + v.platform_id + R"(","name":"n","avatar_url":null}}})";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  sig = v1::sign("whs_catchup", now.count(), body);
  headers = {{"x-topgg-signature", sig}};
  topgg::Request req;
  req.method = "POST";
  req.target = "/v1";
  req.headers = headers;
  req.body = body;
  return req;
}

} // namespace

TEST_CASE("a receiver started after votes were cast delivers each once, in order, marked as caught up") {
  topgg::Router router;
  Seen seen;
  router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { seen.add(v); });
  api::CatchUp catch_up(router, options("pages"));
  const api::CatchUpRound r = catch_up.run_once();
  CHECK_FALSE(r.error);
  CHECK(r.fetched == 8);
  CHECK(r.delivered == 8);
  CHECK(seen.users() == user_ids());
  REQUIRE(seen.votes.size() == 8);
  const v1::VoteCreate& first = seen.votes[0];
  CHECK(first.source == v1::Source::catch_up);
  CHECK(first.id.empty()); // the history has no vote ID, nor the voter's name and avatar
  CHECK(first.user.name.empty());
  CHECK(first.user.platform_id == mock_votes()[0].platform_id);
  CHECK(first.project.id == "803190510032756736");
  CHECK(first.created_at == mock_votes()[0].created_at);
  REQUIRE(r.mark);
  CHECK(*r.mark == mock_votes().back().created_at);
  CHECK(router.idempotency_store()->load_mark("catch-up/803190510032756736") == r.mark);

  // The next round re-reads an hour before the mark: all known, none delivered again.
  const api::CatchUpRound again = catch_up.run_once();
  CHECK(again.delivered == 0);
  CHECK(again.duplicates == again.fetched);
  CHECK(again.fetched > 0);
  CHECK(seen.votes.size() == 8);
}

TEST_CASE("a vote delivered by webhook and returned by the API reaches the handler once") {
  topgg::Router router;
  Seen seen;
  router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { seen.add(v); });
  std::string body, sig;
  std::vector<topgg::Header> headers;
  int status = 0;
  router.handle(webhook_vote(3, body, sig, headers), topgg::Now::current(),
                [&](topgg::Response res) { status = res.status; });
  CHECK(status == 204);
  REQUIRE(seen.votes.size() == 1);
  CHECK(seen.votes[0].source == v1::Source::webhook);

  api::CatchUp catch_up(router, options("pages"));
  const api::CatchUpRound r = catch_up.run_once();
  CHECK(r.delivered == 7);
  CHECK(r.duplicates == 1);
  std::vector<std::string> expected = user_ids();
  expected.erase(expected.begin() + 3);
  expected.insert(expected.begin(), mock_votes()[3].user_id); // the webhook's came first
  CHECK(seen.users() == expected);

  // And the other way round: caught up first, then Top.gg's (late) webhook retry.
  router.handle(webhook_vote(5, body, sig, headers), topgg::Now::current(),
                [&](topgg::Response res) { status = res.status; });
  CHECK(status == 204);
  CHECK(seen.votes.size() == 8);
}

TEST_CASE("a failed handler leaves the mark before it, and the next round delivers it") {
  topgg::Router router;
  Seen seen;
  std::atomic<bool> fail{true};
  router.v1_webhook("/v1", "whs_catchup")
      .on_vote_create([&](const v1::VoteCreate& v) {
        if (fail && v.user.id == mock_votes()[4].user_id)
          throw std::runtime_error("database down");
        seen.add(v);
      })
      .on_error([](const topgg::Rejection&) {});
  api::CatchUpOptions o = options("pages");
  o.overlap = 24h; // re-read everything: the point is what the mark is
  api::CatchUp catch_up(router, o);
  api::CatchUpRound r = catch_up.run_once();
  CHECK(r.failed == 1);
  CHECK(r.delivered == 7); // the ones after it are handled too (and remembered)
  REQUIRE(r.mark);
  CHECK(*r.mark == mock_votes()[3].created_at); // not past the failed one
  fail = false;
  r = catch_up.run_once();
  CHECK(r.delivered == 1);
  CHECK(r.failed == 0);
  CHECK(*r.mark == mock_votes().back().created_at);
  CHECK(seen.votes.size() == 8);
}

TEST_CASE("restarted on a persistent store, it resumes from its mark: no vote twice, none skipped") {
  const auto dir = std::filesystem::temp_directory_path() / ("topgg-catchup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "dedup.db").string();
  std::vector<std::string> all;
  {
    topgg::Router router; // the first run: votes 0..4 reach it live, then it stops
    router.idempotency_store(std::make_shared<topgg::SqliteStore>(file));
    router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { all.push_back(v.user.id); });
    std::string body, sig;
    std::vector<topgg::Header> headers;
    for (std::size_t i = 0; i < 5; ++i)
      router.handle(webhook_vote(i, body, sig, headers), topgg::Now::current(), [](topgg::Response) {});
    api::CatchUp catch_up(router, options("empty")); // nothing new in the history yet: the mark comes from live votes
    const api::CatchUpRound r = catch_up.run_once();
    REQUIRE(r.mark);
    CHECK(*r.mark == mock_votes()[4].created_at);
  }
  {
    topgg::Router router; // restarted on the same file: votes 5..7 were cast meanwhile
    router.idempotency_store(std::make_shared<topgg::SqliteStore>(file));
    router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { all.push_back(v.user.id); });
    api::CatchUp catch_up(router, options("pages"));
    const api::CatchUpRound r = catch_up.run_once();
    CHECK(r.delivered == 3);
    CHECK(r.since == *v1::parse_rfc3339(mock_votes()[4].created_text) - std::chrono::hours(1));
  }
  CHECK(all == user_ids());
  std::filesystem::remove_all(dir);
}

TEST_CASE("each round is counted — in stats() and in the Router's Metrics: votes, results, the last success") {
  auto metrics = std::make_shared<topgg::Metrics>();
  topgg::Router router;
  Seen seen;
  std::atomic<bool> fail{true};
  router.metrics(metrics)
      .v1_webhook("/v1", "whs_catchup")
      .on_vote_create([&](const v1::VoteCreate& v) {
        if (fail && v.user.id == mock_votes()[4].user_id)
          throw std::runtime_error("database down");
        seen.add(v);
      })
      .on_error([](const topgg::Rejection&) {});
  api::CatchUpOptions o = options("pages");
  o.overlap = 24h;
  api::CatchUp catch_up(router, o);
  CHECK(catch_up.stats().rounds == 0);
  CHECK_FALSE(catch_up.stats().last_success);
  const auto before = std::chrono::system_clock::now();
  catch_up.run_once(); // vote 4 fails: the round did not succeed
  api::CatchUpStats st = catch_up.stats();
  CHECK(st.rounds == 0);
  CHECK(st.rounds_failed == 1);
  CHECK(st.votes == 7);
  CHECK_FALSE(st.last_success);
  fail = false;
  catch_up.run_once();
  st = catch_up.stats();
  CHECK(st.rounds == 1);
  CHECK(st.votes == 8);
  REQUIRE(st.last_success);
  CHECK(*st.last_success >= before);
  const topgg::MetricsSnapshot m = metrics->snapshot();
  CHECK(m.catch_up_rounds == 1);
  CHECK(m.catch_up_rounds_failed == 1);
  CHECK(m.catch_up_votes == 8);
  CHECK(m.catch_up_last_success == std::chrono::floor<std::chrono::microseconds>(*st.last_success));
  CHECK(m.event("vote.create") == 9); // handed to the handler: vote 4 twice (it threw the first time)
  CHECK(m.handler_failures == 1);
  CHECK(m.requests.empty()); // caught-up votes are no HTTP requests

  o.api.token = "wrong-token-0123456789"; // an API error: a failed round
  o.on_error = [](std::string_view) {};
  api::CatchUp refused(router, o);
  refused.run_once();
  CHECK(refused.stats().rounds_failed == 1);
  CHECK(metrics->snapshot().catch_up_rounds_failed == 2);
}

TEST_CASE("401: one clear line, the round ends, the mark stays; the token is in no message") {
  topgg::Router router;
  Seen seen;
  router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { seen.add(v); });
  std::vector<std::string> errors;
  api::CatchUpOptions o = options("pages", &errors);
  o.api.token = "wrong-token-0123456789";
  api::CatchUp catch_up(router, o);
  const api::CatchUpRound r = catch_up.run_once();
  REQUIRE(r.error);
  CHECK(r.error->kind == api::ErrorKind::unauthorized);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("token refused (401)") != std::string::npos);
  CHECK(errors[0].find("wrong-token") == std::string::npos);
  CHECK(errors[0].find(env("TOPGG_API_TEST_TOKEN")) == std::string::npos);
  CHECK(seen.votes.empty());
  CHECK_FALSE(router.idempotency_store()->load_mark("catch-up/803190510032756736"));
}

TEST_CASE("no vote.create handler: one line, each round stops at its first vote, the mark stays") {
  topgg::Router router;
  router.v1_webhook("/v1", "whs_catchup").on_warning([](std::string_view) {});
  std::vector<std::string> errors;
  api::CatchUp catch_up(router, options("pages", &errors));
  for (int round = 0; round < 2; ++round) {
    const api::CatchUpRound r = catch_up.run_once();
    CHECK_FALSE(r.error);
    CHECK(r.fetched == 1); // not the whole history, again and again
    CHECK(r.failed == 1);
    CHECK(r.delivered == 0);
  }
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("no vote.create handler") != std::string::npos);
  CHECK_FALSE(router.idempotency_store()->load_mark("catch-up/803190510032756736"));
}

TEST_CASE("429 with Retry-After is honoured and the round completes") {
  topgg::Router router;
  Seen seen;
  router.v1_webhook("/v1", "whs_catchup").on_vote_create([&](const v1::VoteCreate& v) { seen.add(v); });
  api::CatchUp catch_up(router, options("rate"));
  const auto t0 = std::chrono::steady_clock::now();
  const api::CatchUpRound r = catch_up.run_once();
  CHECK(std::chrono::steady_clock::now() - t0 >= 1s);
  CHECK_FALSE(r.error);
  CHECK(r.delivered == 8);
}

TEST_CASE("with a WebhookManager, caught-up votes are handled on its loop thread, beside live ones") {
  topgg::uv::WebhookManager m;
  Seen seen;
  std::thread::id loop_thread;
  m.v1_webhook("/v1", "whs_catchup")
      .route("GET", "/where", [&](const topgg::Request&) {
        loop_thread = std::this_thread::get_id();
        return topgg::Response{};
      })
      .on_vote_create([&](const v1::VoteCreate& v) { seen.add(v); })
      .on_warning([](std::string_view) {});
  m.run(0, "127.0.0.1");
  REQUIRE(m.post([&] { loop_thread = std::this_thread::get_id(); }));
  api::CatchUpOptions o = options("pages");
  o.every = 3600s;
  api::CatchUp catch_up(m, o);
  catch_up.start(); // the first round now, on its own thread
  CHECK(eventually([&] { return seen.users().size() >= 8; }));
  const auto t0 = std::chrono::steady_clock::now();
  catch_up.stop(); // waiting for the next round: stops at once
  CHECK(std::chrono::steady_clock::now() - t0 < 10s); // not the hour until the next round
  CHECK(seen.users() == user_ids());
  for (std::thread::id t : seen.threads)
    CHECK(t == loop_thread);
  m.close();
}

TEST_CASE("stop() cancels a round waiting on a slow API promptly") {
  topgg::Router router;
  router.v1_webhook("/v1", "whs_catchup").on_vote_create([](const v1::VoteCreate&) {});
  const api::CatchUpOptions o = options("slow");
  api::CatchUp catch_up(router, o);
  catch_up.start();
  // The round's request has reached the mock, whose answer is 30 s away.
  CHECK(eventually([&] { return fetch("/_log/" + run_of(o)).find("\"endpoint\"") != std::string::npos; }));
  const auto t0 = std::chrono::steady_clock::now();
  catch_up.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s); // not the answer's 30 s, however busy the machine
}
