// VoteBook with real clocks and a real loop (libuv WebhookManager), the
// memory and SQLite stores: an expiry is delivered once, at or after its
// time, on the loop thread; a handler that throws, asks for a retry or never
// acknowledges gets it again (attempt 2) and, once it succeeded, never again;
// a bare Router's book delivers on its own thread; status() answers with no
// API call. Deadlines are generous: these assert order and counts, not speed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <future>
#include <thread>

#include <unistd.h>

#include "topgg/sqlite_store.hpp"
#include "topgg/uv.hpp"
#include "topgg/vote_book.hpp"

using namespace std::chrono_literals;
using topgg::Error;
using topgg::VoteExpired;
using topgg::VoteSubject;
namespace v1 = topgg::v1;

namespace {

const std::string project = "803190510032756736";

v1::Timestamp now_us() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

/// A vote as catch-up would deliver it: cast now, running out `in` from now.
v1::VoteCreate vote(const std::string& discord_id, std::chrono::milliseconds in, v1::Timestamp cast = now_us()) {
  v1::VoteCreate v;
  v.weight = 1;
  v.created_at = cast;
  v.expires_at = now_us() + in;
  v.project = {project, "bot", "discord", "264811613708746752"};
  v.user = {"topgg-" + discord_id, discord_id, "", ""};
  v.source = v1::Source::catch_up;
  return v;
}

/// What the handlers saw, and when.
struct Seen {
  std::mutex m;
  std::condition_variable cv;
  std::vector<VoteExpired> events;
  std::vector<std::chrono::system_clock::time_point> at;
  std::vector<std::thread::id> threads;

  void add(const VoteExpired& e) {
    std::lock_guard lock(m);
    events.push_back(e);
    at.push_back(std::chrono::system_clock::now());
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::seconds within = 30s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, within, [&] { return events.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard lock(m);
    return events.size();
  }
};

Error deliver(topgg::ManagerBase& m, const v1::VoteCreate& v) {
  auto p = std::make_shared<std::promise<Error>>();
  auto f = p->get_future();
  m.post([&m, v, p] { m.router().deliver("/v1", v, topgg::Now::current(), [p](Error e) { p->set_value(e); }); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

struct Server {
  topgg::uv::WebhookManager m;
  std::thread::id loop_thread;
  explicit Server(std::shared_ptr<topgg::IdempotencyStore> store = nullptr) {
    topgg::Settings s;
    s.ack_timeout = 500ms; // an Ack never completed fails quickly
    m.settings(s).on_error([](const topgg::Rejection&) {}).on_warning([](std::string_view) {});
    if (store)
      m.idempotency_store(std::move(store));
    m.v1_webhook("/v1", "whs_s").on_vote_create([](const v1::VoteCreate&) {});
  }
  void run() {
    m.run(0, "127.0.0.1");
    auto p = std::make_shared<std::promise<std::thread::id>>();
    m.post([p] { p->set_value(std::this_thread::get_id()); });
    loop_thread = p->get_future().get();
  }
};

topgg::VoteBookOptions quick() {
  topgg::VoteBookOptions o;
  o.retry_first = 200ms;
  o.poll = 200ms;
  return o;
}

} // namespace

TEST_CASE("vote book: an expiry is delivered once, at or after its time, on the loop thread; a newer vote moves it") {
  Server s;
  Seen seen;
  s.m.on_vote_expired([&](const VoteExpired& e) { seen.add(e); });
  topgg::VoteBook book(s.m, quick());
  s.run();
  book.start();
  // b1 runs out far enough ahead that b2 comes before it, however busy the machine.
  const auto a = vote("1001", 1500ms), b1 = vote("1002", 5s);
  CHECK(deliver(s.m, a) == Error::ok);
  CHECK(deliver(s.m, b1) == Error::ok);
  auto b2 = vote("1002", 6s, now_us() + 1s); // votes again before the first ran out: a new vote (another second)
  REQUIRE(now_us() < b1.expires_at);
  CHECK(deliver(s.m, b2) == Error::ok);
  REQUIRE(seen.wait_for(2));
  std::this_thread::sleep_for(1500ms); // long enough for a wrong second delivery of either
  REQUIRE(seen.size() == 2);
  std::lock_guard lock(seen.m);
  CHECK(seen.events[0].user == "1001");
  CHECK(seen.events[0].expired_at == a.expires_at);
  CHECK(seen.at[0] >= std::chrono::system_clock::time_point(a.expires_at.time_since_epoch()));
  CHECK(seen.events[0].streak == 1);
  CHECK(seen.events[0].attempt == 1);
  CHECK(seen.events[0].route == "/v1");
  CHECK(seen.events[0].subject == VoteSubject::project(project));
  CHECK(seen.events[1].user == "1002");
  CHECK(seen.events[1].expired_at == b2.expires_at); // once, at the newer expiry
  CHECK(seen.at[1] >= std::chrono::system_clock::time_point(b2.expires_at.time_since_epoch()));
  CHECK(seen.events[1].streak == 2);
  CHECK(seen.events[1].count == 2);
  CHECK(seen.threads[0] == s.loop_thread);
  CHECK(book.stats().delivered == 2);
  CHECK(book.stats().failed == 0);
  book.stop();
  s.m.close();
}

TEST_CASE("vote book: a handler that throws, asks for a retry or never acknowledges gets it again, then never") {
  Server s;
  Seen seen;
  std::atomic<int> calls{0};
  std::vector<topgg::Ack> kept; // loop thread only
  s.m.on_vote_expired([&](const VoteExpired& e, topgg::Ack ack) {
    seen.add(e);
    ++calls;
    if (e.user == "2001" && e.attempt == 1)
      throw std::runtime_error("discord down");
    if (e.user == "2002" && e.attempt == 1)
      return (void)ack.retry("later");
    if (e.user == "2003" && e.attempt == 1)
      return kept.push_back(ack); // never completed: timed out after ack_timeout
    ack.ok();
  });
  topgg::VoteBook book(s.m, quick());
  s.run();
  book.start();
  CHECK(deliver(s.m, vote("2001", 300ms)) == Error::ok);
  REQUIRE(seen.wait_for(2)); // thrown, then again
  CHECK(deliver(s.m, vote("2002", 300ms)) == Error::ok);
  REQUIRE(seen.wait_for(4));
  CHECK(deliver(s.m, vote("2003", 300ms)) == Error::ok);
  REQUIRE(seen.wait_for(6));
  std::this_thread::sleep_for(2s); // no seventh
  CHECK(seen.size() == 6);
  std::lock_guard lock(seen.m);
  for (int i = 0; i < 6; i += 2) {
    CHECK(seen.events[i].user == seen.events[i + 1].user);
    CHECK(seen.events[i].attempt == 1);
    CHECK(seen.events[i + 1].attempt == 2);
    CHECK(seen.at[i + 1] - seen.at[i] >= 200ms); // with back-off
  }
  CHECK(book.stats().delivered == 3);
  CHECK(book.stats().failed == 3);
  book.stop();
  s.m.post([&] { kept.clear(); });
  s.m.close();
}

TEST_CASE("vote book: on a bare Router, expiries are delivered on the book's thread; status() with no API call") {
  topgg::Router router;
  router.on_error([](const topgg::Rejection&) {}).on_warning([](std::string_view) {});
  router.v1_webhook("/v1", "whs_s").on_vote_create([](const v1::VoteCreate&) {});
  Seen seen;
  router.on_vote_expired([&](const VoteExpired& e) { seen.add(e); });
  topgg::VoteBook book(router, quick());
  book.start();
  const auto v = vote("3001", 5s); // still running when status() is asked, however busy the machine
  Error e = Error::handler_failed;
  router.deliver("/v1", v, topgg::Now::current(), [&](Error x) { e = x; });
  CHECK(e == Error::ok);
  const auto s1 = book.status(VoteSubject::project(project), "3001");
  CHECK(s1.voted);
  CHECK(s1.expires_at == v.expires_at);
  CHECK(s1.streak == 1);
  CHECK(s1.count == 1);
  CHECK(book.status(VoteSubject::project(project), "3002") == topgg::VoteStatus{}); // nothing about another user
  REQUIRE(seen.wait_for(1));
  CHECK(seen.threads[0] != std::this_thread::get_id());
  const auto s2 = book.status(VoteSubject::project(project), "3001");
  CHECK_FALSE(s2.voted);
  CHECK(s2.expires_at == v.expires_at);
  CHECK(s2.count == 1);
  std::optional<std::vector<VoteSubject>> subjects;
  book.subjects([&](std::optional<std::vector<VoteSubject>> s) { subjects = std::move(s); });
  REQUIRE(subjects);
  CHECK(*subjects == std::vector<VoteSubject>{VoteSubject::project(project)});
}

TEST_CASE("vote book: an expiry that came due while nothing ran is delivered once at the next start (SQLite)") {
  const auto dir = std::filesystem::temp_directory_path() / ("topgg-votebook-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "votes.db").string();
  v1::VoteCreate v = vote("4001", 5s); // stopped before it, however busy the machine
  {
    Server s(std::make_shared<topgg::SqliteStore>(path));
    Seen seen;
    s.m.on_vote_expired([&](const VoteExpired& e) { seen.add(e); });
    topgg::VoteBook book(s.m, quick());
    s.run();
    book.start();
    CHECK(deliver(s.m, v) == Error::ok);
    book.stop(); // stopped before the expiry
    s.m.close();
    REQUIRE(now_us() < v.expires_at); // (stopped in time: what follows tests a restart)
    CHECK(seen.size() == 0);
  }
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(v.expires_at.time_since_epoch()) + 500ms);
  Server s(std::make_shared<topgg::SqliteStore>(path));
  Seen seen;
  s.m.on_vote_expired([&](const VoteExpired& e) { seen.add(e); });
  topgg::VoteBook book(s.m, quick());
  s.run();
  book.start();
  REQUIRE(seen.wait_for(1));
  std::this_thread::sleep_for(1s);
  CHECK(seen.size() == 1);
  CHECK(seen.events[0].user == "4001");
  CHECK(seen.events[0].expired_at == v.expires_at);
  book.stop();
  s.m.close();
  std::filesystem::remove_all(dir);
}

TEST_CASE("vote book: made while the manager runs, or on a store without a ledger: refused") {
  Server s;
  s.run();
  CHECK_THROWS_AS(topgg::VoteBook{s.m}, std::logic_error);
  s.m.close();
  topgg::Router r;
  topgg::Settings off;
  off.dedup_ttl = 0s;
  r.settings(off);
  CHECK_THROWS_AS(topgg::VoteBook{r}, std::invalid_argument);
  topgg::VoteBookOptions bad;
  bad.batch = 0;
  topgg::Router r2;
  CHECK_THROWS_AS(topgg::VoteBook(r2, bad), std::invalid_argument);
}
