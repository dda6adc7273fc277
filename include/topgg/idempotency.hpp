// Idempotency: each delivery is handled once, whichever retry, restart or
// receiver gets it. Top.gg delivers again after a timeout or a 5xx, so the
// same vote can arrive several times; the delivery pipeline claims a key per
// delivery in an IdempotencyStore before the handler runs, confirms it when
// the handler succeeded and releases it when it failed.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "topgg/http.hpp"

namespace topgg {

/// What claiming a delivery's key found.
enum class ClaimResult : std::uint8_t {
  claimed,     ///< nobody holds the key: handle the delivery, then confirm() or release()
  done,        ///< handled before and still remembered: answer success, deliver no event
  in_progress, ///< another delivery with this key is being handled now: answer 503 (Top.gg retries)
  unavailable, ///< the store could not be asked (unreachable, I/O error) or has no room: 503, or handled if fail-open
};

/// "claimed", "done", "in progress", "unavailable"; static storage.
TOPGG_API std::string_view to_string(ClaimResult r) noexcept;

namespace detail {
struct ClaimState;
} // namespace detail

class VoteLedger;      // topgg/vote_ledger.hpp
class ConnectionStore; // topgg/connection_store.hpp

/// Completes one deferred claim, from any thread. Copies share one claim: the
/// first complete() counts, later ones return false. A claim whose every
/// ticket is dropped uncompleted counts as ClaimResult::unavailable.
class TOPGG_API ClaimTicket {
public:
  /// A ticket for no claim: complete() does nothing and returns false.
  ClaimTicket() = default;
  /// Internal: ClaimDeferral::defer() makes tickets.
  explicit ClaimTicket(std::shared_ptr<detail::ClaimState> s) noexcept : state_(std::move(s)) {}
  /// True if this completion counted.
  bool complete(ClaimResult r) const;

private:
  std::shared_ptr<detail::ClaimState> state_;
};

/// Handed to IdempotencyStore::claim for the duration of the call. A store
/// that must wait for I/O calls defer() (at most once), returns nullopt, and
/// completes the ticket later from its own thread.
class TOPGG_API ClaimDeferral {
public:
  /// For calling a store directly (tests, tools): `done` runs once with the
  /// result, on the thread that completes the ticket.
  explicit ClaimDeferral(std::function<void(ClaimResult)> done);
  /// Tickets from defer() stay valid after the deferral is gone.
  ~ClaimDeferral();
  ClaimDeferral(const ClaimDeferral&) = delete;
  ClaimDeferral& operator=(const ClaimDeferral&) = delete;

  /// The ticket for this claim. Allocates its shared state on the first call.
  ClaimTicket defer();
  /// True once defer() was called.
  bool deferred() const noexcept { return state_ != nullptr; }

  /// Internal: the delivery pipeline's own deferral, waking `wake` on completion.
  struct Internal;
  /// Internal: the delivery pipeline's deferral; defer() hands the claim's result cell to `in`.
  explicit ClaimDeferral(Internal& in) noexcept : internal_(&in) {}

private:
  std::function<void(ClaimResult)> done_;
  Internal* internal_ = nullptr;
  std::shared_ptr<detail::ClaimState> state_;
};

/// Where de-duplication keys live. Implementations must be thread-safe: the
/// pipeline calls claim() on the loop thread (or the thread calling
/// Router::handle), and confirm()/release() there or on threads completing
/// Acks. No method may block for long: a store that does I/O queues it on its
/// own thread and answers claims through ClaimDeferral.
///
/// Keys are short printable strings built by the library (see the README's
/// "Idempotency" section for what identifies a delivery); a `key` view is
/// valid only during the call.
class TOPGG_API IdempotencyStore {
public:
  /// Holds no key; the in-memory marks of the default load_mark() and save_mark() start empty.
  IdempotencyStore();
  /// Drops the marks the default load_mark() and save_mark() keep in memory.
  virtual ~IdempotencyStore();

  /// Claims `key` for up to `lease` (after which an unconfirmed claim lapses,
  /// so a receiver that crashed mid-delivery does not block the retry).
  /// Returns the result now, or — after calling later.defer() — nullopt,
  /// completing the ticket exactly once later.
  virtual std::optional<ClaimResult> claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                           ClaimDeferral& later) = 0;
  /// The delivery was handled: remember `key` as done for `ttl`.
  virtual void confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) = 0;
  /// Handling failed: drop this receiver's claim of `key` (never a confirmed
  /// key) so that the retry is handled.
  virtual void release(std::string_view key, Now now) = 0;

  /// A named time kept with the keys (catch-up's high-water mark: the newest
  /// vote confirmed); nullopt if none was saved. Called off the loop thread;
  /// may block. The default keeps it in this object's memory; a persistent
  /// store throws std::runtime_error when it cannot read or write it. Names
  /// never collide with delivery keys.
  virtual std::optional<std::chrono::sys_time<std::chrono::microseconds>> load_mark(std::string_view name);
  /// Keeps `t` as the mark `name`, replacing the previous one; as load_mark(),
  /// called off the loop thread, may block, and throws std::runtime_error in a
  /// persistent store that cannot write it.
  virtual void save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t);

  /// Whether the store can be asked now, as far as it knows without asking:
  /// cheap, thread-safe, never does I/O — what a readiness check (`/readyz`)
  /// and the metrics' `store_up` read, as often as they like. Default: true
  /// (a store without outages, such as MemoryStore). SqliteStore and
  /// RedisStore answer false from the moment their own thread finds the file
  /// or the server failing until an operation works again; they check by
  /// themselves while an outage lasts, so this turns true again without
  /// deliveries.
  virtual bool available() const noexcept;
  /// Why available() is false, one line for an operator ("redis
  /// 127.0.0.1:6379: Connection refused"); "" while it is true. Thread-safe.
  virtual std::string unavailable_reason() const;

  /// What the store says when it has trouble (an outage begins or ends): one
  /// line per event, never per request. Default: standard error. Set it
  /// before the store is used.
  void on_error(std::function<void(std::string_view)> hook);

  /// Where the vote book (topgg/vote_book.hpp) keeps its records beside these
  /// keys, or nullptr when this store has none (the default). Lives as long
  /// as the store.
  virtual VoteLedger* vote_ledger() noexcept;

  /// Where the integrations registry (topgg/integrations.hpp) keeps its
  /// connections and their secrets beside these keys, or nullptr when this
  /// store has none (the default). Lives as long as the store.
  virtual ConnectionStore* connection_store() noexcept;

protected:
  /// Tells the error hook; never throws.
  void report(std::string_view message) const noexcept;

private:
  std::function<void(std::string_view)> on_error_;
  struct Marks;
  std::shared_ptr<Marks> marks_;
};

/// The default store: this process's memory, bounded. Keys are kept as 128-bit
/// keyed SipHash fingerprints (the key is random per store, so nobody can
/// aim a collision at another delivery's key). When full, a new key takes the
/// place of the oldest claim whose lease lapsed, else of the oldest done key
/// (expired or not); a key still claimed within its lease is never forgotten,
/// so when every key is, claim() answers ClaimResult::unavailable (the
/// pipeline answers 503 and Top.gg retries), counted by refused_full() and
/// told through the error hook once when it begins and once when it ends.
/// Survives neither a restart nor several receivers: use SqliteStore or
/// RedisStore for those. No allocation per claim once the table exists (it is
/// allocated at the first claim).
class TOPGG_API MemoryStore final : public IdempotencyStore {
public:
  /// Holds at most `capacity` keys, claimed and done together (0 counts as 1);
  /// the table for them is allocated at first use.
  explicit MemoryStore(std::size_t capacity = 16384);
  /// Frees the table: every key is forgotten.
  ~MemoryStore() override;

  /// Answers at once, never defers. Leases run on `now.mono`; a lapsed key is
  /// claimed again. ClaimResult::unavailable when every key is claimed and
  /// leased (see above).
  std::optional<ClaimResult> claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                   ClaimDeferral& later) override;
  /// Marks `key` done for `ttl` on `now.mono`; a key forgotten while it was
  /// handled (its lease lapsed and the store was full) is added again, unless
  /// every key is claimed and leased.
  void confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) override;
  /// Forgets `key` if it is claimed; a done key stays.
  void release(std::string_view key, Now now) override;

  /// Keys held now (claimed or done, expired ones included until reused).
  std::size_t size() const;
  /// Claims answered ClaimResult::unavailable because every key was claimed
  /// and leased, since the store was made. Any thread.
  std::uint64_t refused_full() const;

  /// The vote book's records in this process's memory (lost on restart),
  /// confirmed with the keys under one lock.
  VoteLedger* vote_ledger() noexcept override;

  /// Integration connections in this process's memory (lost on restart).
  ConnectionStore* connection_store() noexcept override;

private:
  struct Table;
  std::unique_ptr<Table> table_;
  struct Votes;
  std::unique_ptr<Votes> votes_;
  struct Connections;
  std::unique_ptr<Connections> connections_;
  bool confirm_once(std::string_view key, Now now, std::chrono::milliseconds ttl);
};

} // namespace topgg
