// The API client against mock_api.py (started by run_api_tests.py, which passes its address, CA
// and token in the environment). Each case uses its own run name, so the mock's per-run state and
// request log belong to that case alone.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client_impl.hpp" // detail::attempt_started
#include "topgg/api.hpp"
#include "topgg/version.hpp"

namespace api = topgg::api;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    FAIL("run through run_api_tests.py: $" << name << " is not set");
  return v;
}

const std::string& token() {
  static const std::string t = env("TOPGG_API_TEST_TOKEN");
  return t;
}
const std::string& mock_url() {
  static const std::string u = env("TOPGG_API_MOCK");
  return u;
}
const std::string& ca_file() {
  static const std::string c = env("TOPGG_API_CA");
  return c;
}

/// A fresh run of `scenario` on the mock, with quick pacing and back-off, and timeouts a busy
/// machine does not reach (cases about timeouts set their own).
api::Options options(const std::string& scenario, std::string& run) {
  static int counter = 0;
  run = scenario + "-" + std::to_string(++counter);
  api::Options o;
  o.token = token();
  o.base_url = mock_url() + "/" + scenario + "/" + run;
  o.ca_file = ca_file();
  o.timeout = 30'000ms;
  o.connect_timeout = 10'000ms;
  o.min_interval = 20ms;
  o.backoff = 50ms;
  o.max_backoff = 400ms;
  return o;
}

api::Client make(api::Options o) {
  auto c = api::Client::create(std::move(o));
  REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
  return std::move(c).value();
}

/// Every error of every case passes here: its message must not hold the token.
void no_token(const api::Error& e) {
  CHECK_MESSAGE(e.message.find(token()) == std::string::npos, "an error message contains the token");
  CHECK(!e.message.empty());
}

template <class T> api::Error error_of(const api::Result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  no_token(r.error());
  return r.error();
}

std::string fetch(const std::string& path) {
  CURL* h = curl_easy_init();
  std::string body;
  const std::string url = mock_url() + path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CAINFO, ca_file().c_str());
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(d, s * n);
        return s * n;
      });
  const CURLcode rc = curl_easy_perform(h);
  curl_easy_cleanup(h);
  REQUIRE_MESSAGE(rc == CURLE_OK, "mock control request failed: " << curl_easy_strerror(rc));
  return body;
}

/// The mock's answer to `path`, or nothing: for threads other than the test's, where a failed
/// REQUIRE cannot stop the case.
std::optional<std::string> fetch_quietly(const std::string& path) {
  CURL* h = curl_easy_init();
  std::string body;
  const std::string url = mock_url() + path;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CAINFO, ca_file().c_str());
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(d, s * n);
        return s * n;
      });
  const CURLcode rc = curl_easy_perform(h);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK)
    return std::nullopt;
  return body;
}

/// Waits (up to 30 s) until the mock has logged a request of `run`: the client is waiting for its
/// answer, or already for what the answer asked. False if none came.
bool request_arrived(const std::string& run) {
  const auto until = Clock::now() + 30s;
  for (; Clock::now() < until; std::this_thread::sleep_for(10ms))
    if (auto log = fetch_quietly("/_log/" + run); log && log->find("\"endpoint\"") != std::string::npos)
      return true;
  return false;
}

/// Collects the start of every attempt, as the client decides it (after pacing), from any thread,
/// while it lives.
class AttemptStarts {
public:
  AttemptStarts() {
    current_ = this;
    api::detail::attempt_started = &record;
  }
  ~AttemptStarts() {
    api::detail::attempt_started = nullptr;
    current_ = nullptr;
  }
  AttemptStarts(const AttemptStarts&) = delete;
  AttemptStarts& operator=(const AttemptStarts&) = delete;
  std::vector<Clock::time_point> times() {
    std::lock_guard lock(m_);
    return times_;
  }

private:
  static void record(Clock::time_point t) {
    std::lock_guard lock(current_->m_);
    current_->times_.push_back(t);
  }
  static inline AttemptStarts* current_ = nullptr;
  std::mutex m_;
  std::vector<Clock::time_point> times_;
};

struct Logged {
  double t = 0, answered = 0;
  std::string endpoint;
  std::map<std::string, std::string> query;
  bool auth_ok = false;
  std::string user_agent, accept;
  int status = 0;
  std::vector<std::string> problems;
};

std::vector<Logged> request_log(const std::string& run) {
  simdjson::dom::parser parser;
  const std::string text = fetch("/_log/" + run);
  simdjson::dom::array arr;
  REQUIRE(parser.parse(text).get_array().get(arr) == simdjson::SUCCESS);
  std::vector<Logged> out;
  for (simdjson::dom::element e : arr) {
    Logged l;
    l.t = double(e["t"]);
    if (!e["answered"].is_null())
      l.answered = double(e["answered"]);
    l.endpoint = std::string(std::string_view(e["endpoint"]));
    for (auto [k, v] : simdjson::dom::object(e["query"]))
      l.query[std::string(k)] = std::string(std::string_view(v));
    l.auth_ok = bool(e["auth_ok"]);
    l.user_agent = std::string(std::string_view(e["user_agent"]));
    l.accept = std::string(std::string_view(e["accept"]));
    l.status = int(int64_t(e["status"]));
    for (simdjson::dom::element p : simdjson::dom::array(e["problems"]))
      l.problems.emplace_back(std::string_view(p));
    out.push_back(std::move(l));
  }
  return out;
}

struct Expected {
  std::string user_id, platform_id;
  std::int64_t weight;
  topgg::v1::Timestamp created_at, expires_at;
};

/// The votes the mock holds, oldest first, decoded independently of the client.
const std::vector<Expected>& mock_votes() {
  static const std::vector<Expected> votes = [] {
    simdjson::dom::parser parser;
    const std::string text = fetch("/_votes");
    std::vector<Expected> out;
    for (simdjson::dom::element e : simdjson::dom::array(parser.parse(text))) {
      Expected v;
      v.user_id = std::string(std::string_view(e["user_id"]));
      v.platform_id = std::string(std::string_view(e["platform_id"]));
      v.weight = int64_t(e["weight"]);
      v.created_at = *topgg::v1::parse_rfc3339(std::string_view(e["created_at"]));
      v.expires_at = *topgg::v1::parse_rfc3339(std::string_view(e["expires_at"]));
      out.push_back(v);
    }
    return out;
  }();
  return votes;
}

topgg::v1::Timestamp hours_ago(int h) {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()) -
         std::chrono::hours(h);
}

void check_same(const api::VoteRecord& got, const Expected& want) {
  CHECK(got.user_id == want.user_id);
  CHECK(got.platform_id == want.platform_id);
  CHECK(got.weight == want.weight);
  CHECK(got.created_at == want.created_at);
  CHECK(got.expires_at == want.expires_at);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

} // namespace

TEST_CASE("pages: every record of every page, in order, exactly once") {
  std::string run;
  auto client = make(options("pages", run));
  std::vector<api::VoteRecord> got;
  auto at = client.for_each_vote(hours_ago(3), [&](const api::VoteRecord& r) {
    got.push_back(r);
    return true;
  });
  REQUIRE(at.has_value());
  const auto& want = mock_votes();
  REQUIRE(want.size() == 8);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    check_same(got[i], want[i]);
  REQUIRE(at->last.has_value());
  CHECK(at->last->user_id == want.back().user_id);
  CHECK_FALSE(at->cursor.empty()); // the request that fetched the empty page: where a later poll resumes

  const auto log = request_log(run);
  REQUIRE(log.size() == 4); // pages of 3, 3, 2, then the empty one
  CHECK(log[0].query.count("startDate") == 1);
  CHECK(log[0].query.count("cursor") == 0);
  for (std::size_t i = 1; i < log.size(); ++i) {
    CHECK(log[i].query.count("cursor") == 1); // cursor alone: never both
    CHECK(log[i].query.count("startDate") == 0);
  }
  for (const auto& l : log) {
    CHECK(l.endpoint == "votes");
    CHECK(l.auth_ok);
    CHECK(l.status == 200);
    CHECK(l.problems.empty());
    CHECK(l.user_agent == "topgg-webhook/" TOPGG_WEBHOOK_VERSION);
    CHECK(l.accept == "application/json");
  }
  // Resuming from the returned position asks again from the last cursor and finds nothing new.
  api::VotePosition again = *at;
  int more = 0;
  auto stats = client.for_each_vote(again, [&](const api::VoteRecord&) { return ++more, true; });
  REQUIRE(stats.has_value());
  CHECK(more == 0);
  CHECK(stats->complete);
  CHECK(stats->pages == 1);
  CHECK(again.cursor == at->cursor);
}

TEST_CASE("pacing: requests start at least min_interval apart") {
  std::string run;
  auto o = options("pages", run);
  o.min_interval = 150ms;
  auto client = make(std::move(o));
  AttemptStarts starts;
  const auto t0 = Clock::now();
  auto at = client.for_each_vote(hours_ago(3), [](const api::VoteRecord&) { return true; });
  REQUIRE(at.has_value());
  REQUIRE(request_log(run).size() == 4);
  // The client's own start times: arrival times at the mock would also measure the network and
  // the mock's scheduling, and come closer together than the client sent them on a busy machine.
  const auto t = starts.times();
  REQUIRE(t.size() == 4);
  for (std::size_t i = 1; i < t.size(); ++i)
    CHECK(t[i] - t[i - 1] >= 150ms);
  CHECK(seconds_since(t0) >= 0.45);
}

TEST_CASE("votes_page: startDate floored to the second, then cursors URL-encoded") {
  std::string run;
  auto client = make(options("pages", run));
  const auto& want = mock_votes();
  // Half a second after vote 3 was cast, in the same second: flooring includes vote 3 again
  // rather than risking a miss.
  const auto since = want[3].created_at + 500ms;
  REQUIRE(std::chrono::floor<std::chrono::seconds>(since) ==
          std::chrono::floor<std::chrono::seconds>(want[3].created_at));
  auto first = client.votes_page(since);
  REQUIRE(first.has_value());
  REQUIRE(first->records.size() == 3);
  check_same(first->records[0], want[3]);
  REQUIRE(first->cursor.find_first_of("+/=") != std::string::npos); // needs percent-encoding
  auto second = client.votes_page(std::string_view(first->cursor));
  REQUIRE(second.has_value());
  REQUIRE(second->records.size() == 2);
  check_same(second->records[1], want[7]);
  auto third = client.votes_page(std::string_view(second->cursor));
  REQUIRE(third.has_value());
  CHECK(third->records.empty());

  const auto log = request_log(run);
  REQUIRE(log.size() == 3);
  CHECK(log[0].query.at("startDate") == api::format_start_date(since));
  CHECK(log[0].query.at("startDate").find('.') == std::string::npos);
  CHECK(log[1].query.at("cursor") == first->cursor); // arrived intact: '+' not turned into ' '
  CHECK(log[2].query.at("cursor") == second->cursor);
  for (const auto& l : log)
    CHECK(l.problems.empty());

  CHECK(error_of(client.votes_page(std::string_view())).kind == api::ErrorKind::invalid_argument);
}

TEST_CASE("for_each_vote: a stop leaves a position that resumes without skipping") {
  std::string run;
  auto client = make(options("pages", run));
  const auto& want = mock_votes();
  auto at = api::VotePosition::starting_at(hours_ago(3));
  std::vector<std::string> seen;
  auto stats = client.for_each_vote(at, [&](const api::VoteRecord& r) {
    if (r.user_id == want[4].user_id) // refuse the 5th record (second of page 2)
      return false;
    seen.push_back(r.user_id);
    return true;
  });
  REQUIRE(stats.has_value());
  CHECK_FALSE(stats->complete);
  CHECK(stats->records == 4);
  CHECK(stats->pages == 2);
  REQUIRE(at.last.has_value());
  CHECK(at.last->user_id == want[3].user_id);
  CHECK_FALSE(at.cursor.empty()); // the cursor that fetched page 2

  // Resume: page 2 is fetched again whole, so vote 3 comes a second time (de-duplicated by the
  // caller) and votes 4..7 once; nothing is skipped.
  std::vector<std::string> resumed;
  stats = client.for_each_vote(at, [&](const api::VoteRecord& r) {
    resumed.push_back(r.user_id);
    return true;
  });
  REQUIRE(stats.has_value());
  CHECK(stats->complete);
  REQUIRE(resumed.size() == 5);
  for (std::size_t i = 0; i < resumed.size(); ++i)
    CHECK(resumed[i] == want[3 + i].user_id);
}

TEST_CASE("a callback that throws: callback_failed, position kept at its page") {
  std::string run;
  auto client = make(options("pages", run));
  auto at = api::VotePosition::starting_at(hours_ago(3));
  int calls = 0;
  auto stats = client.for_each_vote(at, [&](const api::VoteRecord&) -> bool {
    if (++calls == 2)
      throw std::runtime_error("database down");
    return true;
  });
  const auto e = error_of(stats);
  CHECK(e.kind == api::ErrorKind::callback_failed);
  CHECK(e.message.find("database down") != std::string::npos);
  CHECK(at.cursor.empty()); // still the first request (startDate)
  REQUIRE(at.last.has_value());
  CHECK(at.last->user_id == mock_votes()[0].user_id);
}

TEST_CASE("empty history: one request, complete") {
  std::string run;
  auto client = make(options("empty", run));
  int calls = 0;
  auto at = api::VotePosition::starting_at(hours_ago(3));
  auto stats = client.for_each_vote(at, [&](const api::VoteRecord&) { return ++calls, true; });
  REQUIRE(stats.has_value());
  CHECK(stats->complete);
  CHECK(stats->pages == 1);
  CHECK(calls == 0);
  CHECK(at.cursor.empty());
  CHECK_FALSE(at.last.has_value());
  CHECK(request_log(run).size() == 1);
}

TEST_CASE("project(): GET /projects/@me") {
  std::string run;
  auto client = make(options("pages", run));
  auto p = client.project();
  REQUIRE(p.has_value());
  CHECK(p->id == "803190510032756736");
  CHECK(p->name == "Test Bot");
  CHECK(p->type == "bot");
  CHECK(p->platform == "discord");
  CHECK(p->platform_id == "264811613708746752");
  const auto v1 = p->as_v1();
  CHECK(v1.id == p->id);
  CHECK(v1.platform_id == p->platform_id);
  const auto log = request_log(run);
  REQUIRE(log.size() == 1);
  CHECK(log[0].endpoint == "project");
  CHECK(log[0].auth_ok);
}

TEST_CASE("unknown fields and enum values are tolerated") {
  std::string run;
  auto client = make(options("extra", run));
  auto p = client.project();
  REQUIRE(p.has_value());
  CHECK(p->type == "a-new-type");
  CHECK(p->platform == "a-new-platform");
  CHECK(p->platform_id.empty()); // absent
  std::size_t n = 0;
  auto at = client.for_each_vote(hours_ago(3), [&](const api::VoteRecord& r) {
    check_same(r, mock_votes()[n++]);
    return true;
  });
  REQUIRE(at.has_value());
  CHECK(n == mock_votes().size());
}

TEST_CASE("a record yields the same de-duplication key as the webhook's vote.create") {
  std::string run;
  auto client = make(options("pages", run));
  auto page = client.votes_page(hours_ago(3));
  REQUIRE(page.has_value());
  REQUIRE_FALSE(page->records.empty());
  const api::VoteRecord& r = page->records[0];
  // The same vote as Top.gg's webhook would deliver it, created_at with 7 digits.
  const std::string body =
      R"({"type":"vote.create","data":{"id":"808499215864008704","weight":)" + std::to_string(r.weight) +
      R"(,"created_at":")" + std::string(api::format_start_date(r.created_at)).insert(19, ".1457331") +
      R"(","expires_at":"2026-01-28T14:19:19.145733Z","project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"1"},"user":{"id":")" +
      r.user_id + R"(","platform_id":")" + r.platform_id + R"(","name":"n","avatar_url":null}}})";
  topgg::v1::Event ev;
  REQUIRE(topgg::v1::decode(body, ev).error == topgg::Error::ok);
  REQUIRE(ev.type == topgg::v1::EventType::vote_create);
  CHECK(ev.get<topgg::v1::VoteCreate>().user.id == r.user_id);
  CHECK(ev.get<topgg::v1::VoteCreate>().user.platform_id == r.platform_id);
  CHECK(std::chrono::floor<std::chrono::seconds>(ev.get<topgg::v1::VoteCreate>().created_at) ==
        std::chrono::floor<std::chrono::seconds>(r.created_at));
}

TEST_CASE("429: Retry-After in seconds is honoured") {
  std::string run;
  auto client = make(options("rate", run));
  std::size_t n = 0;
  auto at = client.for_each_vote(hours_ago(3), [&](const api::VoteRecord&) { return ++n, true; });
  REQUIRE(at.has_value());
  CHECK(n == mock_votes().size());
  const auto log = request_log(run);
  REQUIRE(log.size() == 5);
  CHECK(log[0].status == 429);
  CHECK(log[1].status == 200);
  CHECK(log[1].t - log[0].t >= 1.0);   // asked again once the 429 came, plus the 1 s asked for
  CHECK(log[1].t - log[0].t < 6.0);    // and not much later, however busy the machine (not 10 s, not 60)
  CHECK(log[1].query == log[0].query); // the same request again
}

TEST_CASE("429: Retry-After as an HTTP-date is honoured") {
  std::string run;
  auto client = make(options("ratedate", run));
  auto page = client.votes_page(hours_ago(3));
  REQUIRE(page.has_value());
  const auto log = request_log(run);
  REQUIRE(log.size() == 2);
  CHECK(log[0].status == 429);
  CHECK(log[1].t - log[0].t >= 1.0); // the date was 1 to 2 s ahead (HTTP-dates have whole seconds)
  CHECK(log[1].t - log[0].t < 8.0);  // and not much more, however busy the machine
}

TEST_CASE("429: a Retry-After beyond max_retry_after is returned at once") {
  std::string run;
  auto o = options("ratelong", run);
  o.max_retry_after = 30s;
  auto client = make(std::move(o));
  const auto t0 = Clock::now();
  const auto e = error_of(client.votes_page(hours_ago(3)));
  CHECK(e.kind == api::ErrorKind::rate_limited);
  CHECK(e.http_status == 429);
  CHECK(e.retry_after == 3600s);
  CHECK(seconds_since(t0) < 20.0); // did not wait, not even max_retry_after
  CHECK(request_log(run).size() == 1);
}

TEST_CASE("500 then success: retried after the back-off") {
  std::string run;
  auto client = make(options("flaky", run));
  auto page = client.votes_page(hours_ago(3));
  REQUIRE(page.has_value());
  CHECK(page->records.size() == 3);
  const auto log = request_log(run);
  REQUIRE(log.size() == 2);
  CHECK(log[0].status == 500);
  CHECK(log[1].status == 200);
  CHECK(log[1].t - log[0].t >= 0.045); // backoff 50 ms
}

TEST_CASE("5xx every time: server error after max_retries + 1 attempts, backing off") {
  std::string run;
  auto o = options("down", run);
  o.max_retries = 3;
  auto client = make(std::move(o));
  const auto e = error_of(client.votes_page(hours_ago(3)));
  CHECK(e.kind == api::ErrorKind::server);
  CHECK(e.http_status == 503);
  const auto log = request_log(run);
  REQUIRE(log.size() == 4);
  CHECK(log[1].t - log[0].t >= 0.045); // 50, 100, 200 ms
  CHECK(log[2].t - log[1].t >= 0.095);
  CHECK(log[3].t - log[2].t >= 0.195);
}

TEST_CASE("401: unauthorized, not retried, the token in no message") {
  std::string run;
  auto o = options("pages", run);
  o.token = "not-" + token();
  o.max_retries = 5;
  auto client = make(std::move(o));
  auto e = error_of(client.votes_page(hours_ago(3)));
  CHECK(e.kind == api::ErrorKind::unauthorized);
  CHECK(e.http_status == 401);
  CHECK(e.message.find("not-") == std::string::npos);
  e = error_of(client.project());
  CHECK(e.kind == api::ErrorKind::unauthorized);
  const auto log = request_log(run);
  REQUIRE(log.size() == 2); // one per call: no retry
  CHECK_FALSE(log[0].auth_ok);
}

TEST_CASE("404: not_found, not retried") {
  std::string run;
  auto client = make(options("notfound", run));
  CHECK(error_of(client.project()).kind == api::ErrorKind::not_found);
  CHECK(error_of(client.votes_page(hours_ago(3))).http_status == 404);
  CHECK(request_log(run).size() == 2);
}

TEST_CASE("400 quoting the token back: invalid_argument, the token scrubbed from the message") {
  std::string run;
  auto client = make(options("echo400", run));
  const auto e = error_of(client.votes_page(hours_ago(3)));
  CHECK(e.kind == api::ErrorKind::invalid_argument);
  CHECK(e.http_status == 400);
  CHECK(e.message.find("<token>") != std::string::npos); // the server's text is kept, minus the token
}

TEST_CASE("timeout: a slow answer fails within the bound") {
  std::string run;
  auto o = options("slow", run);
  o.timeout = 300ms;
  o.max_retries = 0;
  auto client = make(std::move(o));
  const auto t0 = Clock::now();
  const auto e = error_of(client.votes_page(hours_ago(3)));
  const double took = seconds_since(t0);
  CHECK(e.kind == api::ErrorKind::timeout);
  CHECK(e.http_status == 0);
  CHECK(took >= 0.25);
  CHECK(took < 10.0); // long before the answer (30 s), however busy the machine
  CHECK(request_log(run).size() == 1);

  // Timeouts are retried like network errors.
  auto o2 = options("slow", run);
  o2.timeout = 200ms;
  o2.max_retries = 1;
  auto retried = make(std::move(o2));
  CHECK(error_of(retried.votes_page(hours_ago(3))).kind == api::ErrorKind::timeout);
  CHECK(request_log(run).size() == 2);
}

TEST_CASE("TLS: the peer and the host name are verified") {
  std::string run;
  SUBCASE("a CA that did not sign the server's certificate") {
    auto o = options("pages", run);
    o.ca_file = env("TOPGG_API_OTHER_CA");
    auto client = make(std::move(o));
    const auto e = error_of(client.votes_page(hours_ago(3)));
    CHECK(e.kind == api::ErrorKind::tls);
  }
  SUBCASE("the system's CAs, which do not know the self-signed test certificate") {
    auto o = options("pages", run);
    o.ca_file.clear();
    auto client = make(std::move(o));
    CHECK(error_of(client.votes_page(hours_ago(3))).kind == api::ErrorKind::tls);
  }
  SUBCASE("a trusted certificate for another host name") {
    auto o = options("pages", run);
    o.base_url = env("TOPGG_API_OTHER_MOCK") + "/pages/" + run;
    o.ca_file = env("TOPGG_API_OTHER_CA");
    auto client = make(std::move(o));
    const auto e = error_of(client.votes_page(hours_ago(3)));
    CHECK(e.kind == api::ErrorKind::tls);
  }
  CHECK(request_log(run).empty()); // no request got past the handshake
}

// Run alone by `run_api_tests.py ca-only`, in a mount namespace whose /etc/ssl/certs (libcurl's CA
// directory on Debian) holds CA "system" under its hashed name, and whose $SSL_CERT_FILE and
// $SSL_CERT_DIR name it too; $TOPGG_API_MOCK's certificate is signed by CA "system",
// $TOPGG_API_OTHER_MOCK's by CA "other". Skipped in the ordinary run, which has no such directory.
TEST_CASE("TLS: a ca_file is the only trust: the system's CA directory is not searched beside it" * doctest::skip()) {
  std::string run;
  SUBCASE("without ca_file the system's CAs trust CA system (the test's premise)") {
    auto o = options("pages", run);
    o.ca_file.clear();
    auto client = make(std::move(o));
    const auto page = client.votes_page(hours_ago(3));
    CHECK_MESSAGE(page.has_value(), (page ? "" : page.error().message));
  }
  SUBCASE("ca_file CA other: a server signed by CA system is refused") {
    auto o = options("pages", run);
    o.ca_file = env("TOPGG_API_OTHER_CA");
    auto client = make(std::move(o));
    CHECK(error_of(client.votes_page(hours_ago(3))).kind == api::ErrorKind::tls);
    CHECK(request_log(run).empty()); // no request got past the handshake
  }
  SUBCASE("ca_file CA other: a server signed by CA other is trusted") {
    auto o = options("pages", run);
    o.base_url = env("TOPGG_API_OTHER_MOCK") + "/pages/" + run;
    o.ca_file = env("TOPGG_API_OTHER_CA");
    auto client = make(std::move(o));
    const auto page = client.votes_page(hours_ago(3));
    CHECK_MESSAGE(page.has_value(), (page ? "" : page.error().message));
  }
}

TEST_CASE("https only: other schemes are refused before any request") {
  std::string run;
  for (std::string base : {std::string("http://127.0.0.1:1/api/v1"), std::string(mock_url()).replace(0, 5, "http"),
                           std::string("ftp://top.gg/api/v1"), std::string("top.gg/api/v1"), std::string(""),
                           std::string("https://"), std::string("https://top.gg/api/v1?x=1")}) {
    auto o = options("pages", run);
    o.base_url = base;
    auto c = api::Client::create(std::move(o));
    CAPTURE(base);
    CHECK(error_of(c).kind == api::ErrorKind::invalid_argument);
  }
  auto o = options("pages", run);
  o.base_url = "HTTPS://127.0.0.1:" + mock_url().substr(mock_url().rfind(':') + 1) + "/pages/" + run + "/";
  auto c = api::Client::create(std::move(o)); // scheme case-insensitive, trailing '/' ignored
  REQUIRE(c.has_value());
  CHECK(c->votes_page(hours_ago(3)).has_value());
  CHECK(request_log(run).size() == 1);
}

TEST_CASE("options refused: no token, a token that would break the header, an unreadable CA file") {
  std::string run;
  for (std::string bad :
       {std::string(""), token() + "\r\nX-Evil: 1", std::string("has space"), std::string("caf\xc3\xa9")}) {
    auto o = options("pages", run);
    o.token = bad;
    const auto e = error_of(api::Client::create(std::move(o)));
    CHECK(e.kind == api::ErrorKind::invalid_argument);
  }
  auto o = options("pages", run);
  o.ca_file = "/nonexistent/ca.pem";
  CHECK(error_of(api::Client::create(std::move(o))).kind == api::ErrorKind::invalid_argument);
  auto o2 = options("pages", run);
  o2.timeout = 0ms;
  CHECK(error_of(api::Client::create(std::move(o2))).kind == api::ErrorKind::invalid_argument);
  CHECK(request_log(run).empty());
}

TEST_CASE("startDate more than a year back: refused without a request") {
  std::string run;
  auto client = make(options("pages", run));
  const auto e = error_of(client.votes_page(hours_ago(24 * 366)));
  CHECK(e.kind == api::ErrorKind::invalid_argument);
  CHECK(e.http_status == 0);
  CHECK(request_log(run).empty());
}

TEST_CASE("answers of the wrong shape: bad_response, not retried") {
  for (const char* scenario : {"notjson", "badshape", "badrecord"}) {
    std::string run;
    auto client = make(options(scenario, run));
    CAPTURE(scenario);
    const auto e = error_of(client.votes_page(hours_ago(3)));
    CHECK(e.kind == api::ErrorKind::bad_response);
    CHECK(e.http_status == 200);
    CHECK(request_log(run).size() == 1);
  }
  std::string run;
  auto o = options("pages", run);
  o.max_response_bytes = 100;
  auto client = make(std::move(o));
  const auto e = error_of(client.votes_page(hours_ago(3)));
  CHECK(e.kind == api::ErrorKind::bad_response);
  CHECK(e.message.find("larger than 100 bytes") != std::string::npos);
}

TEST_CASE("a cursor that does not move forward: bad_response, no endless loop") {
  std::string run;
  auto client = make(options("stuck", run));
  auto at = api::VotePosition::starting_at(hours_ago(3));
  std::size_t n = 0;
  const auto e = error_of(client.for_each_vote(at, [&](const api::VoteRecord&) { return ++n, true; }));
  CHECK(e.kind == api::ErrorKind::bad_response);
  CHECK(n == 6); // page 1, then page 2 whose cursor is the one that fetched it
  CHECK(request_log(run).size() == 2);
}

TEST_CASE("a cursor that leads back to an earlier page (A -> B -> A): bad_response, no endless loop") {
  std::string run;
  auto client = make(options("cycle", run));
  auto at = api::VotePosition::starting_at(hours_ago(3));
  std::size_t n = 0;
  // Stops by itself after 40 records, so that a walk that loops ends (and fails) here too.
  const auto r = client.for_each_vote(at, [&](const api::VoteRecord&) { return ++n < 40; });
  const auto e = error_of(r);
  CHECK(e.kind == api::ErrorKind::bad_response);
  CHECK(e.message.find("already walked") != std::string::npos);
  CHECK(n == 8); // pages 1, 2 and 3 once each; page 3's cursor is the one that fetched page 2
  const auto log = request_log(run);
  REQUIRE(log.size() == 3);
  CHECK(log[0].query.count("cursor") == 0);
  CHECK(log[1].query.count("cursor") == 1);
  CHECK(log[2].query.count("cursor") == 1);
  CHECK(log[1].query.at("cursor") != log[2].query.at("cursor")); // not the stuck case: a cycle of two
  CHECK(at.cursor == log[2].query.at("cursor"));                 // resumes at the last page walked, not past it
}

TEST_CASE("cancel() from another thread: a slow request returns at once, later calls too") {
  std::string run;
  auto o = options("slow", run);
  o.timeout = 60s;
  auto client = make(std::move(o));
  std::atomic<Clock::rep> cancelled_at{0};
  std::jthread canceller([&] { // jthread: joined even when a REQUIRE leaves early
    request_arrived(run);      // the request is out, its answer 30 s away
    cancelled_at = Clock::now().time_since_epoch().count();
    client.cancel();
  });
  const auto e = error_of(client.votes_page(hours_ago(3)));
  canceller.join();
  CHECK(e.kind == api::ErrorKind::cancelled); // not the answer, not the timeout
  // Far sooner than the answer or the timeout, however busy the machine.
  CHECK(Clock::now() - Clock::time_point(Clock::duration(cancelled_at.load())) < 10s);
  CHECK(client.cancelled());
  CHECK(error_of(client.project()).kind == api::ErrorKind::cancelled); // sticky: a shutdown stays one
  CHECK(request_log(run).size() == 1);
  client.reset_cancel();
  CHECK_FALSE(client.cancelled());
}

TEST_CASE("cancel() during a Retry-After wait") {
  std::string run;
  auto o = options("ratelong", run); // 429 with Retry-After: 3600, waited for
  o.max_retry_after = 2h;
  auto client = make(std::move(o));
  std::atomic<Clock::rep> cancelled_at{0};
  std::jthread canceller([&] {
    request_arrived(run); // answered 429 (or about to be): the client waits an hour
    cancelled_at = Clock::now().time_since_epoch().count();
    client.cancel();
  });
  const auto e = error_of(client.votes_page(hours_ago(3)));
  canceller.join();
  CHECK(e.kind == api::ErrorKind::cancelled);
  CHECK(Clock::now() - Clock::time_point(Clock::duration(cancelled_at.load())) < 10s); // not the hour
  CHECK(request_log(run).size() == 1);
}

TEST_CASE("calls from several threads are serialised and stay paced") {
  std::string run;
  auto o = options("pages", run);
  o.min_interval = 100ms;
  auto client = make(std::move(o));
  AttemptStarts starts;
  std::atomic<int> ok{0};
  std::vector<std::jthread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] { ok += client.votes_page(hours_ago(3)).has_value() ? 1 : 0; });
  threads.clear(); // joins
  CHECK(ok == 4);
  const auto log = request_log(run);
  REQUIRE(log.size() == 4);
  // Serialised: each request reached the mock after the previous one was answered.
  for (std::size_t i = 1; i < log.size(); ++i)
    CHECK(log[i].t >= log[i - 1].answered);
  // Paced, where the client decides it (arrival times at the mock came 84 ms apart on a busy
  // machine though the client had kept 100 ms).
  const auto t = starts.times();
  REQUIRE(t.size() == 4);
  for (std::size_t i = 1; i < t.size(); ++i)
    CHECK(t[i] - t[i - 1] >= 100ms);
}

TEST_CASE("format_start_date and parse_retry_after") {
  using namespace std::chrono;
  const auto t = *topgg::v1::parse_rfc3339("2026-01-28T02:19:19.9999999+01:00");
  CHECK(api::format_start_date(t) == "2026-01-28T01:19:19Z");
  CHECK(api::format_start_date(topgg::v1::Timestamp{}) == "1970-01-01T00:00:00Z");
  const auto now = sys_days{2026y / 1 / 28} + 2h + 19min + 19s;
  CHECK(api::parse_retry_after("1", now) == 1s);
  CHECK(api::parse_retry_after(" 120 ", now) == 120s);
  CHECK(api::parse_retry_after("0", now) == 0s);
  CHECK(api::parse_retry_after("Wed, 28 Jan 2026 02:19:49 GMT", now) == 30s);
  CHECK(api::parse_retry_after("Wednesday, 28-Jan-26 02:19:49 GMT", now) == 30s); // RFC 850
  CHECK(api::parse_retry_after("Wed Jan 28 02:19:49 2026", now) == 30s);          // asctime
  CHECK(api::parse_retry_after("Wed, 28 Jan 2026 01:00:00 GMT", now) == 0s);      // in the past
  CHECK(api::parse_retry_after("99999999999999999999", now) == seconds(1'000'000'000));
  CHECK_FALSE(api::parse_retry_after("", now).has_value());
  CHECK_FALSE(api::parse_retry_after("soon", now).has_value());
  CHECK_FALSE(api::parse_retry_after("-1", now).has_value());
  CHECK(api::to_string(api::ErrorKind::rate_limited) == "rate_limited");
}

TEST_CASE("a moved-from Client refuses calls instead of crashing") {
  std::string run;
  auto a = make(options("pages", run));
  api::Client b = std::move(a);
  CHECK(error_of(a.project()).kind == api::ErrorKind::invalid_argument); // NOLINT(bugprone-use-after-move)
  a.cancel();                                                            // harmless
  CHECK(b.project().has_value());
}
