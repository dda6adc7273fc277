// Internal to the SQLite store: what its files share. Its parts, each in its
// own file: sqlite_store.cpp (the public class, the Impl's life, callers'
// side), sqlite_file.cpp (opening the file: WAL, schema, statements),
// sqlite_worker.cpp (the store's thread: batches in one transaction each),
// sqlite_votes.cpp (the vote ledger: its class and its steps in a batch).
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
#include "topgg/connection_store.hpp"
#include "topgg/vote_ledger.hpp"

namespace topgg::detail::sqlite {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

/// What a vote ledger's operation carries beside an Op's fields; times in Unix microseconds.
struct VoteOp {
  VoteEntry entry;                                            // record
  std::int64_t grace_s = 0;                                   // record
  std::string subject, user;                                  // find, finish: subject_text(), user
  std::function<void(std::optional<VoteRecord>, bool)> found; // find
  std::optional<VoteRecord> record;                           // find's answer
  std::function<void(std::vector<VoteSubject>, bool)> listed; // subjects
  std::vector<VoteSubject> subjects;                          // subjects' answer
  std::size_t limit = 0;                                      // take_due
  std::int64_t lease_until = 0;                               // take_due
  std::string token;                                          // take_due, finish
  std::vector<DueExpiry> due;                                 // take_due's answer
  bool delivered = false;                                     // finish
  std::int64_t expires_at = 0, retry_at = 0;                  // finish
};

struct Op {
  enum Kind : std::uint8_t {
    claim,
    confirm,
    release,
    load_mark,
    save_mark,
    record,
    find,
    subjects,
    take_due,
    next_due,
    finish,
    call // run(db) inside the batch's transaction; the caller waits (mark)
  };
  Op(Kind k, std::string_view name, std::int64_t t, std::int64_t u) : kind(k), key(name), now(t), until(u) {}

  Kind kind;
  std::string key;    // delivery key or mark name
  std::int64_t now;   // Unix ms
  std::int64_t until; // Unix ms: end of the lease or TTL; marks: the microseconds
  ClaimTicket ticket;
  std::shared_ptr<MarkCall> mark;                // load_mark, save_mark, take_due, next_due: the caller waits
  std::shared_ptr<VoteOp> vote;                  // the vote ledger's operations
  std::function<void(sqlite3*)> run;             // call: throws SqliteError on failure
  ClaimResult result = ClaimResult::unavailable; // filled inside the transaction
  bool found = false;                            // load_mark, next_due
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
  // The vote ledger's (sqlite_votes.cpp).
  Statement select_vote, put_vote, add_subject, list_subjects, due_votes, claim_vote, first_due, vote_delivered,
      vote_retry;

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

  // sqlite_votes.cpp: the vote ledger's steps inside a batch, and their answers.
  void prepare_vote_statements();
  void apply_vote(Op& op);
  void record_row(const detail::sqlite::VoteOp& v);
  void finish_vote(Op& op, const std::string& error);
};

// Integration connections (sqlite_connections.cpp): each call runs an Op::call and waits.
struct __attribute__((visibility("hidden"))) SqliteStore::Connections final : ConnectionStore {
  explicit Connections(std::shared_ptr<Impl> i) : impl(std::move(i)) {}
  void put(const IntegrationConnection& c) override;
  bool erase(std::string_view connection_id) override;
  ConnectionSnapshot load() override;
  std::uint64_t version() override;
  /// Runs `f(db)` on the store's thread, in a transaction; throws std::runtime_error when it failed.
  void call(std::function<void(sqlite3*)> f);

  std::shared_ptr<Impl> impl;
};

// The vote ledger: each call queues an Op for the store's thread.
struct __attribute__((visibility("hidden"))) SqliteStore::Votes final : VoteLedger {
  explicit Votes(std::shared_ptr<Impl> i) : impl(std::move(i)) {}
  void record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
              std::chrono::seconds grace) override;
  void find(const VoteSubject& subject, std::string_view user,
            std::function<void(std::optional<VoteRecord>, bool)> done) override;
  void subjects(std::function<void(std::vector<VoteSubject>, bool)> done) override;
  std::vector<DueExpiry> take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                  std::string_view token) override;
  std::optional<v1::Timestamp> next_due() override;
  void finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) override;

  std::shared_ptr<Impl> impl;
};

} // namespace topgg
