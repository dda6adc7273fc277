#include "topgg/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "outage.hpp"

namespace topgg {

namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

std::int64_t unix_ms(std::chrono::system_clock::time_point t) noexcept {
  return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
}

// now + d without overflow; a negative duration acts as zero (as in MemoryStore).
std::int64_t plus(std::int64_t now, milliseconds d) noexcept {
  if (d.count() <= 0)
    return now;
  return now > INT64_MAX - d.count() ? INT64_MAX : now + d.count();
}

std::string random_token() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

/// A blocking mark call waiting for the store's thread.
struct MarkCall {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::optional<std::int64_t> micros;
  std::string error;

  void finish(std::optional<std::int64_t> v, std::string err) {
    std::lock_guard lock(m);
    micros = v;
    error = std::move(err);
    finished = true;
    cv.notify_all();
  }
};

struct Op {
  enum Kind : std::uint8_t { claim, confirm, release, load_mark, save_mark };
  Op(Kind k, std::string_view name, std::int64_t t, std::int64_t u) : kind(k), key(name), now(t), until(u) {}

  Kind kind;
  std::string key;    // delivery key or mark name
  std::int64_t now;   // Unix ms
  std::int64_t until; // Unix ms: end of the lease or TTL; marks: the microseconds
  ClaimTicket ticket;
  std::shared_ptr<MarkCall> mark;
  ClaimResult result = ClaimResult::unavailable; // filled inside the transaction
  bool found = false;                            // load_mark
};

/// A prepared statement, reset after every use.
class Statement {
public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement(Statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Statement& operator=(Statement&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  sqlite3_stmt* get() const noexcept { return s_; }

private:
  sqlite3_stmt* s_ = nullptr;
};

/// Binds, steps and resets one statement: `Run r(stmt); r.text(1, k); r.step()`.
class Run {
public:
  explicit Run(const Statement& s) noexcept : s_(s.get()) {}
  ~Run() { sqlite3_reset(s_); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;
  void text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  int step() { return sqlite3_step(s_); }
  std::int64_t column_int(int i) const { return sqlite3_column_int64(s_, i); }
  std::string_view column_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i))) : std::string_view();
  }

private:
  sqlite3_stmt* s_;
};

/// Raised inside a batch: SQLite's message, caught by the batch.
struct SqliteError {
  std::string message;
};

constexpr milliseconds retry_interval{1000}; // confirms that failed are tried again this often during an outage

} // namespace

struct SqliteStore::Impl {
  // The store this serves; cleared when the store goes first (see ~SqliteStore).
  std::mutex owner_m;
  SqliteStore* owner;
  void report(std::string_view line) {
    std::lock_guard lock(owner_m);
    if (owner)
      owner->report(line);
  }
  std::string path;
  SqliteOptions opt;
  std::string token = random_token();
  sqlite3* db = nullptr;
  Statement begin, commit, rollback, select_key, put_key, release_key, purge, get_mark, put_mark;

  // Shared with callers, under m.
  std::mutex m;
  std::condition_variable cv;
  std::vector<Op> queue;
  std::uint64_t rejected = 0; // claims refused because the queue was full
  bool stopping = false;

  // The worker's own.
  std::thread worker;
  std::vector<Op> retry; // confirms that failed
  std::uint64_t rejected_seen = 0;
  std::int64_t latest_now = INT64_MIN; // newest wall time a caller passed: purges use the caller's clock
  Steady::time_point next_purge;
  detail::Outage outage, overload;

  Impl(SqliteStore& o, std::string p, SqliteOptions op)
      : owner(&o), path(std::move(p)), opt(op), next_purge(Steady::now() + opt.purge_interval),
        outage([this](std::string_view s) { report(s); }, "sqlite " + path,
               "claims answer unavailable until it works again", "working again", "answered unavailable"),
        overload([this](std::string_view s) { report(s); }, "sqlite " + path,
                 "claims answer unavailable until it drains", "queue drained", "answered unavailable") {
    if (opt.busy_timeout.count() < 0 || opt.max_queue == 0 || opt.purge_interval.count() <= 0)
      throw std::invalid_argument(
          "SqliteStore: busy_timeout must not be negative, max_queue and purge_interval positive");
    open();
  }
  /// The worker holds the Impl too: a store destroyed on its own worker
  /// thread (a claim's completion dropped the last reference) leaves it alive
  /// until the worker has finished.
  static void start(const std::shared_ptr<Impl>& self) {
    self->worker = std::thread([self] { self->run(); });
  }
  /// The store goes: the worker finishes what is queued and ends; joined,
  /// unless this is the worker itself, which cannot wait for itself.
  void stop() {
    {
      std::lock_guard lock(m);
      stopping = true;
    }
    {
      std::lock_guard lock(owner_m);
      owner = nullptr;
    }
    cv.notify_one();
    if (worker.get_id() == std::this_thread::get_id())
      worker.detach();
    else if (worker.joinable())
      worker.join();
  }

  ~Impl() { close(); }

  [[noreturn]] void fail_open(std::string_view what) {
    std::string msg = "sqlite " + path + ": " + std::string(what);
    close();
    throw std::runtime_error(msg);
  }

  void close() noexcept {
    begin = {}, commit = {}, rollback = {}, select_key = {}, put_key = {}, release_key = {}, purge = {};
    get_mark = {}, put_mark = {};
    sqlite3_close_v2(db);
    db = nullptr;
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      throw SqliteError{std::move(msg)};
    }
  }

  std::int64_t pragma_int(const char* sql) {
    Statement s(db, sql);
    Run r(s);
    if (r.step() != SQLITE_ROW)
      throw SqliteError{sqlite3_errmsg(db)};
    return r.column_int(0);
  }

  void open() {
    const int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK)
      fail_open(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(std::clamp<milliseconds::rep>(opt.busy_timeout.count(), 0, INT_MAX)));
    try {
      {
        Statement s(db, "PRAGMA journal_mode=WAL");
        Run r(s);
        if (r.step() != SQLITE_ROW)
          throw SqliteError{sqlite3_errmsg(db)};
        if (r.column_text(0) != "wal")
          throw SqliteError{"cannot use a write-ahead log (journal_mode is " + std::string(r.column_text(0)) + ")"};
      }
      exec(opt.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      // Created once, by whichever process gets the write lock first.
      exec("BEGIN IMMEDIATE");
      try {
        const std::int64_t version = pragma_int("PRAGMA user_version");
        if (version > schema_version)
          throw SqliteError{"schema version " + std::to_string(version) + " is newer than this library's (" +
                            std::to_string(schema_version) + ")"};
        if (version == 0) {
          if (pragma_int("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'") != 0)
            throw SqliteError{"not a topgg-webhook store (it has other tables and no schema version)"};
          exec("CREATE TABLE claims (key TEXT PRIMARY KEY NOT NULL,"
               " state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),"
               " expires INTEGER NOT NULL,"  // Unix ms, wall clock: survives a restart
               " token TEXT) WITHOUT ROWID;" // the claiming store's; NULL once done
               "CREATE INDEX claims_expires ON claims (expires);"
               "CREATE TABLE marks (name TEXT PRIMARY KEY NOT NULL, micros INTEGER NOT NULL) WITHOUT ROWID;"
               "PRAGMA user_version = 1;");
        }
        exec("COMMIT");
      } catch (...) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      begin = Statement(db, "BEGIN IMMEDIATE");
      commit = Statement(db, "COMMIT");
      rollback = Statement(db, "ROLLBACK");
      select_key = Statement(db, "SELECT state, expires FROM claims WHERE key = ?1");
      put_key = Statement(db, "INSERT OR REPLACE INTO claims (key, state, expires, token) VALUES (?1, ?2, ?3, ?4)");
      release_key = Statement(db, "DELETE FROM claims WHERE key = ?1 AND state = 'claimed' AND token = ?2");
      purge = Statement(db, "DELETE FROM claims WHERE expires <= ?1");
      get_mark = Statement(db, "SELECT micros FROM marks WHERE name = ?1");
      put_mark = Statement(db, "INSERT OR REPLACE INTO marks (name, micros) VALUES (?1, ?2)");
    } catch (const SqliteError& e) {
      fail_open(e.message);
    } catch (const std::runtime_error& e) { // Statement's
      fail_open(e.what());
    }
  }

  // ---- callers' side --------------------------------------------------------

  /// Queues `op`; false (and nothing queued) when `bounded` and the queue is full.
  bool push(Op&& op, bool bounded, ClaimDeferral* later = nullptr) {
    {
      std::lock_guard lock(m);
      if (bounded && queue.size() >= opt.max_queue) {
        ++rejected;
        return false;
      }
      if (later)
        op.ticket = later->defer();
      queue.push_back(std::move(op));
      if (queue.size() > 1)
        return true; // the worker was told when the queue stopped being empty
    }
    cv.notify_one();
    return true;
  }

  std::shared_ptr<MarkCall> call_mark(Op&& op) {
    auto call = std::make_shared<MarkCall>();
    op.mark = call;
    push(std::move(op), false);
    std::unique_lock lock(call->m);
    call->cv.wait(lock, [&] { return call->finished; });
    if (!call->error.empty())
      throw std::runtime_error("sqlite " + path + ": " + call->error);
    return call;
  }

  // ---- the worker -----------------------------------------------------------

  void run() {
    for (;;) {
      std::vector<Op> batch;
      std::uint64_t rejected_now;
      bool last;
      {
        std::unique_lock lock(m);
        for (;;) {
          if (!queue.empty() || stopping)
            break;
          auto wake = next_purge;
          if (!retry.empty() && outage.down())
            wake = std::min(wake, Steady::now() + retry_interval);
          if (cv.wait_until(lock, wake) == std::cv_status::timeout)
            break;
        }
        batch.swap(queue);
        rejected_now = rejected;
        last = stopping;
      }
      if (!batch.empty()) {
        outage.used();
        overload.used();
      }
      if (rejected_now != rejected_seen) {
        overload.failed("queue full (" + std::to_string(opt.max_queue) + " operations waiting)");
        for (; rejected_seen < rejected_now; ++rejected_seen)
          overload.refused();
      } else if (!batch.empty()) {
        overload.worked();
      }
      if (!batch.empty() || !retry.empty())
        write(batch);
      if (Steady::now() >= next_purge) {
        next_purge = Steady::now() + opt.purge_interval;
        if (latest_now != INT64_MIN) // no caller's time yet: nothing to compare expiries with
          expire();
      }
      if (last) {
        if (!retry.empty())
          report("sqlite " + path + ": " + std::to_string(retry.size()) +
                       " confirmed keys could not be written before closing");
        return;
      }
    }
  }

  void step_done(Run& r) {
    const int rc = r.step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
      throw SqliteError{sqlite3_errmsg(db)};
  }

  void apply(Op& op) {
    switch (op.kind) {
    case Op::claim: {
      {
        Run r(select_key);
        r.text(1, op.key);
        const int rc = r.step();
        if (rc == SQLITE_ROW && r.column_int(1) > op.now) {
          op.result = r.column_text(0) == "done" ? ClaimResult::done : ClaimResult::in_progress;
          return;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
          throw SqliteError{sqlite3_errmsg(db)};
      }
      Run w(put_key); // absent or lapsed: this claim takes it
      w.text(1, op.key);
      w.text(2, "claimed");
      w.integer(3, op.until);
      w.text(4, token);
      step_done(w);
      op.result = ClaimResult::claimed;
      return;
    }
    case Op::confirm: {
      Run w(put_key);
      w.text(1, op.key);
      w.text(2, "done");
      w.integer(3, op.until);
      sqlite3_bind_null(put_key.get(), 4);
      step_done(w);
      return;
    }
    case Op::release: {
      Run w(release_key);
      w.text(1, op.key);
      w.text(2, token);
      step_done(w);
      return;
    }
    case Op::load_mark: {
      Run r(get_mark);
      r.text(1, op.key);
      const int rc = r.step();
      if (rc == SQLITE_ROW)
        op.until = r.column_int(0), op.found = true;
      else if (rc != SQLITE_DONE)
        throw SqliteError{sqlite3_errmsg(db)};
      return;
    }
    case Op::save_mark: {
      Run w(put_mark);
      w.text(1, op.key);
      w.integer(2, op.until);
      step_done(w);
      return;
    }
    }
  }

  /// One transaction for the retried confirms and the whole batch.
  void write(std::vector<Op>& batch) {
    if (!retry.empty()) {
      batch.insert(batch.begin(), std::make_move_iterator(retry.begin()), std::make_move_iterator(retry.end()));
      retry.clear();
    }
    std::string error;
    try {
      {
        Run b(begin);
        step_done(b);
      }
      for (Op& op : batch) {
        latest_now = std::max(latest_now, op.now);
        apply(op);
      }
      Run c(commit);
      step_done(c);
    } catch (const SqliteError& e) {
      error = e.message;
      if (!sqlite3_get_autocommit(db)) { // some errors roll back by themselves
        Run r(rollback);
        r.step();
      }
    }
    if (error.empty())
      outage.worked();
    else
      outage.failed(error);
    for (Op& op : batch) {
      switch (op.kind) {
      case Op::claim:
        if (!error.empty())
          outage.refused();
        complete(op.ticket, error.empty() ? op.result : ClaimResult::unavailable);
        break;
      case Op::confirm:
        if (!error.empty())
          retry.push_back(std::move(op));
        break;
      case Op::release: break; // on failure the lease lapses by itself
      case Op::load_mark:
        op.mark->finish(error.empty() && op.found ? std::optional(op.until) : std::nullopt, error);
        break;
      case Op::save_mark: op.mark->finish(std::nullopt, error); break;
      }
    }
    if (retry.size() > opt.max_queue) // an outage that lasts: forget the oldest
      retry.erase(retry.begin(), retry.begin() + static_cast<std::ptrdiff_t>(retry.size() - opt.max_queue));
  }

  void expire() {
    Run r(purge);
    r.integer(1, latest_now);
    const int rc = r.step();
    if (rc == SQLITE_DONE)
      outage.worked();
    else
      outage.failed(sqlite3_errmsg(db));
  }

  void complete(const ClaimTicket& t, ClaimResult r) {
    try {
      t.complete(r);
    } catch (const std::exception& e) {
      report(std::string("a claim's completion threw: ") + e.what());
    } catch (...) {
      report("a claim's completion threw");
    }
  }
};

SqliteStore::SqliteStore(const std::string& path, SqliteOptions options)
    : impl_(std::make_shared<Impl>(*this, path, options)) {
  Impl::start(impl_);
}

SqliteStore::~SqliteStore() { impl_->stop(); }

std::optional<ClaimResult> SqliteStore::claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                              ClaimDeferral& later) {
  const std::int64_t t = unix_ms(now.wall);
  if (!impl_->push(Op(Op::claim, key, t, plus(t, lease)), true, &later))
    return ClaimResult::unavailable;
  return std::nullopt;
}

void SqliteStore::confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) {
  const std::int64_t t = unix_ms(now.wall);
  impl_->push(Op(Op::confirm, key, t, plus(t, ttl)), false);
}

void SqliteStore::release(std::string_view key, Now now) {
  impl_->push(Op(Op::release, key, unix_ms(now.wall), 0), false);
}

std::optional<std::chrono::sys_time<std::chrono::microseconds>> SqliteStore::load_mark(std::string_view name) {
  auto call = impl_->call_mark(Op(Op::load_mark, name, INT64_MIN, 0));
  if (!call->micros)
    return std::nullopt;
  return std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(*call->micros));
}

void SqliteStore::save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) {
  impl_->call_mark(Op(Op::save_mark, name, INT64_MIN, t.time_since_epoch().count()));
}

} // namespace topgg
