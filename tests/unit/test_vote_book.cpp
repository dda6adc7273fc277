// The vote book's core: the rules (record_vote, status_of) with injected time,
// MemoryStore's ledger (recorded with the key's first confirm, expiries handed
// out once, in order), the pipeline recording handled votes, Router::deliver of
// a vote.expired, and custom routes answered through an Ack or by prefix.
#include <atomic>
#include <thread>

#include "harness.hpp"

using namespace std::chrono_literals;
using topgg::Error;
using topgg::VoteEntry;
using topgg::VoteRecord;
using topgg::VoteSubject;
namespace v1 = topgg::v1;

namespace {

const v1::Timestamp t0{std::chrono::seconds(1'770'598'034) + std::chrono::microseconds(251014)};
constexpr auto grace = std::chrono::hours(12);

VoteEntry entry(std::string user, v1::Timestamp at, std::chrono::seconds lasts = 12h, std::int64_t weight = 1) {
  return {VoteSubject::project("803190510032756736"), std::move(user), "/topgg", at, at + lasts, weight};
}

topgg::Now wall(v1::Timestamp t) {
  topgg::Now n;
  n.wall = std::chrono::system_clock::time_point(t.time_since_epoch());
  n.mono = topgg::Clock::time_point{} + (t - t0) + 1000h;
  return n;
}

} // namespace

// ---- the rules -------------------------------------------------------------------

TEST_CASE("record_vote: the first vote starts a streak of 1; one within expiry + grace continues it") {
  auto r = topgg::record_vote(std::nullopt, entry("1", t0, 12h, 2), grace);
  CHECK(r.newest);
  CHECK(r.record == VoteRecord{"/topgg", t0, t0 + 12h, 2, 1, 1});

  // Before the first ran out (a second vote that moves the expiry): streak 2.
  auto early = topgg::record_vote(r.record, entry("1", t0 + 1h), grace);
  CHECK(early.newest);
  CHECK(early.record.streak == 2);
  CHECK(early.record.expires_at == t0 + 13h);
  CHECK(early.record.weight == 1);
  CHECK(early.record.count == 2);

  // Exactly at expiry + grace: still the streak; a microsecond later: a new one.
  auto edge = topgg::record_vote(r.record, entry("1", t0 + 24h), grace);
  CHECK(edge.record.streak == 2);
  auto late = topgg::record_vote(r.record, entry("1", t0 + 24h + 1us), grace);
  CHECK(late.record.streak == 1);
  CHECK(late.record.count == 2);

  // Three in a row, then a gap.
  VoteRecord rec = topgg::record_vote(std::nullopt, entry("1", t0), grace).record;
  rec = topgg::record_vote(rec, entry("1", t0 + 13h), grace).record;
  rec = topgg::record_vote(rec, entry("1", t0 + 26h), grace).record;
  CHECK(rec.streak == 3);
  rec = topgg::record_vote(rec, entry("1", t0 + 26h + 25h), grace).record;
  CHECK(rec.streak == 1);
  CHECK(rec.count == 4);
}

TEST_CASE("record_vote: a vote older than the latest (caught up late) only adds to the count") {
  const VoteRecord latest = topgg::record_vote(std::nullopt, entry("1", t0 + 13h), grace).record;
  auto old = topgg::record_vote(latest, entry("1", t0), grace);
  CHECK_FALSE(old.newest);
  CHECK(old.record.voted_at == latest.voted_at);
  CHECK(old.record.expires_at == latest.expires_at);
  CHECK(old.record.streak == latest.streak);
  CHECK(old.record.count == 2);
  // A grace of zero: only a vote no later than the expiry continues; a negative one acts as zero.
  CHECK(topgg::record_vote(latest, entry("1", t0 + 25h + 1us), 0s).record.streak == 1);
  CHECK(topgg::record_vote(latest, entry("1", t0 + 25h), -5s).record.streak == 2);
}

TEST_CASE("status_of: voted while the expiry is ahead; the streak holds until expiry + grace, then 0") {
  CHECK(topgg::status_of(std::nullopt, wall(t0).wall, grace) == topgg::VoteStatus{});
  const VoteRecord r{"/topgg", t0, t0 + 12h, 2, 3, 7};
  auto before = topgg::status_of(r, wall(t0 + 12h - 1us).wall, grace);
  CHECK(before.voted);
  CHECK(before.voted_at == t0);
  CHECK(before.expires_at == t0 + 12h);
  CHECK(before.weight == 2);
  CHECK(before.streak == 3);
  CHECK(before.count == 7);
  auto at = topgg::status_of(r, wall(t0 + 12h).wall, grace);
  CHECK_FALSE(at.voted);
  CHECK(at.streak == 3); // can still be continued
  CHECK(topgg::status_of(r, wall(t0 + 24h).wall, grace).streak == 3);
  auto after = topgg::status_of(r, wall(t0 + 24h + 1us).wall, grace);
  CHECK_FALSE(after.voted);
  CHECK(after.streak == 0);
  CHECK(after.count == 7);
  CHECK(after.expires_at == t0 + 12h);
}

TEST_CASE("subject and record names: escaped, read back") {
  const VoteSubject odd{VoteSubject::Kind::project, "a/b%c d"};
  const std::string member = topgg::detail::vote_member(odd, "u/1");
  CHECK(member == "project/a%2Fb%25c%20d/u%2F1");
  VoteSubject s;
  std::string user;
  REQUIRE(topgg::detail::parse_vote_member(member, s, user));
  CHECK(s == odd);
  CHECK(user == "u/1");
  CHECK(topgg::detail::subject_text(VoteSubject::bot(topgg::Snowflake(42))) == "bot/42");
  CHECK(topgg::detail::subject_text(VoteSubject::guild(topgg::Snowflake(7))) == "guild/7");
  CHECK_FALSE(topgg::detail::parse_subject_text("user/1", s));
  CHECK_FALSE(topgg::detail::parse_subject_text("bot/%4", s));
  CHECK_FALSE(topgg::detail::parse_vote_member("bot/1", s, user));
  CHECK(topgg::to_string(VoteSubject::Kind::guild) == "guild");
}

// ---- MemoryStore's ledger ------------------------------------------------------------

namespace {

std::optional<VoteRecord> find(topgg::VoteLedger& l, const std::string& user,
                               VoteSubject subject = VoteSubject::project("803190510032756736")) {
  std::optional<VoteRecord> out;
  bool answered = false;
  l.find(subject, user, [&](std::optional<VoteRecord> r, bool ok) {
    CHECK(ok);
    answered = true;
    out = std::move(r);
  });
  CHECK(answered);
  return out;
}

std::vector<std::string> users(const std::vector<topgg::DueExpiry>& due) {
  std::vector<std::string> out;
  for (const auto& d : due)
    out.push_back(d.user);
  return out;
}

} // namespace

TEST_CASE("memory ledger: a vote is recorded with its key's first confirm only: a retry or a twin counts once") {
  topgg::MemoryStore store;
  topgg::VoteLedger& l = *store.vote_ledger();
  l.record("key-1", wall(t0), 1h, entry("1", t0), grace);
  l.record("key-1", wall(t0 + 1s), 1h, entry("1", t0), grace); // the same delivery confirmed again
  CHECK(find(l, "1")->count == 1);
  // A key confirmed by the plain path (handled before the book was on, or by catch-up's twin): not recorded.
  store.confirm("key-2", wall(t0), 1h);
  l.record("key-2", wall(t0 + 1s), 1h, entry("1", t0 + 1h), grace);
  CHECK(find(l, "1")->count == 1);
  // After the key's TTL the same key is a new delivery (a legacy vote 12 h later has the same key).
  l.record("key-1", wall(t0 + 13h), 1h, entry("1", t0 + 13h), grace);
  auto r = find(l, "1");
  CHECK(r->count == 2);
  CHECK(r->streak == 2);
  // Claimed, not confirmed: the record's confirm takes it.
  topgg::ClaimDeferral later([](topgg::ClaimResult) {});
  CHECK(store.claim("key-3", wall(t0 + 14h), 10s, later) == topgg::ClaimResult::claimed);
  l.record("key-3", wall(t0 + 14h), 1h, entry("2", t0 + 14h), grace);
  CHECK(store.claim("key-3", wall(t0 + 14h), 10s, later) == topgg::ClaimResult::done);
  CHECK(find(l, "2")->count == 1);
  CHECK_FALSE(find(l, "3"));
  CHECK_FALSE(find(l, "1", VoteSubject::bot(topgg::Snowflake(1))));
  // Without a key: recorded each time (no de-duplication to rely on).
  l.record("", wall(t0), 1h, entry("4", t0), grace);
  l.record("", wall(t0), 1h, entry("4", t0), grace);
  CHECK(find(l, "4")->count == 2);
  std::vector<VoteSubject> subjects;
  l.subjects([&](std::vector<VoteSubject> s, bool ok) {
    CHECK(ok);
    subjects = std::move(s);
  });
  CHECK(subjects == std::vector<VoteSubject>{VoteSubject::project("803190510032756736")});
}

TEST_CASE("memory ledger: expiries handed out at their time, earliest first, once; claimed until the lease ends") {
  topgg::MemoryStore store;
  topgg::VoteLedger& l = *store.vote_ledger();
  CHECK_FALSE(l.next_due());
  const char* const keys[] = {"k0", "k1", "k2", "k3", "k4"}; // (GCC 12 -O3 sees a false overlap in "k" + to_string)
  for (int i = 0; i < 5; ++i)                                // user i's vote runs out at t0 + 10 s - i s
    l.record(keys[i], wall(t0), 1h, entry(std::to_string(i), t0, 10s - std::chrono::seconds(i)), grace);
  CHECK(l.next_due() == t0 + 6s);
  CHECK(l.take_due(t0 + 6s - 1us, 10, t0 + 1h, "a").empty());
  auto first = l.take_due(t0 + 8s, 2, t0 + 8s + 30s, "a");
  CHECK(users(first) == std::vector<std::string>{"4", "3"});
  CHECK(first[0].record.expires_at == t0 + 6s);
  CHECK(first[0].attempts == 0);
  CHECK(users(l.take_due(t0 + 8s, 10, t0 + 8s + 30s, "b")) == std::vector<std::string>{"2"}); // not 4 or 3: claimed
  CHECK(users(l.take_due(t0 + 20s, 10, t0 + 50s, "c")) == std::vector<std::string>{"1", "0"});
  // Delivered: never again. Failed: due again at the retry time, one attempt counted.
  l.finish(first[0], "a", true, {});
  l.finish(first[1], "a", false, t0 + 9s);
  auto again = l.take_due(t0 + 9s, 10, t0 + 40s, "a");
  REQUIRE(users(again) == std::vector<std::string>{"3"});
  CHECK(again[0].attempts == 1);
  // A finish by another token, or for a vote replaced since, changes nothing.
  l.finish(again[0], "b", true, {});
  // User 2's claim (b) lapses at t0 + 38 s: handed out again then (b crashed).
  CHECK(users(l.take_due(t0 + 37s, 10, t0 + 2min, "a")).empty());
  CHECK(users(l.take_due(t0 + 38s, 10, t0 + 2min, "a")) == std::vector<std::string>{"2"});
  // User 3's claim (a, second try) lapses at t0 + 40 s: the finish by b did not end it.
  CHECK(users(l.take_due(t0 + 40s, 10, t0 + 2min, "d")) == std::vector<std::string>{"3"});
}

TEST_CASE("memory ledger: a newer vote replaces the expiry owed, even one claimed or being retried") {
  topgg::MemoryStore store;
  topgg::VoteLedger& l = *store.vote_ledger();
  l.record("k1", wall(t0), 1h, entry("1", t0, 2s), grace);
  auto claimed = l.take_due(t0 + 2s, 10, t0 + 40s, "a");
  REQUIRE(claimed.size() == 1);
  l.record("k2", wall(t0 + 3s), 1h, entry("1", t0 + 3s, 2s), grace); // votes again meanwhile
  l.finish(claimed[0], "a", false, t0 + 4s);                         // the old claim's failure: ignored
  CHECK(l.next_due() == t0 + 5s);
  auto next = l.take_due(t0 + 5s, 10, t0 + 40s, "a");
  REQUIRE(next.size() == 1);
  CHECK(next[0].record.expires_at == t0 + 5s);
  CHECK(next[0].record.streak == 2);
  CHECK(next[0].attempts == 0);
  l.finish(next[0], "a", true, {});
  CHECK_FALSE(l.next_due());
  // An older vote caught up late changes no expiry.
  l.record("k0", wall(t0 + 6s), 1h, entry("1", t0 - 1h, 2s), grace);
  CHECK_FALSE(l.next_due());
  CHECK(find(l, "1")->count == 3);
}

// ---- the pipeline records handled votes -----------------------------------------------

namespace {

std::string bot_body(const std::string& user, const std::string& type = "upvote", bool weekend = false) {
  return R"({"bot":"264811613708746752","user":")" + user + R"(","type":")" + type + R"(","isWeekend":)" +
         (weekend ? "true" : "false") + "}";
}

std::string v1_body(const std::string& user_id, const std::string& discord, const std::string& created,
                    const std::string& expires, int weight = 1) {
  return R"({"type":"vote.create","data":{"id":"w1","weight":)" + std::to_string(weight) + R"(,"created_at":")" +
         created + R"(","expires_at":")" + expires +
         R"(","project":{"id":"803190510032756736","type":"bot","platform":"discord",)"
         R"("platform_id":"264811613708746752"},"user":{"id":")" +
         user_id + R"(","platform_id":")" + discord + R"(","name":"n","avatar_url":null}}})";
}

struct BookFixture {
  topgg::Router router;
  std::shared_ptr<topgg::MemoryStore> store = std::make_shared<topgg::MemoryStore>();
  std::vector<v1::Timestamp> told;
  bool fail = false;
  std::vector<topgg::Ack> acks;
  bool keep_acks = false;

  BookFixture() {
    router.idempotency_store(store)
        .dbl_webhook("/dbl", "k")
        .v1_webhook("/v1", "whs_s")
        .on_bot_vote([this](const topgg::BotVote&, topgg::Ack ack) {
          if (fail)
            throw std::runtime_error("down");
          if (keep_acks)
            acks.push_back(ack);
          else
            ack.ok();
        })
        .on_vote_create([](const v1::VoteCreate&) {})
        .on_error([](const topgg::Rejection&) {})
        .on_duplicate([](const topgg::Rejection&) {})
        .on_warning([](std::string_view) {});
    topgg::VoteRules rules;
    rules.legacy_duration = 3s;
    router.attach_vote_book(rules, [this](v1::Timestamp t) { told.push_back(t); });
  }
  int send(const std::string& path, const std::string& body, topgg::Now now) {
    const std::string signature =
        v1::sign("whs_s", std::chrono::floor<std::chrono::seconds>(now.wall).time_since_epoch().count(), body);
    std::vector<topgg::Header> h{{"Authorization", "k"}};
    if (path == "/v1")
      h = {{"x-topgg-signature", signature}};
    topgg::Request r;
    r.method = "POST";
    r.target = path;
    r.headers = h;
    r.body = body;
    int status = 0;
    router.handle(r, now, [&](topgg::Response res) { status = res.status; });
    return status;
  }
  std::optional<VoteRecord> bot(const std::string& user) {
    return find(*store->vote_ledger(), user, VoteSubject::bot(topgg::Snowflake(264811613708746752ULL)));
  }
};

} // namespace

TEST_CASE("pipeline: a handled legacy vote is recorded once, with the rules' duration; retries and tests are not") {
  BookFixture f;
  const topgg::Now now = wall(t0);
  CHECK(f.send("/dbl", bot_body("11", "upvote", true), now) == 200);
  auto r = f.bot("11");
  REQUIRE(r);
  const auto handled = std::chrono::floor<std::chrono::microseconds>(now.wall);
  CHECK(r->voted_at.time_since_epoch() == handled.time_since_epoch());
  CHECK(r->expires_at == r->voted_at + 3s);
  CHECK(r->weight == 2);
  CHECK(r->route == "/dbl");
  CHECK(f.told == std::vector<v1::Timestamp>{r->expires_at});
  CHECK(f.send("/dbl", bot_body("11"), wall(t0 + 1s)) == 200); // Top.gg's retry: a duplicate
  CHECK(f.bot("11")->count == 1);
  CHECK(f.send("/dbl", bot_body("12", "test"), now) == 200); // the dashboard's Test button
  CHECK_FALSE(f.bot("12"));
  // A handler that fails: nothing recorded; its retry is.
  f.fail = true;
  CHECK(f.send("/dbl", bot_body("13"), now) == 500);
  CHECK_FALSE(f.bot("13"));
  f.fail = false;
  CHECK(f.send("/dbl", bot_body("13"), now) == 200);
  CHECK(f.bot("13")->count == 1);
}

TEST_CASE("pipeline: an Ack completed later records once; one that never completes records nothing") {
  BookFixture f;
  f.keep_acks = true;
  int status = 0;
  std::vector<topgg::Header> h{{"Authorization", "k"}};
  topgg::Request r;
  r.method = "POST";
  r.target = "/dbl";
  r.headers = h;
  const std::string body = bot_body("21");
  r.body = body;
  f.router.handle(r, wall(t0), [&](topgg::Response res) { status = res.status; });
  CHECK(status == 0);
  CHECK_FALSE(f.bot("21"));
  std::thread([&] { f.acks.back().ok(); }).join();
  CHECK(status == 200);
  CHECK(f.bot("21")->count == 1);
  const std::string body2 = bot_body("22");
  r.body = body2;
  f.router.handle(r, wall(t0), [&](topgg::Response res) { status = res.status; });
  f.acks.clear(); // dropped uncompleted: 503, released
  CHECK(status == 503);
  CHECK_FALSE(f.bot("22"));
}

TEST_CASE("pipeline: a vote.create and its catch-up twin count once; the record is keyed by the Discord ID") {
  BookFixture f;
  const std::string created = "2026-02-09T00:47:14.2510149Z", expires = "2026-02-09T12:47:14.2510149Z";
  const topgg::Now now = wall(t0 + 1min);
  CHECK(f.send("/v1", v1_body("u1", "160105994217586689", created, expires, 2), now) == 204);
  v1::VoteCreate twin;
  twin.weight = 2;
  twin.created_at = *v1::parse_rfc3339(created);
  twin.expires_at = *v1::parse_rfc3339(expires);
  twin.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  twin.user = {"u1", "160105994217586689", "", ""};
  twin.source = v1::Source::catch_up;
  Error e = Error::ok;
  f.router.deliver("/v1", twin, now, [&](Error x) { e = x; });
  CHECK(e == Error::duplicate);
  auto r = find(*f.store->vote_ledger(), "160105994217586689");
  REQUIRE(r);
  CHECK(r->count == 1);
  CHECK(r->streak == 1);
  CHECK(r->weight == 2);
  CHECK(r->voted_at == twin.created_at);
  CHECK(r->expires_at == twin.expires_at);
  // Caught up first, then delivered by webhook: once as well.
  twin.user.id = "u2";
  twin.user.platform_id = "42";
  f.router.deliver("/v1", twin, now, [&](Error x) { e = x; });
  CHECK(e == Error::ok);
  CHECK(f.send("/v1", v1_body("u2", "42", created, expires), now) == 204);
  CHECK(find(*f.store->vote_ledger(), "42")->count == 1);
}

TEST_CASE("attach_vote_book: refused with de-duplication off, a store without a ledger, or while frozen") {
  struct Plain final : topgg::IdempotencyStore {
    std::optional<topgg::ClaimResult> claim(std::string_view, topgg::Now, std::chrono::milliseconds,
                                            topgg::ClaimDeferral&) override {
      return topgg::ClaimResult::claimed;
    }
    void confirm(std::string_view, topgg::Now, std::chrono::milliseconds) override {}
    void release(std::string_view, topgg::Now) override {}
  };
  topgg::Router r;
  topgg::Settings off;
  off.dedup_ttl = 0s;
  r.settings(off);
  CHECK_THROWS_AS(r.attach_vote_book({}, {}), std::invalid_argument);
  r.settings(topgg::Settings{});
  r.idempotency_store(std::make_shared<Plain>());
  CHECK_THROWS_AS(r.attach_vote_book({}, {}), std::invalid_argument);
  r.idempotency_store(nullptr); // the default MemoryStore
  topgg::VoteRules zero;
  zero.legacy_duration = 0s;
  CHECK_THROWS_AS(r.attach_vote_book(zero, {}), std::invalid_argument);
  r.freeze(true);
  CHECK_THROWS_AS(r.attach_vote_book({}, {}), std::logic_error);
  r.freeze(false);
  CHECK_NOTHROW(r.attach_vote_book({}, {}));
}

// ---- Router::deliver(VoteExpired) --------------------------------------------------

namespace {

topgg::VoteExpired expired() {
  topgg::VoteExpired e;
  e.subject = VoteSubject::project("803190510032756736");
  e.user = "160105994217586689";
  e.route = "/topgg";
  e.voted_at = t0;
  e.expired_at = t0 + 12h;
  e.streak = 2;
  return e;
}

} // namespace

TEST_CASE("Router::deliver(VoteExpired): returned → ok; threw → handler_failed (error hook told); no handler → ok") {
  topgg::Router r;
  std::vector<std::string> errors;
  r.on_error([&](const topgg::Rejection& x) {
    errors.push_back(std::string(x.method) + " " + std::string(x.path) + ": " + std::string(x.detail));
  });
  std::optional<Error> done;
  r.deliver(expired(), wall(t0 + 12h), [&](Error e) { done = e; });
  CHECK(done == Error::ok); // nobody asked for expiries: handled
  std::vector<topgg::VoteExpired> seen;
  bool fail = false;
  r.on_vote_expired([&](const topgg::VoteExpired& e) {
    if (fail)
      throw std::runtime_error("discord down");
    seen.push_back(e);
  });
  done.reset();
  r.deliver(expired(), wall(t0 + 12h), [&](Error e) { done = e; });
  CHECK(done == Error::ok);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].user == "160105994217586689");
  CHECK(seen[0].streak == 2);
  CHECK(seen[0].expired_at == t0 + 12h);
  fail = true;
  done.reset();
  r.deliver(expired(), wall(t0 + 12h), [&](Error e) { done = e; });
  CHECK(done == Error::handler_failed);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "vote.expired /topgg: handler threw: discord down");
}

TEST_CASE("Router::deliver(VoteExpired): an Ack's retry, a late Ack given up, an executor") {
  topgg::Router r;
  r.on_error([](const topgg::Rejection&) {});
  std::vector<topgg::Ack> acks;
  r.on_vote_expired([&](const topgg::VoteExpired&, topgg::Ack ack) { acks.push_back(ack); });
  std::atomic<int> done{-1};
  auto give_up = r.deliver(expired(), wall(t0), [&](Error e) { done = static_cast<int>(e); });
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].deadline() == topgg::Clock::time_point{} + 1000h + r.settings().ack_timeout);
  CHECK(done == -1);
  CHECK(acks[0].retry("later"));
  CHECK(done == static_cast<int>(Error::handler_retry));
  give_up(); // after done: nothing
  CHECK(done == static_cast<int>(Error::handler_retry));

  done = -1;
  give_up = r.deliver(expired(), wall(t0), [&](Error e) { done = static_cast<int>(e); });
  std::thread([&] { give_up(); }).join(); // the caller's deadline passed
  CHECK(done == static_cast<int>(Error::ack_timeout));
  CHECK_FALSE(acks[1].ok()); // too late: it will be delivered again
  acks.clear();

  std::vector<std::function<void()>> jobs;
  r.executor([&](std::function<void()> job) { jobs.push_back(std::move(job)); });
  done = -1;
  r.deliver(expired(), wall(t0), [&](Error e) { done = static_cast<int>(e); });
  REQUIRE(jobs.size() == 1);
  CHECK(done == -1);
  jobs[0]();
  REQUIRE(acks.size() == 1);
  acks[0].ok();
  CHECK(done == static_cast<int>(Error::ok));
}

// ---- custom routes: answered through an Ack, by prefix ------------------------------------

TEST_CASE("custom routes: an Ack route answers later from another thread; a prefix route takes paths under it") {
  topgg::Router r;
  r.on_error([](const topgg::Rejection&) {});
  std::vector<topgg::Ack> acks;
  std::vector<std::string> paths;
  r.route("GET", "/votes/*", [&](const topgg::Request& req, topgg::Ack ack) {
     paths.emplace_back(topgg::path_of(req.target)); // Router::handle's caller may leave `path` empty
     acks.push_back(ack);
   }).route("GET", "/votes/stats", [](const topgg::Request&) {
    return topgg::Response{200, {}, "stats"};
  });
  std::vector<std::optional<topgg::Response>> answers(8); // each request's, alive until the end
  std::size_t next = 0;
  auto get = [&](std::string_view target, std::string_view method = "GET") -> std::optional<topgg::Response>& {
    auto& out = answers.at(next++);
    topgg::Request req;
    req.method = method;
    req.target = target;
    r.handle(req, wall(t0), [&out](topgg::Response res) { out = std::move(res); });
    return out;
  };
  auto& first = get("/votes/123?project=1");
  CHECK_FALSE(first);
  REQUIRE(paths == std::vector<std::string>{"/votes/123"});
  std::thread([&] {
    topgg::Response res{200, {{"Content-Type", "application/json"}}, R"({"voted":true})"};
    CHECK(acks.back().ok(std::move(res)));
  }).join();
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->body == R"({"voted":true})");
  CHECK(get("/votes/stats")->body == "stats"); // the exact route wins
  CHECK(get("/votes/")->status == 404);        // nothing under it
  CHECK(get("/votes")->status == 404);
  CHECK(get("/votes/1", "POST")->status == 405);
  CHECK(paths.size() == 1);
}

TEST_CASE("custom routes: an Ack route that throws is answered 500; one whose Ack is dropped 503") {
  topgg::Router r;
  std::vector<std::string> errors;
  r.on_error([&](const topgg::Rejection& x) { errors.push_back(std::string(x.detail)); });
  r.route("GET", "/boom", [](const topgg::Request&, topgg::Ack) { throw std::runtime_error("x"); })
      .route("GET", "/drop", [](const topgg::Request&, topgg::Ack) {})
      .route("GET", "/retry", [](const topgg::Request&, topgg::Ack a) { a.retry(); });
  auto get = [&](std::string_view target) {
    std::optional<topgg::Response> out;
    topgg::Request req;
    req.method = "GET";
    req.target = target;
    r.handle(req, wall(t0), [&](topgg::Response res) { out = std::move(res); });
    REQUIRE(out);
    return out->status;
  };
  CHECK(get("/boom") == 500);
  CHECK(errors.back() == "route handler threw: x");
  CHECK(get("/drop") == 503);
  CHECK(get("/retry") == 503);
  CHECK_THROWS_AS(r.route("GET", "/null", topgg::AckRouteHandler{}), std::invalid_argument);
}

TEST_CASE("secret_equals: equal only when every byte and the length match") {
  CHECK(topgg::secret_equals("Bearer abc", "Bearer abc"));
  CHECK_FALSE(topgg::secret_equals("Bearer abd", "Bearer abc"));
  CHECK_FALSE(topgg::secret_equals("Bearer ab", "Bearer abc"));
  CHECK_FALSE(topgg::secret_equals("", "x"));
  CHECK(topgg::secret_equals(std::string(300, 'k'), std::string(300, 'k')));
  CHECK_FALSE(topgg::secret_equals(std::string(300, 'k'), std::string(299, 'k') + "j"));
}
