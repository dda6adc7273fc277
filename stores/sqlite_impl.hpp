// Internal to the SQLite store: what its files share. Its parts, each in its
// own file: sqlite_store.cpp (the public class, the Impl's life, callers'
// side), sqlite_file.cpp (opening the file: WAL, schema, statements),
// sqlite_worker.cpp (the store's thread: batches in one transaction each).
#pragma once

#include "topgg/sqlite_store.hpp"

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"
#include "outage.hpp"
#include "sqlite_statement.hpp"

namespace topgg::detail::sqlite {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

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

constexpr milliseconds retry_interval{1000}; // confirms that failed are tried again this often during an outage

} // namespace topgg::detail::sqlite

namespace topgg {

// Hidden although SqliteStore is exported: its members are defined out of line, in several files, and
// none of them is part of the library's interface.
struct __attribute__((visibility("hidden"))) SqliteStore::Impl {
  using Op = detail::sqlite::Op;
  using MarkCall = detail::MarkCall;
  using Statement = detail::sqlite::Statement;
  using Run = detail::sqlite::Run;
  using Steady = detail::sqlite::Steady;
  using milliseconds = detail::sqlite::milliseconds;

  // The store this serves; cleared when the store goes first (see ~SqliteStore).
  detail::Owner<SqliteStore> owner;
  void report(std::string_view line) {
    owner.with([&](SqliteStore& s) { s.report(line); });
  }
  std::string path;
  SqliteOptions opt;
  std::string token = detail::random_token();
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

  // sqlite_store.cpp: life, and callers' side.
  Impl(SqliteStore& o, std::string p, SqliteOptions op);
  static void start(const std::shared_ptr<Impl>& self);
  void stop();
  ~Impl() { close(); }
  bool push(Op&& op, bool bounded, ClaimDeferral* later = nullptr);
  std::shared_ptr<MarkCall> call_mark(Op&& op);

  // sqlite_file.cpp: opening the file.
  [[noreturn]] void fail_open(std::string_view what);
  void close() noexcept;
  void exec(const char* sql);
  std::int64_t pragma_int(const char* sql);
  void open();
  void create_schema();
  void prepare_statements();

  // sqlite_worker.cpp: the store's thread.
  void run();
  void step_done(Run& r);
  void apply(Op& op);
  void apply_claim(Op& op);
  void write(std::vector<Op>& batch);
  void finish_batch(std::vector<Op>& batch, const std::string& error);
  void expire();
  void complete(const ClaimTicket& t, ClaimResult r);
};

} // namespace topgg
