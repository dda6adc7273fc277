// SqliteStore against real files: the claim semantics, restarts, sharing a
// file between store objects and processes, outages and the bounded queue.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sqlite3.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <iostream>

#include "support.hpp"
#include "topgg/router.hpp"
#include "topgg/sqlite_store.hpp"

extern char** environ;

using namespace std::chrono_literals;
using topgg::ClaimResult;
using topgg::SqliteOptions;
using topgg::SqliteStore;
using ts::at;
using ts::claim;

namespace {

/// A second connection to the store's file, as another program would open it.
class Raw {
public:
  explicit Raw(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      throw std::runtime_error("cannot open " + path);
    sqlite3_busy_timeout(db_, 30'000); // the store holds the lock briefly, however slow the machine
  }
  ~Raw() { sqlite3_close(db_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(msg);
    }
  }
  /// The first column of every row, as text ("NULL" for null).
  std::vector<std::string> column(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
    std::vector<std::string> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    sqlite3_finalize(s);
    return out;
  }
  std::string one(const std::string& sql) {
    auto c = column(sql);
    return c.empty() ? "(none)" : c.front();
  }

private:
  sqlite3* db_ = nullptr;
};

// Appends rather than `"k" + std::to_string(i)`, which trips GCC 12's -Wrestrict false positive at -O3.
std::string numbered(const char* prefix, std::size_t i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

std::string key(std::size_t i) { return numbered("race-", i); }

/// For stores that share a file: a wait for the other's write lock that cannot
/// run out on a busy machine (the default, 1 s, is a deadline the race would
/// depend on); what is checked is who claimed what.
SqliteOptions patient() {
  SqliteOptions o;
  o.busy_timeout = 60'000ms;
  return o;
}

/// Threads of this process (/proc/self/task).
int threads_now() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

/// Polls `done` until it holds or a generous `limit` passes; returns done().
template <class Done> bool eventually(Done done, std::chrono::milliseconds limit = 30s) {
  const auto until = ts::Steady::now() + limit;
  while (!done() && ts::Steady::now() < until)
    std::this_thread::sleep_for(5ms);
  return done();
}

char letter(std::optional<ClaimResult> r) {
  if (!r)
    return '-';
  switch (*r) {
  case ClaimResult::claimed: return 'c';
  case ClaimResult::done: return 'd';
  case ClaimResult::in_progress: return 'i';
  case ClaimResult::unavailable: return 'u';
  }
  return '?';
}

std::string exe_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

} // namespace

/// The other process of "two processes on one file agree": says "r" once its
/// store is open; once a byte arrives on standard input, claims race-N-1 down to race-0 one after the other (the
/// parent goes upwards, so they meet), and prints one letter per key.
int sqlite_child(int argc, char** argv) {
  if (argc != 4)
    return 2;
  const std::size_t n = std::stoul(argv[3]);
  SqliteStore store(argv[2], patient());
  if (::write(1, "r", 1) != 1) // ready: the store is open
    return 3;
  char go;
  if (::read(0, &go, 1) != 1)
    return 3;
  std::string out(n, '-');
  for (std::size_t i = n; i-- > 0;)
    out[i] = letter(claim(store, key(i), at(0)));
  std::cout << out << std::endl;
  return 0;
}

TEST_CASE("sqlite store: claim, confirm, release, lease and TTL") {
  ts::TempDir dir;
  SqliteStore s(dir.file("dedup.db"));
  CHECK(claim(s, "a", at(0)) == ClaimResult::claimed);
  CHECK(claim(s, "a", at(1)) == ClaimResult::in_progress); // held while handled
  s.release("a", at(2));
  CHECK(claim(s, "a", at(3)) == ClaimResult::claimed); // released: the retry is handled
  s.confirm("a", at(4), 10'000ms);
  CHECK(claim(s, "a", at(5)) == ClaimResult::done);
  s.release("a", at(6)); // never drops a confirmed key
  CHECK(claim(s, "a", at(7)) == ClaimResult::done);
  CHECK(claim(s, "a", at(10'003)) == ClaimResult::done);
  CHECK(claim(s, "a", at(10'004)) == ClaimResult::claimed); // TTL over: forgotten

  CHECK(claim(s, "b", at(0), 100ms) == ClaimResult::claimed);
  CHECK(claim(s, "b", at(99)) == ClaimResult::in_progress);
  CHECK(claim(s, "b", at(100)) == ClaimResult::claimed); // lease lapsed: a crashed receiver does not block the retry
  CHECK(claim(s, "c", at(0), 0ms) == ClaimResult::claimed);
  CHECK(claim(s, "c", at(0)) == ClaimResult::claimed); // no lease at all: lapsed at once, as in MemoryStore
}

TEST_CASE("sqlite store: the file holds versioned rows in wall-clock milliseconds") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  SqliteStore s(path);
  CHECK(claim(s, "held", at(0), 4000ms) == ClaimResult::claimed);
  CHECK(claim(s, "kept", at(0)) == ClaimResult::claimed);
  s.confirm("kept", at(10), 3'600'000ms);
  CHECK(claim(s, "kept", at(11)) == ClaimResult::done); // the confirm is written before this answer

  Raw raw(path);
  CHECK(raw.one("PRAGMA journal_mode") == "wal");
  CHECK(raw.one("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
  CHECK(raw.one("SELECT state || ' ' || expires FROM claims WHERE key = 'held'") == "claimed 1700000004000");
  CHECK(raw.one("SELECT length(token) FROM claims WHERE key = 'held'") == "32");
  CHECK(raw.one("SELECT state || ' ' || expires FROM claims WHERE key = 'kept'") == "done 1700003600010");
  CHECK(raw.one("SELECT token FROM claims WHERE key = 'kept'") == "NULL");
}

TEST_CASE("sqlite store: survives reopening; a claim is released only by the store that made it") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  {
    SqliteStore s(path);
    REQUIRE(claim(s, "answered", at(0)) == ClaimResult::claimed);
    s.confirm("answered", at(1), 3'600'000ms);
    REQUIRE(claim(s, "crashed", at(0), 5000ms) == ClaimResult::claimed); // never confirmed: the receiver "crashed"
  }
  SqliteStore s(path); // the first closed after writing what was queued
  CHECK(claim(s, "answered", at(2)) == ClaimResult::done);
  CHECK(claim(s, "crashed", at(3)) == ClaimResult::in_progress); // its lease runs on across the restart
  s.release("crashed", at(4));                                   // not this store's claim: kept
  CHECK(claim(s, "crashed", at(5)) == ClaimResult::in_progress);
  CHECK(claim(s, "crashed", at(5000)) == ClaimResult::claimed); // lapsed
  s.release("crashed", at(5001));                               // now it is this store's own
  CHECK(claim(s, "crashed", at(5002)) == ClaimResult::claimed);
}

TEST_CASE("sqlite store: two store objects on one file agree") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  SqliteStore a(path, patient()), b(path, patient());
  constexpr std::size_t n = 300;
  ts::Batch ba(n), bb(n);
  std::thread ta([&] {
    for (std::size_t i = 0; i < n; ++i)
      ba.start(a, i, key(i), at(0));
  });
  std::thread tb([&] { // the other way round, so that they meet
    for (std::size_t i = n; i-- > 0;)
      bb.start(b, i, key(i), at(0));
  });
  ta.join();
  tb.join();
  REQUIRE(ba.wait());
  REQUIRE(bb.wait());
  const auto ra = ba.results(), rb = bb.results();
  std::size_t exactly_one = 0;
  for (std::size_t i = 0; i < n; ++i)
    exactly_one += (ra[i] == ClaimResult::claimed) + (rb[i] == ClaimResult::claimed) == 1 &&
                   (ra[i] == ClaimResult::in_progress) + (rb[i] == ClaimResult::in_progress) == 1;
  CHECK(exactly_one == n);
  // What one confirms, the other sees.
  a.confirm(key(0), at(1), 60'000ms);
  CHECK(claim(a, "sync", at(1)) == ClaimResult::claimed); // a's queue is written up to here
  CHECK(claim(b, key(0), at(2)) == ClaimResult::done);
}

TEST_CASE("sqlite store: two processes on one file agree") {
  constexpr std::size_t n = 1000;
  // On a loaded machine one process may finish before the other starts: then
  // the round shows nothing of their race, and another is run (a fresh file).
  bool met = false;
  for (int round = 0; round < 5 && !met; ++round) {
    ts::TempDir dir;
    const std::string path = dir.file("dedup.db");
    SqliteStore store(path, patient()); // creates the schema before the child opens the file

    int to_child[2], from_child[2];
    REQUIRE(::pipe(to_child) == 0);
    REQUIRE(::pipe(from_child) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to_child[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from_child[1], 1);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]})
      posix_spawn_file_actions_addclose(&fa, fd);
    const std::string exe = exe_path(), count = std::to_string(n);
    std::vector<char*> args = {const_cast<char*>(exe.c_str()), const_cast<char*>("--child"),
                               const_cast<char*>(path.c_str()), const_cast<char*>(count.c_str()), nullptr};
    pid_t pid = -1;
    const int spawned = posix_spawn(&pid, exe.c_str(), &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(to_child[0]);
    ::close(from_child[1]);
    REQUIRE(spawned == 0);

    char ready = 0; // both start together, however slow the child's start (a loaded machine)
    REQUIRE(::read(from_child[0], &ready, 1) == 1);
    REQUIRE(ready == 'r');
    REQUIRE(::write(to_child[1], "g", 1) == 1);
    std::string ours(n, '-');
    for (std::size_t i = 0; i < n; ++i)
      ours[i] = letter(claim(store, key(i), at(0)));
    std::string theirs;
    char buf[512];
    for (ssize_t got; (got = ::read(from_child[0], buf, sizeof buf)) > 0;)
      theirs.append(buf, static_cast<std::size_t>(got));
    ::close(to_child[1]);
    ::close(from_child[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(theirs.size() >= n);

    std::size_t exactly_one = 0, child_claimed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char a = ours[i], b = theirs[i];
      exactly_one += (a == 'c' && b == 'i') || (a == 'i' && b == 'c');
      child_claimed += b == 'c';
    }
    CHECK(exactly_one == n); // every round: each key claimed by exactly one of them
    met = child_claimed > 0 && child_claimed < n;
  }
  CHECK(met); // in some round they did meet
}

TEST_CASE("sqlite store: many claims from several threads; each key claimed once") {
  ts::TempDir dir;
  SqliteStore s(dir.file("dedup.db"));
  constexpr std::size_t threads = 4, keys = 500;
  std::vector<std::unique_ptr<ts::Batch>> batches;
  for (std::size_t t = 0; t < threads; ++t)
    batches.push_back(std::make_unique<ts::Batch>(keys));
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = 0; i < keys; ++i)
        batches[t]->start(s, i, key((i + t * 37) % keys), at(0)); // each thread in its own order
    });
  for (auto& th : pool)
    th.join();
  std::vector<int> claimed(keys), in_progress(keys);
  for (std::size_t t = 0; t < threads; ++t) {
    REQUIRE(batches[t]->wait());
    const auto r = batches[t]->results();
    for (std::size_t i = 0; i < keys; ++i) {
      const std::size_t k = (i + t * 37) % keys;
      claimed[k] += r[i] == ClaimResult::claimed;
      in_progress[k] += r[i] == ClaimResult::in_progress;
    }
  }
  CHECK(std::count(claimed.begin(), claimed.end(), 1) == static_cast<long>(keys));
  CHECK(std::count(in_progress.begin(), in_progress.end(), static_cast<int>(threads - 1)) == static_cast<long>(keys));
}

TEST_CASE("sqlite store: marks round-trip to the microsecond and survive reopening") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  const auto t = std::chrono::sys_time<std::chrono::microseconds>(1'700'000'000'123'456us);
  {
    SqliteStore s(path);
    CHECK_FALSE(s.load_mark("catch-up"));
    s.save_mark("catch-up", t - 1s);
    s.save_mark("catch-up", t); // overwrites
    s.save_mark("other", t + 1us);
    CHECK(s.load_mark("catch-up") == t);
  }
  SqliteStore s(path);
  CHECK(s.load_mark("catch-up") == t);
  CHECK(s.load_mark("other") == t + 1us);
}

TEST_CASE("sqlite store: expired rows are purged periodically, not on claims") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  Raw raw(path + ""); // opened before the store: the store still creates the schema
  {
    SqliteOptions o;
    o.purge_interval = std::chrono::hours(1);
    SqliteStore s(path, o);
    REQUIRE(claim(s, "short", at(0), 10ms) == ClaimResult::claimed);
    REQUIRE(claim(s, "later", at(1000)) == ClaimResult::claimed);
    CHECK(raw.one("SELECT count(*) FROM claims WHERE key = 'short'") == "1"); // lapsed, still there
  }
  SqliteOptions o;
  o.purge_interval = 20ms;
  SqliteStore s(path, o);
  REQUIRE(claim(s, "now", at(2000)) == ClaimResult::claimed); // the newest time a caller passed
  CHECK(eventually([&] { return raw.one("SELECT count(*) FROM claims WHERE key = 'short'") == "0"; }));
  CHECK(raw.one("SELECT count(*) FROM claims WHERE key IN ('later', 'now')") == "2"); // not expired: kept
}

TEST_CASE("sqlite store: an idle store sleeps, used or not") {
  ts::TempDir dir;
  SqliteOptions o;
  o.purge_interval = 20ms;
  SqliteStore unused(dir.file("a.db"), o);
  CHECK(ts::cpu_while_sleeping(300ms) < 100ms);
  SqliteStore used(dir.file("b.db"), o);
  REQUIRE(claim(used, "k", at(0)) == ClaimResult::claimed);
  CHECK(ts::cpu_while_sleeping(300ms) < 100ms);
}

TEST_CASE("sqlite store: a locked file answers unavailable, reported once, and recovers") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  SqliteOptions o;
  o.busy_timeout = 50ms;
  SqliteStore s(path, o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "handled", at(0)) == ClaimResult::claimed);

  auto blocker = std::make_unique<Raw>(path);
  blocker->exec("BEGIN IMMEDIATE"); // another process holds the write lock
  for (int i = 0; i < 5; ++i)
    CHECK(claim(s, numbered("k", static_cast<std::size_t>(i)), at(1)) == ClaimResult::unavailable);
  s.confirm("handled", at(2), 3'600'000ms); // cannot be written now: kept for later
  CHECK(claim(s, "k9", at(3)) == ClaimResult::unavailable);
  REQUIRE(reports.size() == 1); // one line for the outage, not one per claim
  CHECK(reports.lines()[0].find("sqlite " + path) != std::string::npos);
  CHECK(reports.lines()[0].find("locked") != std::string::npos);

  blocker->exec("COMMIT");
  blocker.reset();
  CHECK(claim(s, "k0", at(4)) == ClaimResult::claimed);
  REQUIRE(reports.size() == 2);
  CHECK(reports.lines()[1].find("working again") != std::string::npos);
  CHECK(reports.lines()[1].find("6 claims answered unavailable") != std::string::npos);
  CHECK(claim(s, "handled", at(5)) == ClaimResult::done); // the kept confirm was written
  CHECK(reports.size() == 2);
}

TEST_CASE("sqlite store: a full queue answers unavailable at once, reported once") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  SqliteOptions o;
  o.busy_timeout = 60'000ms; // the blocked batch waits for the lock, never for its timeout
  o.max_queue = 1;
  SqliteStore s(path, o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "warm", at(0)) == ClaimResult::claimed);

  Raw blocker(path);
  blocker.exec("BEGIN IMMEDIATE"); // the store's thread will wait on its next batch
  ts::Batch first(1);
  REQUIRE_FALSE(first.start(s, 0, "q-first", at(1))); // queued
  // While that claim waits in the queue, the queue is full and a claim is
  // refused at once; the first one queued again shows that the store's thread
  // took it (into a batch that now waits for the lock), however late it woke.
  std::size_t refused = 0;
  std::unique_ptr<ts::Batch> second;
  for (std::size_t i = 0; !second; ++i) {
    auto b = std::make_unique<ts::Batch>(1);
    if (!b->start(s, 0, numbered("q-probe", i), at(1))) {
      second = std::move(b);
    } else {
      REQUIRE(b->count(ClaimResult::unavailable) == 1);
      ++refused;
      REQUIRE(i < 30'000); // about 30 s
      std::this_thread::sleep_for(1ms);
    }
  }
  // The queue holds one claim again: every other is refused, at once.
  constexpr std::size_t n = 20;
  ts::Batch b(n);
  std::size_t at_once = 0;
  for (std::size_t i = 0; i < n; ++i)
    at_once += b.start(s, i, numbered("q", i), at(1));
  CHECK(at_once == n);
  CHECK(b.count(ClaimResult::unavailable) == n); // answered at once, without deferring
  refused += n;
  blocker.exec("COMMIT");
  REQUIRE(first.wait());
  REQUIRE(second->wait());
  CHECK(first.count(ClaimResult::claimed) == 1);
  CHECK(second->count(ClaimResult::claimed) == 1);
  CHECK(claim(s, "after", at(2)) == ClaimResult::claimed);
  REQUIRE(reports.wait_for(2));
  const auto lines = reports.lines();
  CHECK(lines.size() == 2);
  CHECK(lines[0].find("queue full") != std::string::npos);
  CHECK(lines[1].find("queue drained") != std::string::npos);
  CHECK(lines[1].find(std::to_string(refused) + " claims answered unavailable") != std::string::npos);
}

TEST_CASE("sqlite store: opening failures throw with the path and SQLite's message") {
  ts::TempDir dir;
  auto message = [](const std::string& path) -> std::string {
    try {
      SqliteStore s(path);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "(no exception)";
  };
  const std::string missing = dir.file("no/such/dir.db");
  CHECK(message(missing) == "sqlite " + missing + ": unable to open database file");

  const std::string garbage = dir.file("garbage.db");
  std::ofstream(garbage) << std::string(8192, 'x');
  CHECK(message(garbage) == "sqlite " + garbage + ": file is not a database");

  const std::string newer = dir.file("newer.db");
  Raw(newer).exec("PRAGMA user_version = 7");
  CHECK(message(newer).find("schema version 7 is newer") != std::string::npos);

  const std::string foreign = dir.file("bot.db");
  Raw(foreign).exec("CREATE TABLE votes (user TEXT)");
  CHECK(message(foreign) ==
        "sqlite " + foreign + ": not a topgg-webhook store (it has other tables and no schema version)");
}

TEST_CASE("sqlite store: its last reference dropped on its own thread (a Router destroyed mid-claim)") {
  // Router::handle with the store held by the Router alone: the Router goes
  // right after handle() returns, so when the store's thread completes the
  // claim and the delivery finishes, the store's last reference is released
  // on that very thread. It cannot join itself: it must not terminate.
  ts::TempDir dir;
  std::atomic<int> answered{0}, status{0};
  const int threads_before = threads_now();
  {
    auto router = std::make_unique<topgg::Router>();
    router->idempotency_store(std::make_shared<SqliteStore>(dir.file("dedup.db")));
    router->dbl_webhook("/dbl", "k").on_bot_vote([](const topgg::BotVote&) {}).on_warning([](std::string_view) {});
    const std::string body = R"({"bot":"1","user":"2","type":"upvote"})";
    std::vector<topgg::Header> headers{{"Authorization", "k"}};
    topgg::Request req;
    req.method = "POST";
    req.target = "/dbl";
    req.headers = headers;
    req.body = body;
    router->handle(req, topgg::Now::current(), [&](topgg::Response r) {
      status = r.status;
      ++answered;
    });
  } // the Router (and its only reference to the store) gone; the claim still pending
  CHECK(eventually([&] { return answered > 0; }));
  CHECK(answered == 1);
  CHECK(status == 200);
  CHECK(eventually([&] { return threads_now() == threads_before; })); // the store's thread finished and freed it
}

TEST_CASE("sqlite store: available() is false during an outage and true again without claims") {
  ts::TempDir dir;
  const std::string path = dir.file("dedup.db");
  SqliteOptions o;
  o.busy_timeout = 50ms;
  SqliteStore s(path, o);
  ts::Reports reports;
  reports.attach(s);
  REQUIRE(claim(s, "handled", at(0)) == ClaimResult::claimed);
  CHECK(s.available());
  CHECK(s.unavailable_reason().empty());

  auto blocker = std::make_unique<Raw>(path);
  blocker->exec("BEGIN IMMEDIATE");
  CHECK(claim(s, "k", at(1)) == ClaimResult::unavailable);
  CHECK_FALSE(s.available());
  CHECK(s.unavailable_reason().find("sqlite " + path + ": ") == 0);
  CHECK(s.unavailable_reason().find("locked") != std::string::npos);
  blocker->exec("COMMIT");
  blocker.reset();
  // No claim from here on: the store's thread finds the outage over by itself.
  const auto until = ts::Steady::now() + 10s;
  while (!s.available() && ts::Steady::now() < until)
    std::this_thread::sleep_for(10ms);
  CHECK(s.available());
  CHECK(s.unavailable_reason().empty());
  CHECK(reports.wait_for(2));
}
