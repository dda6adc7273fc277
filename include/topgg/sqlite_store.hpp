// SqliteStore: de-duplication keys in an SQLite file, for a receiver on one
// host that must remember handled deliveries across restarts. Library and
// dependency `topgg-webhook-sqlite`: a user of the core alone links no SQLite.
//
// The file holds one row per key (state claimed or done, expiry in Unix
// milliseconds, the claiming store's token), the named marks, and the vote
// book's records (table `votes`: one row per subject and user, the expiry
// still owed indexed by when it is due; `vote_subjects`). Several
// SqliteStore objects or processes may share one file: every claim is one
// transaction, so the same key claimed from two of them at once is `claimed`
// for exactly one. Not for a network file system (SQLite's locks do not hold
// there): several hosts share a RedisStore instead.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "topgg/idempotency.hpp"

namespace topgg {

/// How a SqliteStore waits, queues and cleans up. Its constructor throws
/// std::invalid_argument for a negative `busy_timeout` or a zero `max_queue` or
/// `purge_interval`.
struct SqliteOptions {
  /// How long a transaction waits for another connection's write lock (another
  /// store or process on the same file) before its claims answer unavailable.
  std::chrono::milliseconds busy_timeout{1000};
  /// Operations waiting for the store's thread. A claim arriving when this many
  /// wait answers unavailable at once (reported once, until the queue drains).
  /// Confirms and releases are always queued: each follows an admitted claim.
  std::size_t max_queue = 4096;
  /// How often rows past their expiry are deleted (never on a claim's path).
  std::chrono::milliseconds purge_interval{std::chrono::minutes(1)};
  /// `PRAGMA synchronous=FULL` (an fsync per commit) instead of NORMAL. NORMAL
  /// in WAL mode loses nothing when the process crashes and never corrupts the
  /// file; only the last commits before a power cut or kernel crash can be
  /// lost. FULL closes that window too, at the cost of an fsync per batch, but
  /// confirm() is not awaited before Top.gg is answered, so a power cut between
  /// the answer and the commit stays possible whichever is chosen.
  bool synchronous_full = false;
};

/// An IdempotencyStore in an SQLite file (WAL journal). One thread per store
/// owns the connection: claim() queues and answers through the ClaimDeferral
/// once the claim's transaction committed, confirm() and release() queue, so
/// no call blocks the caller's loop. Queued operations are written in batches,
/// one transaction per batch.
///
/// Times are wall-clock Unix milliseconds taken from the `now.wall` each call
/// passes, so that a lease or TTL runs on across a restart.
///
/// Errors (locked beyond `busy_timeout`, disk full, corruption) make the claims
/// of that batch answer unavailable; the error hook hears one line when such an
/// outage begins and one when writes succeed again, always on the store's
/// thread. A confirm that failed is kept (up to `max_queue`) and written with
/// the next batch.
class TOPGG_API SqliteStore final : public IdempotencyStore {
public:
  /// Opens `path`, creating the file and its tables if needed. Throws
  /// std::runtime_error naming the path and SQLite's message when it cannot be
  /// opened, is not an SQLite database, cannot use WAL, has a schema newer than
  /// this library's, or holds other tables without a schema version (it is the
  /// store's own file, not the bot's database); std::invalid_argument for
  /// options out of range.
  explicit SqliteStore(const std::string& path, SqliteOptions options = {});
  /// Writes every queued operation (claims included), then closes the file.
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  /// Always defers (nullopt), except when the queue is full: unavailable.
  std::optional<ClaimResult> claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                   ClaimDeferral& later) override;
  /// Queues the key as done until `now.wall` + `ttl` and returns; always queued,
  /// even when the queue is full.
  void confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) override;
  /// Deletes the key only if it is still claimed by this store object.
  void release(std::string_view key, Now now) override;

  /// Read in the file (microseconds), through the store's thread; nullopt when
  /// none was saved. Blocks until done. Throws std::runtime_error with SQLite's
  /// message when the transaction it is read in fails (locked beyond
  /// `busy_timeout`, I/O error, …).
  std::optional<std::chrono::sys_time<std::chrono::microseconds>> load_mark(std::string_view name) override;
  /// Written in the file (microseconds), replacing the previous value, through
  /// the store's thread; blocks until committed. Throws std::runtime_error with
  /// SQLite's message when the transaction fails, as load_mark().
  void save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) override;

  /// The vote book's records in this file, written by this store's thread in
  /// its batches: a vote is recorded in the transaction that confirms its key.
  VoteLedger* vote_ledger() noexcept override;

  /// Integration connections in this file (table `integration_connections`,
  /// secrets as given: keep the file mode 0600), through the store's thread;
  /// each call blocks until its transaction committed.
  ConnectionStore* connection_store() noexcept override;

  /// False while an outage lasts: from a transaction that failed (locked
  /// beyond `busy_timeout`, disk full, I/O error) until one commits; during
  /// an outage the store's thread tries an empty write transaction each
  /// second, so this turns true again without deliveries. No I/O, any thread.
  bool available() const noexcept override;
  /// "sqlite PATH: SQLite's message" while not available(); "" otherwise.
  std::string unavailable_reason() const override;

  /// The file's schema version (`PRAGMA user_version`) this library writes:
  /// 2 since the vote book, 3 since integration connections (an older file
  /// is upgraded when opened).
  static constexpr int schema_version = 3;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_; // shared with its worker thread
  struct Votes;
  std::unique_ptr<Votes> votes_;
  struct Connections;
  std::unique_ptr<Connections> connections_;
};

} // namespace topgg
