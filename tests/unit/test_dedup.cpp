// De-duplication through the delivery pipeline: what identifies a delivery
// (the key rules), claim → handler → confirm/release on every outcome, a
// duplicate arriving while the first is still being handled, the TTL, the
// memory store's capacity, and stores that defer, throw or forget to answer —
// through the Connection (byte level) and Router::handle (request level).
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace th;
using namespace std::chrono_literals;
namespace v1 = topgg::v1;
using topgg::ClaimResult;

namespace {

constexpr std::int64_t t0 = 1'700'000'000; // th::at(ms).wall is t0 + ms
constexpr std::string_view secret = "whs_dedup";

// ---- deliveries ---------------------------------------------------------------

std::string bot(std::string_view user, std::string_view type = "upvote", std::string_view bot_id = "264811613708746752",
                std::string_view extra = R"("isWeekend":false,"query":"?ref=home")") {
  return R"({"bot":")" + std::string(bot_id) + R"(","user":")" + std::string(user) + R"(","type":")" +
         std::string(type) + R"(",)" + std::string(extra) + "}";
}
std::string guild(std::string_view user, std::string_view type = "upvote", std::string_view guild_id = "5678") {
  return R"({"guild":")" + std::string(guild_id) + R"(","user":")" + std::string(user) + R"(","type":")" +
         std::string(type) + R"("})";
}

struct VoteFields {
  std::string id = "808499215864008704";
  std::string project = "803190510032756736";
  std::string user = "u1";
  std::string platform_id = "160105994217586689";
  std::string created_at = "2026-02-09T00:47:14.2510149+00:00";
};
std::string vote_create(const VoteFields& f = {}) {
  return R"({"type":"vote.create","data":{"id":")" + f.id + R"(","weight":1,"created_at":")" + f.created_at +
         R"(","expires_at":"2026-02-09T12:47:14.2510149+00:00","project":{"id":")" + f.project +
         R"(","type":"bot","platform":"discord","platform_id":"1"},"user":{"id":")" + f.user + R"(","platform_id":")" +
         f.platform_id + R"(","name":"voter","avatar_url":null}}})";
}
std::string integration(std::string_view type, std::string_view connection, std::string_view webhook_secret = "whs_a") {
  if (type == "integration.delete")
    return R"({"type":"integration.delete","data":{"connection_id":")" + std::string(connection) + R"("}})";
  return R"({"type":"integration.create","data":{"connection_id":")" + std::string(connection) +
         R"(","webhook_secret":")" + std::string(webhook_secret) +
         R"(","project":{"id":"p","type":"bot","platform":"discord","platform_id":"1"},)"
         R"("user":{"id":"u","platform_id":"2","name":"owner","avatar_url":"x"}}})";
}
const std::string webhook_test = R"({"type":"webhook.test","data":{
"project":{"id":"p","type":"bot","platform":"discord","platform_id":"1"},
"user":{"id":"u","platform_id":"2","name":"tester","avatar_url":null}}})";

/// A signed v1 delivery, signed at `signed_at` (Unix seconds).
std::string signed_post(std::string_view body, std::string_view trace = "trace-1", std::int64_t signed_at = t0,
                        std::string_view path = "/v1") {
  std::string r = "POST " + std::string(path) + " HTTP/1.1\r\nHost: bot.example\r\nContent-Type: application/json\r\n";
  r += "x-topgg-signature: " + v1::sign(secret, signed_at, body) + "\r\n";
  if (!trace.empty())
    r += "x-topgg-trace: " + std::string(trace) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

// ---- stores for the tests -------------------------------------------------------

/// Records every call (key, and the lease or TTL in ms) and answers from a MemoryStore.
struct Recorder : topgg::IdempotencyStore {
  topgg::MemoryStore inner;
  std::mutex m;
  std::vector<std::string> calls;

  std::optional<ClaimResult> claim(std::string_view key, topgg::Now now, std::chrono::milliseconds lease,
                                   topgg::ClaimDeferral& later) override {
    const auto r = inner.claim(key, now, lease, later);
    log("claim " + std::string(key) + " " + std::to_string(lease.count()) + " -> " + std::string(topgg::to_string(*r)));
    return r;
  }
  void confirm(std::string_view key, topgg::Now now, std::chrono::milliseconds ttl) override {
    log("confirm " + std::string(key) + " " + std::to_string(ttl.count()));
    inner.confirm(key, now, ttl);
  }
  void release(std::string_view key, topgg::Now now) override {
    log("release " + std::string(key));
    inner.release(key, now);
  }
  void log(std::string s) {
    std::lock_guard lock(m);
    calls.push_back(std::move(s));
  }
  std::vector<std::string> take() {
    std::lock_guard lock(m);
    return std::exchange(calls, {});
  }
};

/// Defers every claim and answers it from its own thread (as a store doing
/// I/O would), from a MemoryStore. With `hold` set, claims wait for
/// complete_held(). The worker owns the shared state, so that the store being
/// destroyed on the worker's own thread is recorded (in `destroyed_on_own_thread`)
/// rather than fatal (a thread cannot join itself).
struct Deferring : topgg::IdempotencyStore {
  struct Job {
    std::string key;
    topgg::Now now;
    std::chrono::milliseconds lease;
    topgg::ClaimTicket ticket;
  };
  struct Shared {
    topgg::MemoryStore inner; // thread-safe
    std::mutex m;
    std::condition_variable cv;
    std::deque<Job> jobs, held;
    bool hold = false, stop = false;
    std::atomic<int> claims{0}, answered{0}, released{0};
  };
  static inline std::atomic<int> destroyed_on_own_thread{0};

  std::shared_ptr<Shared> sh = std::make_shared<Shared>();
  std::thread worker;

  Deferring() : worker([s = sh] { work(*s); }) {}
  ~Deferring() override {
    {
      std::lock_guard lock(sh->m);
      sh->stop = true;
    }
    sh->cv.notify_all();
    if (worker.get_id() == std::this_thread::get_id()) {
      ++destroyed_on_own_thread;
      worker.detach();
    } else {
      worker.join();
    }
  }

  std::optional<ClaimResult> claim(std::string_view key, topgg::Now now, std::chrono::milliseconds lease,
                                   topgg::ClaimDeferral& later) override {
    ++sh->claims;
    Job j{std::string(key), now, lease, later.defer()};
    {
      std::lock_guard lock(sh->m);
      (sh->hold ? sh->held : sh->jobs).push_back(std::move(j));
    }
    sh->cv.notify_all();
    return std::nullopt;
  }
  void confirm(std::string_view key, topgg::Now now, std::chrono::milliseconds ttl) override {
    sh->inner.confirm(key, now, ttl);
  }
  void release(std::string_view key, topgg::Now now) override {
    sh->inner.release(key, now);
    ++sh->released;
  }

  void hold(bool on) {
    std::lock_guard lock(sh->m);
    sh->hold = on;
  }
  void complete_held() {
    {
      std::lock_guard lock(sh->m);
      for (auto& j : sh->held)
        sh->jobs.push_back(std::move(j));
      sh->held.clear();
    }
    sh->cv.notify_all();
  }
  std::size_t held_count() {
    std::lock_guard lock(sh->m);
    return sh->held.size();
  }
  int claims() const { return sh->claims; }
  int answered() const { return sh->answered; }
  int released() const { return sh->released; }

private:
  // Takes every queued claim at once and answers them as one batch (as a
  // store writing one transaction per batch would): all looked up first, then
  // all tickets completed.
  static void work(Shared& s) {
    std::unique_lock lock(s.m);
    for (;;) {
      s.cv.wait(lock, [&s] { return s.stop || !s.jobs.empty(); });
      if (s.jobs.empty())
        return;
      std::deque<Job> batch = std::exchange(s.jobs, {});
      lock.unlock();
      std::vector<ClaimResult> results;
      for (Job& j : batch) {
        topgg::ClaimDeferral direct([](ClaimResult) {});
        results.push_back(*s.inner.claim(j.key, j.now, j.lease, direct));
      }
      for (std::size_t i = 0; i < batch.size(); ++i) {
        ++s.answered;
        batch[i].ticket.complete(results[i]); // wakes the delivery; through Router::handle, runs its handler here
      }
      batch.clear(); // the tickets go before the lock is taken again
      lock.lock();
    }
  }
};

/// Answers every claim with `mode`: throw, nullopt without deferring, a fixed
/// result, defer and drop the ticket, or defer and complete before returning.
struct Odd : topgg::IdempotencyStore {
  enum Mode { throws, forgets, unavailable, drops_ticket, completes_inline } mode;
  explicit Odd(Mode m) : mode(m) {}
  std::optional<ClaimResult> claim(std::string_view, topgg::Now, std::chrono::milliseconds,
                                   topgg::ClaimDeferral& later) override {
    switch (mode) {
    case throws: throw std::runtime_error("connection reset by the database");
    case forgets: return std::nullopt;
    case unavailable: return ClaimResult::unavailable;
    case drops_ticket: (void)later.defer(); return std::nullopt;
    case completes_inline: later.defer().complete(ClaimResult::claimed); return std::nullopt;
    }
    return std::nullopt;
  }
  void confirm(std::string_view, topgg::Now, std::chrono::milliseconds) override {}
  void release(std::string_view, topgg::Now) override {}
};

// ---- the receiver --------------------------------------------------------------------

/// Two bot-vote routes (/dbl, /dbl2), one server-vote route, one v1 route; every
/// event and every error-hook call recorded as one line.
struct Receiver {
  topgg::Router router;
  std::mutex m;
  std::vector<std::string> events;
  std::vector<topgg::Error> errors;
  std::vector<topgg::Ack> acks; // for Ack handlers
  std::atomic<int> handled{0};

  explicit Receiver(topgg::Settings s = {}) {
    router.settings(s)
        .dbl_webhook("/dbl", "k")
        .dbl_webhook("/dbl2", "k")
        .dsl_webhook("/dsl", "k")
        .v1_webhook("/v1", std::string(secret))
        .on_bot_vote([this](const topgg::BotVote& v) { record("bot " + describe_vote(v)); })
        .on_server_vote([this](const topgg::ServerVote& v) { record("server " + describe_vote(v)); })
        .on_vote_create([this](const v1::VoteCreate& v) {
          record("vote.create " + v.id + " " + v.project.id + " " + v.user.id + " trace " + v.trace);
        })
        .on_webhook_test([this](const v1::WebhookTest& t) { record("webhook.test trace " + t.trace); })
        .on_integration_create([this](const v1::IntegrationCreate& c) {
          record("integration.create " + c.connection_id + " " + c.webhook_secret + " trace " + c.trace);
        })
        .on_integration_delete([this](const v1::IntegrationDelete& d) {
          record("integration.delete " + d.connection_id + " trace " + d.trace);
        })
        .on_error([this](const topgg::Rejection& r) {
          std::lock_guard lock(m);
          CHECK(r.error != topgg::Error::duplicate); // those go to on_duplicate only
          errors.push_back(r.error);
        })
        .on_duplicate([this](const topgg::Rejection& r) {
          std::lock_guard lock(m);
          CHECK(r.error == topgg::Error::duplicate);
          errors.push_back(r.error); // recorded in order with the refusals
        })
        .on_warning([](std::string_view) {});
  }
  void record(std::string e) {
    ++handled;
    std::lock_guard lock(m);
    events.push_back(std::move(e));
  }
  /// Vote handlers that keep their Ack, for the test to complete.
  void ack_later() {
    auto keep = [this](topgg::Ack a) {
      ++handled;
      std::lock_guard lock(m);
      acks.push_back(std::move(a));
    };
    router.on_bot_vote([keep](const topgg::BotVote&, topgg::Ack a) { keep(std::move(a)); })
        .on_vote_create([keep](const v1::VoteCreate&, topgg::Ack a) { keep(std::move(a)); });
  }
  topgg::Ack ack(std::size_t i) {
    std::lock_guard lock(m);
    return acks.at(i);
  }
  std::vector<topgg::Error> take_errors() {
    std::lock_guard lock(m);
    return std::exchange(errors, {});
  }

  /// One request on a new connection at `ms`; the status line of its answer.
  std::string send(const std::string& req, int ms = 1) {
    topgg::Connection c(router, at(ms));
    c.receive(req, at(ms));
    return status_line(c.output());
  }
};

const std::string ok200 = "HTTP/1.1 200 OK";
const std::string ok204 = "HTTP/1.1 204 No Content";
const std::string busy503 = "HTTP/1.1 503 Service Unavailable";
const std::string fail500 = "HTTP/1.1 500 Internal Server Error";

/// A delivery kind the outcome tests run for: legacy (200) and v1 (204).
struct Kind {
  const char* name;
  std::string (*request)(std::string_view user);
  std::string success;
  bool vote_key = false; ///< a vote.create's key is kept for 25 h at least (it holds the vote's time)
  /// The TTL a confirm of this kind carries, in ms, as the Recorder prints it.
  std::string ttl(long dedup_ms) const { return std::to_string(vote_key ? std::max(dedup_ms, 90'000'000L) : dedup_ms); }
};
const Kind kinds[] = {
    {"legacy bot vote", [](std::string_view u) { return post("/dbl", "k", bot(u)); }, ok200},
    {"v1 vote.create",
     [](std::string_view u) {
       VoteFields f;
       f.user = std::string(u);
       return signed_post(vote_create(f));
     },
     ok204, true},
};

/// A request for Router::handle, viewing into strings the caller keeps.
struct HandleRequest {
  std::string body;
  std::vector<std::pair<std::string, std::string>> owned;
  std::vector<topgg::Header> headers;
  topgg::Request req;
  /// Splits a whole HTTP request (as the kinds above build them).
  explicit HandleRequest(const std::string& raw) {
    const std::size_t end = raw.find("\r\n\r\n");
    body = raw.substr(end + 4);
    const std::size_t line_end = raw.find("\r\n");
    const std::string line = raw.substr(0, line_end);
    path = line.substr(5, line.find(' ', 5) - 5);
    for (std::size_t p = line_end + 2; p < end;) {
      const std::size_t e = raw.find("\r\n", p);
      const std::string h = raw.substr(p, e - p);
      const std::size_t colon = h.find(':');
      owned.emplace_back(h.substr(0, colon), h.substr(colon + 2));
      p = e + 2;
    }
    for (auto& [n, v] : owned)
      headers.push_back({n, v});
    req.method = "POST";
    req.target = path;
    req.headers = headers;
    req.body = body;
  }
  std::string path;
};

/// Router::handle, waiting (up to `patience`) for the reply from whichever thread sends it.
int handle(topgg::Router& r, const std::string& raw, int ms = 1) {
  HandleRequest hr(raw);
  auto done = std::make_shared<std::promise<int>>();
  auto got = done->get_future();
  r.handle(hr.req, at(ms), [done](topgg::Response res) { done->set_value(res.status); });
  if (got.wait_for(patience) != std::future_status::ready)
    return -1;
  return got.get();
}

/// A Connection whose waker signals the test thread, for stores and Acks
/// completing on other threads.
struct Waited {
  std::mutex m;
  std::condition_variable cv;
  int wakes = 0;
  topgg::Connection c;
  Waited(topgg::Router& r, int ms) : c(r, at(ms)) {
    c.set_waker([this] {
      std::lock_guard lock(m);
      ++wakes;
      cv.notify_all();
    });
  }
  /// Waits for a wake (up to `patience`) without resuming the connection.
  bool wait_wake() {
    std::unique_lock lock(m);
    const bool woke = cv.wait_for(lock, patience, [this] { return wakes > 0; });
    wakes = 0;
    return woke;
  }
  /// Waits for a wake (up to `patience`), then resumes the connection on this thread.
  bool resume_after_wake(int ms) {
    std::unique_lock lock(m);
    const bool woke = cv.wait_for(lock, patience, [this] { return wakes > 0; });
    wakes = 0;
    lock.unlock();
    c.resume(at(ms));
    return woke;
  }
};

} // namespace

// ---- the key rules -----------------------------------------------------------------------

TEST_CASE("key rule vote.create: project + Top.gg user id + created_at to the second") {
  Receiver r;
  VoteFields base;
  CHECK(r.send(signed_post(vote_create(base), "a")) == ok204);
  REQUIRE(r.events.size() == 1);

  VoteFields same_second = base;
  same_second.created_at = "2026-02-09T00:47:14.9+00:00"; // another fraction of the same second
  CHECK(r.send(signed_post(vote_create(same_second), "b")) == ok204);
  VoteFields whole_second = base;
  whole_second.created_at = "2026-02-09T00:47:14Z";
  CHECK(r.send(signed_post(vote_create(whole_second), "c")) == ok204);
  VoteFields other_zone = base; // the same instant written in another offset
  other_zone.created_at = "2026-02-09T01:47:14.5+01:00";
  CHECK(r.send(signed_post(vote_create(other_zone), "d")) == ok204);
  VoteFields other_id = base; // not part of the identity (the vote history API has no vote id)
  other_id.id = "1";
  other_id.platform_id = "42";
  CHECK(r.send(signed_post(vote_create(other_id), "e")) == ok204);
  CHECK(r.events.size() == 1); // all four were the same vote
  CHECK(r.take_errors() == std::vector<topgg::Error>(4, topgg::Error::duplicate));

  VoteFields next_second = base;
  next_second.created_at = "2026-02-09T00:47:15.0000000+00:00";
  VoteFields prev_second = base;
  prev_second.created_at = "2026-02-09T00:47:13.9999999+00:00";
  VoteFields other_user = base;
  other_user.user = "u2";
  VoteFields other_project = base;
  other_project.project = "1";
  for (const VoteFields* f : {&next_second, &prev_second, &other_user, &other_project})
    CHECK(r.send(signed_post(vote_create(*f))) == ok204);
  CHECK(r.events.size() == 5); // each a vote of its own
  CHECK(r.take_errors().empty());
}

TEST_CASE("key rule integration.create / integration.delete: never de-duplicated (a retry needs the handshake "
          "answer again; a replay with a new secret is a rotation)") {
  Receiver r;
  CHECK(r.send(signed_post(integration("integration.create", "c1", "whs_a"), "t")) == ok204);
  CHECK(r.send(signed_post(integration("integration.create", "c1", "whs_a"), "u")) == ok204); // the retry
  CHECK(r.send(signed_post(integration("integration.create", "c1", "whs_b"), "w")) == ok204); // a rotation
  CHECK(r.send(signed_post(integration("integration.delete", "c1"), "t")) == ok204);
  CHECK(r.send(signed_post(integration("integration.delete", "c1"), "v")) == ok204);
  CHECK(r.events == std::vector<std::string>{"integration.create c1 whs_a trace t", "integration.create c1 whs_a trace u",
                                             "integration.create c1 whs_b trace w", "integration.delete c1 trace t",
                                             "integration.delete c1 trace v"});
  CHECK(r.take_errors().empty());
}

TEST_CASE("key rule webhook.test: never de-duplicated, even with the same trace") {
  Receiver r;
  for (int i = 0; i < 3; ++i)
    CHECK(r.send(signed_post(webhook_test, "same")) == ok204);
  CHECK(r.events == std::vector<std::string>(3, "webhook.test trace same"));
  CHECK(r.take_errors().empty());
}

TEST_CASE("key rule legacy bot votes: route + bot + user + type; type test never") {
  Receiver r;
  CHECK(r.send(post("/dbl", "k", bot("1"))) == ok200);
  // isWeekend and the query are not part of the identity: a retry carries the same ones anyway.
  CHECK(r.send(post("/dbl", "k", bot("1", "upvote", "264811613708746752", R"("isWeekend":true)"))) == ok200);
  CHECK(r.events.size() == 1);
  CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::duplicate});
  CHECK(r.send(post("/dbl", "k", bot("2"))) == ok200);                 // another voter
  CHECK(r.send(post("/dbl", "k", bot("1", "upvote", "99"))) == ok200); // another bot
  CHECK(r.send(post("/dbl2", "k", bot("1"))) == ok200);                // another route
  CHECK(r.send(post("/dbl", "k", bot("1", "test"))) == ok200);         // a test: always
  CHECK(r.send(post("/dbl", "k", bot("1", "test"))) == ok200);
  CHECK(r.events.size() == 6);
  CHECK(r.take_errors().empty());
}

TEST_CASE("key rule legacy server votes: route + guild + user + type; type test never") {
  Receiver r;
  CHECK(r.send(post("/dsl", "k", guild("1"))) == ok200);
  CHECK(r.send(post("/dsl", "k", guild("1"))) == ok200);
  CHECK(r.events.size() == 1);
  CHECK(r.send(post("/dsl", "k", guild("2"))) == ok200);
  CHECK(r.send(post("/dsl", "k", guild("1", "upvote", "9"))) == ok200);
  CHECK(r.send(post("/dsl", "k", guild("1", "test"))) == ok200);
  CHECK(r.send(post("/dsl", "k", guild("1", "test"))) == ok200);
  // A bot vote with the same numbers is another delivery.
  CHECK(r.send(post("/dbl", "k", bot("1", "upvote", "5678"))) == ok200);
  CHECK(r.events.size() == 6);
  CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::duplicate});
}

TEST_CASE("the trace is never part of a key: the Python SDK's four mock payloads with one trace are four events") {
  // tests/mocks/*.json of Top-gg-Community/python-sdk, each delivered with x-topgg-trace: trace.
  const std::string payloads[] = {
      R"({"type":"vote.create","data":{"id":"808499215864008704","weight":1,)"
      R"("created_at":"2026-02-09T00:47:14.2510149+00:00","expires_at":"2026-02-09T12:47:14.2510149+00:00",)"
      R"("project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"160105994217586689"},)"
      R"("user":{"id":"160105994217586689","platform_id":"160105994217586689","name":"username",)"
      R"("avatar_url":"<avatar url>"}}})",
      R"({"type":"webhook.test","data":{"user":{"id":"160105994217586689","platform_id":"160105994217586689",)"
      R"("name":"username","avatar_url":"<avatar url>"},"project":{"id":"803190510032756736","type":"bot",)"
      R"("platform":"discord","platform_id":"160105994217586689"}}})",
      R"({"type":"integration.create","data":{"connection_id":"112402021105124","webhook_secret":"whs_abcd",)"
      R"("project":{"id":"1230954036934033243","platform":"discord","platform_id":"3949456393249234923","type":"bot"},)"
      R"("user":{"id":"3949456393249234923","platform_id":"3949456393249234923","name":"username",)"
      R"("avatar_url":"<avatar url>"}}})",
      R"({"type":"integration.delete","data":{"connection_id":"112402021105124"}})",
  };
  Receiver r;
  auto rec = std::make_shared<Recorder>();
  r.router.idempotency_store(rec);
  for (const auto& p : payloads)
    CHECK(r.send(signed_post(p, "trace")) == ok204);
  CHECK(r.events ==
        std::vector<std::string>{"vote.create 808499215864008704 803190510032756736 160105994217586689 trace trace",
                                 "webhook.test trace trace", "integration.create 112402021105124 whs_abcd trace trace",
                                 "integration.delete 112402021105124 trace trace"});
  CHECK(r.take_errors().empty());
  const auto calls = rec->take();
  CHECK(calls.size() == 2); // one claim and one confirm: webhook.test and integration.* have no key
  for (const auto& c : calls)
    CHECK(c.find("trace") == std::string::npos);

  // The same four again, one connection, pipelined: only the vote is a duplicate.
  topgg::Connection c(r.router, at(0));
  c.receive(signed_post(payloads[0], "trace") + signed_post(payloads[1], "trace") + signed_post(payloads[2], "trace") +
                signed_post(payloads[3], "trace"),
            at(1));
  CHECK(count_responses(c.output()) == 4);
  for (int i = 0; i < 4; ++i)
    CHECK(status_line(c.output(), i) == ok204);
  CHECK(r.events.size() == 7);
  CHECK(r.events.back() == "integration.delete 112402021105124 trace trace");
  CHECK(r.take_errors() == std::vector<topgg::Error>(1, topgg::Error::duplicate));
}

// ---- claim → handler → confirm / release ---------------------------------------------------

TEST_CASE("claim, then confirm on success with the TTL; release on a throw, so the retry is handled") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    auto rec = std::make_shared<Recorder>();
    r.router.idempotency_store(rec);
    CHECK(r.send(k.request("1")) == k.success);
    auto calls = rec->take();
    REQUIRE(calls.size() == 2);
    const std::string key = calls[0].substr(6, calls[0].find(' ', 6) - 6);
    // Lease: the ack timeout (4 s) and a margin; TTL: Settings::dedup_ttl, 1 h by default (25 h for a vote.create).
    CHECK(calls[0] == "claim " + key + " 9000 -> claimed");
    CHECK(calls[1] == "confirm " + key + " " + k.ttl(3'600'000));
    CHECK(r.send(k.request("1")) == k.success);
    CHECK(rec->take() == std::vector<std::string>{"claim " + key + " 9000 -> done"});
    CHECK(r.handled == 1);

    int throws = 1;
    auto flaky = [&throws] {
      if (throws-- > 0)
        throw std::runtime_error("database down");
    };
    r.router.on_bot_vote([&, flaky](const topgg::BotVote& v) { flaky(), r.record(describe_vote(v)); })
        .on_vote_create([&, flaky](const v1::VoteCreate& v) { flaky(), r.record(v.user.id); });
    CHECK(r.send(k.request("2")) == fail500);
    calls = rec->take();
    REQUIRE(calls.size() == 2);
    const std::string key2 = calls[0].substr(6, calls[0].find(' ', 6) - 6);
    CHECK(calls[1] == "release " + key2);
    CHECK(r.send(k.request("2")) == k.success); // Top.gg's retry: handled
    CHECK(rec->take() ==
          std::vector<std::string>{"claim " + key2 + " 9000 -> claimed", "confirm " + key2 + " " + k.ttl(3'600'000)});
    CHECK(r.handled == 2);
  }
}

TEST_CASE("a retry of a handled delivery goes to on_duplicate, never to on_error; by default an info line") {
  // An alerting on_error hook was told of every retry Top.gg made (issue 24).
  topgg::Router r;
  int handled = 0, errors = 0, duplicates = 0;
  r.dbl_webhook("/dbl", "k")
      .on_bot_vote([&](const topgg::BotVote&) { ++handled; })
      .on_error([&](const topgg::Rejection&) { ++errors; })
      .on_duplicate([&](const topgg::Rejection& d) {
        ++duplicates;
        CHECK(d.status == 200);
        CHECK(d.path == "/dbl");
      })
      .on_warning([](std::string_view) {});
  for (int i = 0; i < 3; ++i)
    CHECK(handle(r, post("/dbl", "k", bot("1"))) == 200);
  CHECK(handle(r, post("/dbl", "wrong", bot("1"))) == 401);
  CHECK(handled == 1);
  CHECK(duplicates == 2);
  CHECK(errors == 1);
}

TEST_CASE("a legacy vote's key is kept 11 h at most, whatever dedup_ttl says: the user may vote again after 12 h") {
  // With --dedup-ttl above 12 h the user's next real vote was taken for a
  // retry and dropped: legacy votes carry no vote ID (issue 23, item 5).
  topgg::Settings s;
  s.dedup_ttl = std::chrono::hours(24);
  Receiver r(s);
  auto rec = std::make_shared<Recorder>();
  r.router.idempotency_store(rec);
  CHECK(r.send(post("/dbl", "k", bot("1"))) == ok200);
  auto calls = rec->take();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].ends_with(" 39600000")); // 11 h
  // A vote.create's key holds its time: kept 25 h at least, never cut.
  VoteFields f;
  f.user = "u1";
  CHECK(r.send(signed_post(vote_create(f))) == ok204);
  calls = rec->take();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].ends_with(" 90000000"));
  // Below 11 h the setting stands.
  s.dedup_ttl = std::chrono::hours(2);
  r.router.settings(s);
  CHECK(r.send(post("/dbl", "k", bot("2"))) == ok200);
  calls = rec->take();
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].ends_with(" 7200000"));
  // 12 h later in memory: the same user's new vote is handled.
  Receiver m(topgg::Settings{});
  topgg::Settings day;
  day.dedup_ttl = std::chrono::hours(24);
  m.router.settings(day);
  CHECK(m.send(post("/dbl", "k", bot("1")), 0) == ok200);
  CHECK(m.send(post("/dbl", "k", bot("1")), 60'000) == ok200); // a retry a minute later: no event
  CHECK(m.handled == 1);
  CHECK(m.send(post("/dbl", "k", bot("1")), 12 * 3600 * 1000) == ok200); // the next real vote
  CHECK(m.handled == 2);
}

TEST_CASE("Ack later: ok confirms, retry() releases, an ack timeout releases — each retry then handled") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    topgg::Settings s;
    s.ack_timeout = 500ms;
    s.dedup_ttl = 120s;
    Receiver r(s);
    r.ack_later();
    auto rec = std::make_shared<Recorder>();
    r.router.idempotency_store(rec);

    // ok(), from another thread.
    {
      topgg::Connection c(r.router, at(0));
      c.receive(k.request("1"), at(1));
      CHECK(c.output().empty());
      CHECK(rec->take().size() == 1); // claimed; nothing settled while the Ack is outstanding
      std::thread([a = r.ack(0)] { CHECK(a.ok()); }).join();
      c.resume(at(2));
      CHECK(status_line(c.output()) == k.success);
      const auto calls = rec->take();
      REQUIRE(calls.size() == 1);
      CHECK(calls[0].starts_with("confirm "));
      CHECK(calls[0].ends_with(" " + k.ttl(120'000))); // Settings::dedup_ttl (a vote.create: 25 h at least)
    }
    CHECK(r.send(k.request("1"), 3) == k.success);
    CHECK(r.handled == 1);
    rec->take();

    // retry(): 503, released, the retry handled.
    {
      topgg::Connection c(r.router, at(10));
      c.receive(k.request("2"), at(10));
      r.ack(1).retry("queue full");
      c.resume(at(11));
      CHECK(status_line(c.output()) == busy503);
      const auto calls = rec->take();
      REQUIRE(calls.size() == 2);
      CHECK(calls[1].starts_with("release "));
    }
    {
      topgg::Connection c(r.router, at(12));
      c.receive(k.request("2"), at(12));
      REQUIRE(r.handled == 3);
      r.ack(2).ok();
      c.resume(at(13));
      CHECK(status_line(c.output()) == k.success);
    }
    rec->take();

    // Never acknowledged: 503 at the deadline, released; a late ok() changes nothing.
    {
      topgg::Connection c(r.router, at(100));
      c.receive(k.request("3"), at(100));
      REQUIRE(c.deadline());
      CHECK(*c.deadline() == at(600).mono);
      c.on_timer(at(600));
      CHECK(status_line(c.output()) == busy503);
      CHECK_FALSE(r.ack(3).ok());
      const auto calls = rec->take();
      REQUIRE(calls.size() == 2);
      CHECK(calls[1].starts_with("release "));
    }
    CHECK(r.take_errors() ==
          std::vector<topgg::Error>{topgg::Error::duplicate, topgg::Error::handler_retry, topgg::Error::ack_timeout});
    {
      topgg::Connection c(r.router, at(700));
      c.receive(k.request("3"), at(700));
      REQUIRE(r.handled == 5); // the retry reached the handler
      r.ack(4).ok();
      c.resume(at(701));
      CHECK(status_line(c.output()) == k.success);
    }

    // The connection goes away with the Ack outstanding: released, so the retry is handled.
    {
      topgg::Connection c(r.router, at(800));
      c.receive(k.request("4"), at(800));
    }
    CHECK_FALSE(r.ack(5).ok());
    {
      topgg::Connection c(r.router, at(801));
      c.receive(k.request("4"), at(801));
      REQUIRE(r.handled == 7);
      r.ack(6).ok();
      c.resume(at(802));
      CHECK(status_line(c.output()) == k.success);
    }
  }
}

TEST_CASE(
    "a duplicate while the first is outstanding: 503, no second event; after the first fails the retry is handled") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    r.ack_later();
    const std::string vote = k.request("1");

    topgg::Connection first(r.router, at(0));
    first.receive(vote, at(1));
    REQUIRE(r.handled == 1);
    CHECK(r.send(vote, 2) == busy503); // on another connection (another receiver thread of the same router)
    CHECK(r.send(vote, 3) == busy503);
    CHECK(r.handled == 1);
    CHECK(r.take_errors() == std::vector<topgg::Error>(2, topgg::Error::duplicate_in_progress));

    r.ack(0).retry(); // the first fails: never a 2xx for the duplicates, and Top.gg retries
    first.resume(at(4));
    CHECK(status_line(first.output()) == busy503);
    {
      topgg::Connection c(r.router, at(5));
      c.receive(vote, at(5));
      REQUIRE(r.handled == 2); // the retry is handled
      r.ack(1).ok();
      c.resume(at(6));
      CHECK(status_line(c.output()) == k.success);
    }
    CHECK(r.send(vote, 7) == k.success); // and remembered now
    CHECK(r.handled == 2);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::handler_retry, topgg::Error::duplicate});

    // The first succeeds: the duplicate that came meanwhile was 503; its retry is a duplicate.
    const std::string vote2 = k.request("2");
    topgg::Connection again(r.router, at(10));
    again.receive(vote2, at(10));
    CHECK(r.send(vote2, 11) == busy503);
    r.ack(2).ok();
    again.resume(at(12));
    CHECK(status_line(again.output()) == k.success);
    CHECK(r.send(vote2, 13) == k.success);
    CHECK(r.handled == 3);
  }
}

TEST_CASE("a duplicate pipelined behind the first on one connection: answered 503 after it, in order") {
  Receiver r;
  r.ack_later();
  topgg::Connection c(r.router, at(0));
  const std::string vote = post("/dbl", "k", bot("1"));
  c.receive(vote + vote, at(1));
  CHECK(r.handled == 1);
  CHECK(c.output().empty()); // the 503 waits behind the first answer
  r.ack(0).ok();
  c.resume(at(2));
  CHECK(count_responses(c.output()) == 2);
  CHECK(status_line(c.output(), 0) == ok200);
  CHECK(status_line(c.output(), 1) == busy503);
  c.consume(c.output().size());
  c.receive(vote, at(3)); // Top.gg's retry of the second
  CHECK(status_line(c.output()) == ok200);
  CHECK(r.handled == 1);
}

TEST_CASE("a duplicate while the first is outstanding, through Router::handle") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    r.ack_later();
    const std::string vote = k.request("1");
    HandleRequest first(vote);
    std::atomic<int> first_status{0};
    r.router.handle(first.req, at(1), [&first_status](topgg::Response res) { first_status = res.status; });
    REQUIRE(r.handled == 1);
    CHECK(first_status == 0);
    CHECK(handle(r.router, vote, 2) == 503);
    CHECK(r.handled == 1);
    std::thread([a = r.ack(0)] { a.retry(); }).join();
    CHECK(first_status == 503);
    HandleRequest retry(vote);
    std::atomic<int> retry_status{0};
    r.router.handle(retry.req, at(3), [&retry_status](topgg::Response res) { retry_status = res.status; });
    REQUIRE(r.handled == 2);
    std::thread([a = r.ack(1)] { a.ok(); }).join();
    CHECK(retry_status == (k.success == ok200 ? 200 : 204));
    CHECK(handle(r.router, vote, 4) == retry_status);
    CHECK(r.handled == 2);
  }
}

// ---- remembering: TTL and capacity -------------------------------------------------------------

TEST_CASE("Settings::dedup_ttl: remembered for the TTL from the confirm, then handled again; 0 turns it off") {
  topgg::Settings s;
  s.dedup_ttl = 10s;
  Receiver r(s);
  const std::string legacy = post("/dbl", "k", bot("1"));
  CHECK(r.send(legacy, 1'000) == ok200);
  CHECK(r.send(legacy, 10'999) == ok200);
  CHECK(r.handled == 1);
  CHECK(r.send(legacy, 11'000) == ok200); // confirmed at 1 s + 10 s: forgotten
  CHECK(r.handled == 2);
  CHECK(r.send(legacy, 12'000) == ok200);
  CHECK(r.handled == 2);

  // v1 vote.create, signed at the time it is sent (the replay window is 300 s): its key holds the
  // vote's time, so it is kept for 25 h whatever dedup_ttl says (the vote history returns it that long).
  auto v1_at = [](int ms) { return signed_post(vote_create(), "t", t0 + ms / 1000); };
  CHECK(r.send(v1_at(20'000), 20'000) == ok204);
  CHECK(r.send(v1_at(29'999), 29'999) == ok204);
  CHECK(r.handled == 3);
  CHECK(r.send(v1_at(30'000), 30'000) == ok204); // past dedup_ttl: still known
  CHECK(r.handled == 3);

  // The default is one hour: longer than Top.gg's retry horizon (about 34 minutes).
  CHECK(topgg::Settings{}.dedup_ttl == 3600s);
  Receiver d;
  CHECK(d.send(legacy, 0) == ok200);
  CHECK(d.send(legacy, 34 * 60'000) == ok200);
  CHECK(d.send(legacy, 3'599'999) == ok200);
  CHECK(d.handled == 1);
  CHECK(d.send(legacy, 3'600'000) == ok200);
  CHECK(d.handled == 2);

  // Off: every delivery handled, and the store never asked.
  topgg::Settings off;
  off.dedup_ttl = 0s;
  Receiver o(off);
  auto rec = std::make_shared<Recorder>();
  o.router.idempotency_store(rec);
  for (int i = 0; i < 3; ++i) {
    CHECK(o.send(legacy) == ok200);
    CHECK(o.send(signed_post(vote_create())) == ok204);
  }
  CHECK(o.handled == 6);
  CHECK(rec->take().empty());
}

TEST_CASE("Settings::dedup_capacity: the default store forgets the oldest key first") {
  topgg::Settings s;
  s.dedup_capacity = 3;
  Receiver r(s);
  auto vote = [](int user) { return post("/dbl", "k", bot(std::to_string(user))); };
  for (int u = 1; u <= 3; ++u)
    CHECK(r.send(vote(u)) == ok200);
  CHECK(r.send(vote(1)) == ok200); // all three still remembered
  CHECK(r.send(vote(3)) == ok200);
  CHECK(r.handled == 3);
  CHECK(r.send(vote(4)) == ok200); // a fourth pushes out the oldest, voter 1
  CHECK(r.handled == 4);
  CHECK(r.send(vote(4)) == ok200);
  CHECK(r.send(vote(3)) == ok200);
  CHECK(r.handled == 4);
  CHECK(r.send(vote(1)) == ok200); // forgotten: delivered again
  CHECK(r.handled == 5);
}

// ---- stores that answer later, fail or misbehave ---------------------------------------------------

TEST_CASE("a store that defers every claim, answered from its own thread: through the Connection") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    auto store = std::make_shared<Deferring>();
    r.router.idempotency_store(store);
    std::thread::id handler_thread;
    r.router
        .on_bot_vote([&](const topgg::BotVote& v) {
          handler_thread = std::this_thread::get_id();
          r.record(describe_vote(v));
        })
        .on_vote_create([&](const v1::VoteCreate& v) {
          handler_thread = std::this_thread::get_id();
          r.record(v.user.id);
        });
    {
      store->hold(true);
      Waited w(r.router, 0);
      w.c.receive(k.request("1"), at(1));
      CHECK(w.c.output().empty()); // waiting for the claim
      CHECK(r.handled == 0);
      REQUIRE(w.c.deadline()); // bounded by the ack timeout meanwhile
      CHECK(*w.c.deadline() == at(4001).mono);
      store->hold(false);
      store->complete_held();
      CHECK(w.resume_after_wake(2));
      CHECK(status_line(w.c.output()) == k.success);
      CHECK(r.handled == 1);
      CHECK(handler_thread == std::this_thread::get_id()); // the handler ran on the loop thread, at resume()
    }
    {
      Waited w(r.router, 3);
      w.c.receive(k.request("1"), at(3)); // the retry: the store says done
      CHECK(w.resume_after_wake(4));
      CHECK(status_line(w.c.output()) == k.success);
      CHECK(r.handled == 1);
    }
    // Pipelined: each claimed at once, answered in order once the store has answered.
    {
      store->hold(true);
      Waited w(r.router, 5);
      w.c.receive(k.request("2") + k.request("2") + k.request("3"), at(5));
      CHECK(store->held_count() == 3);
      CHECK(w.c.output().empty());
      store->hold(false);
      store->complete_held();
      for (int i = 0; i < 10 && count_responses(w.c.output()) < 3; ++i)
        w.resume_after_wake(6);
      REQUIRE(count_responses(w.c.output()) == 3);
      CHECK(status_line(w.c.output(), 0) == k.success);
      // Claimed by the first, whose handler waits for the loop thread: in progress.
      CHECK(status_line(w.c.output(), 1) == busy503);
      CHECK(status_line(w.c.output(), 2) == k.success);
      CHECK(r.handled == 3);
    }
    CHECK(store->claims() == 5);
    CHECK(store->answered() == 5);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::duplicate, topgg::Error::duplicate_in_progress});
  }
}

TEST_CASE("a deferred claim not answered by the deadline: 503, and the handler never runs") {
  topgg::Settings s;
  s.ack_timeout = 500ms;
  Receiver r(s);
  auto store = std::make_shared<Deferring>();
  store->hold(true);
  r.router.idempotency_store(store);
  {
    Waited w(r.router, 0);
    w.c.receive(post("/dbl", "k", bot("1")), at(1));
    REQUIRE(w.c.deadline());
    CHECK(*w.c.deadline() == at(501).mono);
    w.c.on_timer(at(501));
    CHECK(status_line(w.c.output()) == busy503);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::store_unavailable});
    store->complete_held(); // the store answers after all: too late, nothing runs
    w.resume_after_wake(502);
    CHECK(count_responses(w.c.output()) == 1);
    CHECK(r.handled == 0);
  }
}

TEST_CASE("a claim answered but not yet acted on when the deadline passes: the handler never starts") {
  // The delivery is answered 503 at its deadline and Top.gg delivers it again:
  // a handler started then would handle the vote twice (issue 23, item 2).
  topgg::Settings s;
  s.ack_timeout = 500ms;
  Receiver r(s);
  r.ack_later();
  auto store = std::make_shared<Deferring>();
  store->hold(true);
  r.router.idempotency_store(store);
  {
    Waited w(r.router, 0);
    w.c.receive(post("/dbl", "k", bot("1")), at(1));
    store->complete_held(); // "claimed", from the store's thread
    REQUIRE(w.wait_wake());
    w.c.on_timer(at(501)); // the deadline comes before the loop acted on the answer
    CHECK(status_line(w.c.output()) == busy503);
    CHECK(r.handled == 0);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::store_unavailable});
  }
  // The key was released: Top.gg's retry is handled, once.
  store->hold(false);
  Waited w(r.router, 1000);
  w.c.receive(post("/dbl", "k", bot("1")), at(1000));
  REQUIRE(w.resume_after_wake(1001));
  CHECK(r.handled == 1);
  CHECK(r.ack(0).ok());
  CHECK(w.resume_after_wake(1002));
  CHECK(status_line(w.c.output()) == ok200);
}

TEST_CASE("an executor's job that runs after its delivery's deadline does not start the handler") {
  for (bool with_ack : {false, true}) {
    CAPTURE(with_ack);
    topgg::Settings s;
    s.ack_timeout = 500ms;
    Receiver r(s);
    if (with_ack)
      r.ack_later();
    std::vector<std::function<void()>> jobs;
    r.router.executor([&jobs](std::function<void()> job) { jobs.push_back(std::move(job)); });
    Waited w(r.router, 0);
    w.c.receive(post("/dbl", "k", bot("1")), at(1));
    REQUIRE(jobs.size() == 1); // queued, not started
    w.c.on_timer(at(501));
    CHECK(status_line(w.c.output()) == busy503);
    for (auto& job : jobs)
      job(); // the pool gets to it only now
    CHECK(r.handled == 0);
    // The retry is handled, once.
    jobs.clear();
    Waited again(r.router, 1000);
    again.c.receive(post("/dbl", "k", bot("1")), at(1000));
    REQUIRE(jobs.size() == 1);
    jobs[0]();
    CHECK(r.handled == 1);
    if (with_ack)
      CHECK(r.ack(0).ok());
    REQUIRE(again.resume_after_wake(1001));
    CHECK(status_line(again.c.output()) == ok200);
  }
}

TEST_CASE("Ack::deadline(): the delivery's arrival plus ack_timeout on a Connection; none through Router::handle") {
  topgg::Settings s;
  s.ack_timeout = 700ms;
  Receiver r(s);
  r.ack_later();
  Waited w(r.router, 0);
  w.c.receive(post("/dbl", "k", bot("1")), at(10));
  REQUIRE(r.handled == 1);
  CHECK(r.ack(0).deadline() == at(710).mono);
  CHECK(topgg::Ack().deadline() == topgg::Clock::time_point::max());
  HandleRequest hr(post("/dbl", "k", bot("2")));
  r.router.handle(hr.req, at(20), [](topgg::Response) {});
  REQUIRE(r.handled == 2);
  CHECK(r.ack(1).deadline() == topgg::Clock::time_point::max());
  CHECK(r.ack(1).ok());
  CHECK(r.ack(0).ok());
}

TEST_CASE("Router::handle after a store's late answer: a handler that waits for a worker completing its Ack") {
  // The handler ran on the store's thread under the wake cell's lock; the
  // worker's ack.ok() fires that cell, so it waited for the lock the handler's
  // thread held, and the handler waited for the worker: a deadlock (issue 23,
  // item 10). The wait is bounded here so that the old code fails, not hangs.
  Receiver r;
  auto store = std::make_shared<Deferring>();
  r.router.idempotency_store(store);
  struct Seen {
    std::atomic<bool> worker_done{false}, handler_saw_it{false};
  };
  auto seen = std::make_shared<Seen>();
  r.router.on_bot_vote([seen](const topgg::BotVote&, topgg::Ack ack) {
    std::thread([ack, seen] {
      ack.ok();
      seen->worker_done = true;
    }).detach();
    for (int i = 0; i < 2000 && !seen->worker_done; ++i) // up to 20 s: the worker needs a moment only
      std::this_thread::sleep_for(10ms);
    seen->handler_saw_it = seen->worker_done.load();
  });
  CHECK(handle(r.router, post("/dbl", "k", bot("1"))) == 200);
  CHECK(seen->handler_saw_it);
}

TEST_CASE("settings() never replaces a store the user gave, even a MemoryStore") {
  topgg::Router r;
  auto mine = std::make_shared<topgg::MemoryStore>(10);
  r.idempotency_store(mine);
  topgg::Settings s;
  s.dedup_capacity = 99;
  r.settings(s);
  CHECK(r.idempotency_store() == mine);
  r.idempotency_store(nullptr); // back to the default, which follows dedup_capacity
  CHECK(r.idempotency_store() != mine);
  CHECK(r.idempotency_store() != nullptr);
}

TEST_CASE("a claim answered after its delivery gave up is released, so Top.gg's retry is handled at once") {
  // Without this the key stayed claimed for its whole lease (ack timeout + 5 s), and
  // every retry meanwhile was answered 503: Top.gg's three v1 retries are over in ~7 s.
  for (bool connection_gone : {false, true}) {
    CAPTURE(connection_gone);
    topgg::Settings s;
    s.ack_timeout = 500ms;
    Receiver r(s);
    auto store = std::make_shared<Deferring>();
    store->hold(true);
    r.router.idempotency_store(store);
    {
      Waited w(r.router, 0);
      w.c.receive(post("/dbl", "k", bot("1")), at(1));
      if (!connection_gone) {
        w.c.on_timer(at(501)); // the deadline: 503, and nobody waits for the claim any more
        CHECK(status_line(w.c.output()) == busy503);
      }
    } // or the connection goes with the claim outstanding
    store->hold(false);
    store->complete_held(); // the store answers "claimed" after all
    REQUIRE(eventually([&] { return store->answered() >= 1; }));
    REQUIRE(store->answered() == 1);
    REQUIRE(eventually([&] { return store->released() >= 1; })); // on the store's thread, right after the answer
    // Top.gg's retry, well inside the old lease: claimed again and handled.
    store->hold(false);
    topgg::Connection c(r.router, at(1000));
    c.receive(post("/dbl", "k", bot("1")), at(1000));
    eventually([&] {
      c.resume(at(1000));
      return !c.output().empty();
    });
    CHECK(status_line(c.output()) == ok200);
    CHECK(r.handled == 1);
  }
}

TEST_CASE("a store that defers every claim: through Router::handle, answered on the store's thread") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    auto store = std::make_shared<Deferring>();
    r.router.idempotency_store(store);
    std::atomic<bool> on_store_thread{false};
    const auto test_thread = std::this_thread::get_id();
    r.router.on_bot_vote([&](const topgg::BotVote& v) {
      on_store_thread = std::this_thread::get_id() != test_thread;
      r.record(describe_vote(v));
    });
    r.router.on_vote_create([&](const v1::VoteCreate& v) {
      on_store_thread = std::this_thread::get_id() != test_thread;
      r.record(v.user.id);
    });
    const int success = k.success == ok200 ? 200 : 204;
    {
      store->hold(true);
      HandleRequest one(k.request("1"));
      std::promise<int> p;
      r.router.handle(one.req, at(1), [&p](topgg::Response res) { p.set_value(res.status); });
      auto f = p.get_future();
      CHECK(f.wait_for(0s) == std::future_status::timeout); // no answer while the claim waits
      CHECK(r.handled == 0);
      store->hold(false);
      store->complete_held();
      REQUIRE(f.wait_for(patience) == std::future_status::ready);
      CHECK(f.get() == success);
      CHECK(r.handled == 1);
      CHECK(on_store_thread); // the handler ran where the claim was answered
    }
    CHECK(handle(r.router, k.request("1")) == success);
    CHECK(r.handled == 1);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::duplicate});

    // Two at once, answered in one batch: one event; the other is in progress then, so 503.
    store->hold(true);
    HandleRequest a(k.request("2")), b(k.request("2"));
    std::promise<int> pa, pb;
    r.router.handle(a.req, at(5), [&pa](topgg::Response res) { pa.set_value(res.status); });
    r.router.handle(b.req, at(5), [&pb](topgg::Response res) { pb.set_value(res.status); });
    CHECK(store->held_count() == 2);
    store->hold(false);
    store->complete_held();
    auto fa = pa.get_future(), fb = pb.get_future();
    REQUIRE(fa.wait_for(patience) == std::future_status::ready);
    REQUIRE(fb.wait_for(patience) == std::future_status::ready);
    CHECK(fa.get() == success);
    CHECK(fb.get() == 503);
    CHECK(r.handled == 2);
    CHECK(r.take_errors() == std::vector<topgg::Error>{topgg::Error::duplicate_in_progress});
    CHECK(handle(r.router, k.request("2")) == success); // Top.gg's retry of it
    CHECK(r.handled == 2);
  }
}

/// A job queue the test thread runs: Router::handle's `resume`, landing the
/// rest of a delivery on the test thread.
struct Jobs {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> q;
  topgg::Executor executor() {
    return [this](std::function<void()> job) {
      std::lock_guard lock(m);
      q.push_back(std::move(job));
      cv.notify_all();
    };
  }
  /// Runs jobs as they come until `done` holds (up to `patience`); false on time out.
  template <class Done> bool run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    std::unique_lock lock(m);
    while (!done()) {
      if (q.empty()) {
        if (cv.wait_until(lock, deadline) == std::cv_status::timeout && q.empty())
          return done();
        continue;
      }
      auto job = std::move(q.front());
      q.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    return true;
  }
};

TEST_CASE("an Ack completed inside its handler, woken by a store's late answer: answered (no self-deadlock)") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    auto store = std::make_shared<Deferring>();
    r.router.idempotency_store(store);
    auto ack_now = [&r](topgg::Ack a) {
      ++r.handled;
      a.ok(); // on the store's thread, inside the run its answer started
    };
    r.router.on_bot_vote([ack_now](const topgg::BotVote&, topgg::Ack a) { ack_now(std::move(a)); })
        .on_vote_create([ack_now](const v1::VoteCreate&, topgg::Ack a) { ack_now(std::move(a)); });
    CHECK(handle(r.router, k.request("1")) == (k.success == ok200 ? 200 : 204));
    CHECK(r.handled == 1);
    CHECK(handle(r.router, k.request("1")) == (k.success == ok200 ? 200 : 204)); // remembered
    CHECK(r.handled == 1);
  }
}

TEST_CASE("Router::handle with `resume`: after a store's late answer the handler runs where resume runs jobs") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    auto store = std::make_shared<Deferring>();
    r.router.idempotency_store(store);
    const auto test_thread = std::this_thread::get_id();
    std::atomic<int> elsewhere{0};
    auto note = [&] {
      if (std::this_thread::get_id() != test_thread)
        ++elsewhere;
      ++r.handled;
    };
    r.router.on_bot_vote([note](const topgg::BotVote&, topgg::Ack a) {
      note();
      a.ok();
    });
    r.router.on_vote_create([note](const v1::VoteCreate&, topgg::Ack a) {
      note();
      a.ok();
    });
    Jobs jobs;
    HandleRequest one(k.request("1"));
    std::atomic<int> status{0};
    std::atomic<bool> replied_elsewhere{false};
    r.router.handle(
        one.req, at(1),
        [&](topgg::Response res) {
          replied_elsewhere = std::this_thread::get_id() != test_thread;
          status = res.status;
        },
        jobs.executor());
    REQUIRE(jobs.run_until([&] { return status != 0; }));
    CHECK(status == (k.success == ok200 ? 200 : 204));
    CHECK(r.handled == 1);
    CHECK(elsewhere == 0);                             // the handler ran on the test thread, not the store's
    CHECK(!replied_elsewhere);                         // and so did the answer
    CHECK(handle(r.router, k.request("1")) == status); // confirmed: a duplicate now
    CHECK(r.handled == 1);
  }
}

TEST_CASE("Router::handle with a `resume` that drops or throws on its jobs: the delivery still finishes") {
  for (const bool throws : {false, true}) {
    CAPTURE(throws);
    Receiver r;
    auto store = std::make_shared<Deferring>();
    r.router.idempotency_store(store);
    topgg::Executor lossy = [throws](std::function<void()>) {
      if (throws)
        throw std::runtime_error("queue closed");
    };
    HandleRequest one(kinds[1].request("1"));
    auto p = std::make_shared<std::promise<int>>();
    auto f = p->get_future();
    r.router.handle(
        one.req, at(1), [p](topgg::Response res) { p->set_value(res.status); }, lossy);
    REQUIRE(f.wait_for(patience) == std::future_status::ready);
    CHECK(f.get() == 204); // run where the job was let go, not left claimed
    CHECK(r.handled == 1);
    CHECK(handle(r.router, kinds[1].request("1")) == 204);
    CHECK(r.handled == 1); // and confirmed
  }
}

TEST_CASE("Router::deliver with `resume` and a store that answers later: handled on resume's thread, once") {
  Receiver r;
  auto store = std::make_shared<Deferring>();
  r.router.idempotency_store(store);
  const auto test_thread = std::this_thread::get_id();
  std::atomic<bool> on_test_thread{false};
  r.router.on_vote_create([&](const v1::VoteCreate&, topgg::Ack a) {
    on_test_thread = std::this_thread::get_id() == test_thread;
    ++r.handled;
    a.ok();
  });
  v1::VoteCreate v;
  v.weight = 1;
  v.created_at = v1::Timestamp(std::chrono::seconds(1'770'598'034));
  v.expires_at = v.created_at + std::chrono::hours(12);
  v.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  v.user.id = "1";
  v.source = v1::Source::catch_up;
  Jobs jobs;
  std::mutex m;
  std::vector<topgg::Error> done;
  auto record = [&](topgg::Error e) {
    std::lock_guard lock(m);
    done.push_back(e);
  };
  auto count = [&] {
    std::lock_guard lock(m);
    return done.size();
  };
  r.router.deliver(v, at(1), record, jobs.executor());
  REQUIRE(jobs.run_until([&] { return count() == 1; }));
  CHECK(on_test_thread);
  r.router.deliver(v, at(2), record, jobs.executor());
  REQUIRE(jobs.run_until([&] { return count() == 2; }));
  CHECK(done == std::vector<topgg::Error>{topgg::Error::ok, topgg::Error::duplicate});
  CHECK(r.handled == 1);
}

TEST_CASE("a store that throws, answers nullopt without deferring, says unavailable or drops its ticket: 503") {
  const Odd::Mode modes[] = {Odd::throws, Odd::forgets, Odd::unavailable, Odd::drops_ticket};
  for (const Kind& k : kinds)
    for (Odd::Mode mode : modes) {
      CAPTURE(k.name);
      CAPTURE(int(mode));
      Receiver r;
      r.router.idempotency_store(std::make_shared<Odd>(mode));
      CHECK(r.send(k.request("1")) == busy503);
      CHECK(handle(r.router, k.request("1")) == 503);
      CHECK(r.handled == 0);
      CHECK(r.take_errors() == std::vector<topgg::Error>(2, topgg::Error::store_unavailable));
      // Deliveries without a key never ask the store.
      CHECK(r.send(signed_post(webhook_test)) == ok204);
      CHECK(r.send(post("/dbl", "k", bot("1", "test"))) == ok200);
      CHECK(r.handled == 2);
    }
}

TEST_CASE("a store that completes its ticket before claim() returns: handled at once") {
  for (const Kind& k : kinds) {
    CAPTURE(k.name);
    Receiver r;
    r.router.idempotency_store(std::make_shared<Odd>(Odd::completes_inline));
    CHECK(r.send(k.request("1")) == k.success);
    CHECK(handle(r.router, k.request("1")) == (k.success == ok200 ? 200 : 204));
    CHECK(r.handled == 2);
  }
}

TEST_CASE("a store that throws on confirm or release: the answer stands, a warning says so") {
  struct Brittle : topgg::IdempotencyStore {
    std::optional<ClaimResult> claim(std::string_view, topgg::Now, std::chrono::milliseconds,
                                     topgg::ClaimDeferral&) override {
      return ClaimResult::claimed;
    }
    void confirm(std::string_view, topgg::Now, std::chrono::milliseconds) override {
      throw std::runtime_error("disk full");
    }
    void release(std::string_view, topgg::Now) override { throw 42; }
  };
  Receiver r;
  std::vector<std::string> warnings;
  r.router.idempotency_store(std::make_shared<Brittle>()).on_warning([&warnings](std::string_view w) {
    warnings.emplace_back(w);
  });
  CHECK(r.send(post("/dbl", "k", bot("1"))) == ok200);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("disk full") != std::string::npos);
  r.router.on_bot_vote([](const topgg::BotVote&) { throw std::runtime_error("handler down"); });
  CHECK(r.send(post("/dbl", "k", bot("2"))) == fail500);
  CHECK(warnings.size() == 2);
}

TEST_CASE("Router::handle: the Router and its store destroyed as soon as the answer arrives") {
  // A caller may destroy the Router the moment its last answer arrives (and
  // with it the store, when nobody else holds it). The answer is sent from the
  // store's thread: if the delivery still held the configuration then, the
  // store's last reference would go on its own thread, which cannot join itself.
  const int before = Deferring::destroyed_on_own_thread;
  for (int i = 0; i < 20; ++i) {
    std::promise<int> got;
    auto status = got.get_future();
    {
      auto r = std::make_unique<Receiver>();
      r->router.idempotency_store(std::make_shared<Deferring>());
      HandleRequest req(post("/dbl", "k", bot(std::to_string(i))));
      r->router.handle(req.req, at(1), [&got](topgg::Response res) {
        got.set_value(res.status);
        std::this_thread::sleep_for(2ms); // the caller gets going meanwhile
      });
      REQUIRE(status.wait_for(patience) == std::future_status::ready);
      CHECK(status.get() == 200);
    } // the Router and (its only holder gone) the store, at once
    std::this_thread::sleep_for(5ms);
  }
  CHECK(Deferring::destroyed_on_own_thread == before);
}

TEST_CASE("de-duplication decisions do not depend on how the bytes arrive (whole, per byte, split anywhere)") {
  Fixture f; // /dbl "secret-key"
  topgg::Settings s;
  s.dedup_capacity = 64; // a small table: replay_all builds a fresh store for each of its ~2000 replays
  f.router.settings(s).v1_webhook("/v1", std::string(secret)).on_vote_create([&f](const v1::VoteCreate& v) {
    f.events.push_back("vote.create " + v.user.id + " " + v.trace);
  });
  const std::string in = post("/dbl", "secret-key", bot("1")) + post("/dbl", "secret-key", bot("1")) +
                         post("/dbl", "secret-key", bot("1", "test")) + post("/dbl", "secret-key", bot("1", "test")) +
                         signed_post(vote_create(), "a") + signed_post(vote_create(), "b");
  const Trace t = replay_all(f, in); // a fresh memory store for each replay
  CHECK(count_responses(t.output) == 6);
  CHECK(t.events ==
        std::vector<std::string>{"bot 264811613708746752 user 1 upvote [ref=home]",
                                 "duplicate 200",
                                 "bot 264811613708746752 user 1 test [ref=home]",
                                 "bot 264811613708746752 user 1 test [ref=home]", "vote.create u1 a",
                                 "duplicate 204"});
}
