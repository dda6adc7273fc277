// RedisStore: de-duplication keys in Redis or Valkey, shared by several
// receivers behind a load balancer, so that a delivery is handled once
// whichever receiver gets it. Library and dependency `topgg-webhook-redis`
// (hiredis): a user of the core alone links no Redis client.
//
// In Redis, under `key_prefix`:
//   <prefix><key>        "claimed:<token>" for the lease, then "done" for the TTL
//   <prefix>mark:<name>  a mark, decimal microseconds since the Unix epoch
//   <prefix>health       "1" for a short while: the store's own check that Redis takes writes
//   <prefix>vote:<kind>/<id>/<user>  the vote book's record of one subject and user (a hash:
//                        route, voted_at, expires_at, weight, streak, count, pending, attempts, token)
//   <prefix>vote-expiries  a sorted set of the expiries owed, by when each is due (Unix µs)
//   <prefix>vote-subjects  the set of subjects ever recorded ("project/<id>", "bot/<id>", "guild/<id>")
//   <prefix>discord-posts, discord-seq, discord-lease  a Discord poster's queue (topgg/redis_post_queue.hpp)
// A claim is one Lua script (EVALSHA): `SET key claimed:<token> NX PX lease`,
// and when the key exists, whether it is done or still claimed — one round
// trip, no race between receivers. A release deletes the key only if it still
// holds this store's token (a second script). Expiry is Redis's own (PX), so
// leases and TTLs run on the server's clock. The vote book's steps are three
// more scripts: a vote recorded with its key's confirm, due expiries handed out
// (claimed), a claim ended.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "topgg/idempotency.hpp"

namespace topgg {

/// Where a RedisStore connects and how it behaves. Its constructor throws
/// std::invalid_argument for values out of range (see RedisStore::RedisStore).
struct TOPGG_API RedisOptions {
  std::string host = "127.0.0.1";    ///< name or address; a name is looked up again at each reconnection
  std::uint16_t port = 6379;         ///< TCP port (no unix sockets); 0 is refused
  int db = 0;                        ///< SELECTed after connecting when not 0
  std::string username;              ///< AUTH username password (Redis 6 ACLs) when set
  std::string password;              ///< AUTH when set; never logged
  std::string key_prefix = "topgg:"; ///< put before every key and mark this store reads or writes
  /// Connecting, AUTH and SELECT included; then the attempt is abandoned.
  std::chrono::milliseconds connect_timeout{1000};
  /// Longest wait for any answer. A claim is answered (unavailable) within this
  /// time whatever happens to the connection; a connection whose oldest command
  /// has waited longer is closed and opened again.
  std::chrono::milliseconds command_timeout{1000};
  /// Wait before reconnecting after a failure: `reconnect_min`, doubled after
  /// each failed attempt up to `reconnect_max`.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000}; ///< cap of that doubling; at least `reconnect_min`
  /// When connected and nothing was sent for this long, the store writes
  /// `<prefix>health` (SET … PX), so that a connection that died silently is
  /// noticed without a delivery (a claim would then be the first to wait for
  /// `command_timeout`); positive.
  std::chrono::milliseconds health_interval{5000};
  /// Off (default): while Redis cannot be asked, claims answer unavailable,
  /// the pipeline answers 503 and Top.gg delivers again later — nothing is
  /// handled twice, but a v1 delivery (retried only for about 7 s) can run out
  /// of retries during a longer outage and must come back through catch-up.
  /// On: such claims answer claimed and every delivery is handled — nothing is
  /// lost, but retries and duplicates arriving during the outage are handled
  /// again (at-least-once). Choose on for handlers that are idempotent anyway.
  bool fail_open = false;
  /// Claims queued or awaiting an answer; one more answers unavailable at once.
  std::size_t max_pending = 65536;

  /// Parses `redis://[[username]:password@]host[:port][/db]` (port 6379 and
  /// db 0 when absent; user and password percent-decoded; an IPv6 address in
  /// brackets). Anything else (another scheme, a path, a query, a bad port or
  /// db) throws std::invalid_argument, whose message never holds the password.
  static RedisOptions from_url(std::string_view url);
};

/// What RedisStore::probe() found.
struct RedisProbe {
  /// Whether the store can work, and if not, whether waiting helps.
  enum class Kind : std::uint8_t {
    ok,        ///< connected: AUTH, SELECT and the scripts' SCRIPT LOAD answered
    permanent, ///< fails until the configuration changes: Redis answered AUTH, SELECT or SCRIPT LOAD with an
               ///< error (wrong or missing password, a password Redis does not have, a db out of range, an ACL
               ///< user without the needed commands), or the host name does not exist (EAI_NONAME)
    transient, ///< cannot ask Redis now: refused, unreachable, no answer in time, a lookup that failed for now,
               ///< Redis loading, busy or out of connections. The store keeps trying (with back-off)
  };
  Kind kind = Kind::ok; ///< what was found
  std::string why;      ///< what went wrong, for a log line; empty when ok; never holds the password
  bool ok() const noexcept { return kind == Kind::ok; } ///< kind == Kind::ok
};

/// An IdempotencyStore in Redis or Valkey. One thread per store runs hiredis'
/// asynchronous client on its own poll loop (and, for a host name, a second
/// one looks it up): every call only queues, claims are pipelined (many in
/// flight on one connection) and answered through the ClaimDeferral, so no
/// call blocks the caller's loop. One connection, no Redis Cluster.
///
/// When Redis cannot be reached (refused, closed, no answer within
/// `command_timeout`, an error reply), claims answer unavailable (or claimed
/// with `fail_open`), the error hook hears one line when the outage begins and
/// one when Redis answers again (always on the store's thread), and the store
/// reconnects with back-off; READONLY, LOADING and MASTERDOWN answers (a
/// failover) reconnect too. An idle connection that Redis or a proxy closes is
/// opened again at once, silently unless that fails. A claim that timed out may
/// still have been taken in Redis: its lease lapses. A
/// confirm that could not be written is kept (up to `max_pending`) and written
/// after reconnecting, with what remains of its TTL; a release that could not
/// be written is dropped (its lease lapses).
class TOPGG_API RedisStore final : public IdempotencyStore {
public:
  /// Starts connecting at once; never blocks. Throws std::invalid_argument for
  /// options out of range (port 0, negative db, non-positive timeouts).
  explicit RedisStore(RedisOptions options);
  /// RedisStore(RedisOptions::from_url(url)).
  explicit RedisStore(std::string_view url);
  /// Writes the confirms and releases still queued (waiting up to
  /// `command_timeout` for Redis), then disconnects.
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  /// Always defers (nullopt), except when `max_pending` claims are pending:
  /// unavailable (claimed with `fail_open`).
  std::optional<ClaimResult> claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                   ClaimDeferral& later) override;
  /// Queues `SET <prefix><key> done PX ttl` and returns. The TTL runs from this
  /// call: a confirm written after a reconnection gets what remains of it.
  void confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) override;
  /// Deletes the key only if it still holds this store object's claim.
  void release(std::string_view key, Now now) override;

  /// GET `<prefix>mark:<name>` (nullopt when the key does not exist); blocks
  /// for at most `command_timeout`. Throws std::runtime_error when Redis cannot
  /// be asked or does not answer in time, or the stored value is not a number.
  std::optional<std::chrono::sys_time<std::chrono::microseconds>> load_mark(std::string_view name) override;
  /// SET `<prefix>mark:<name>` to `t` in microseconds since the Unix epoch,
  /// without expiry; blocks and throws as load_mark().
  void save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) override;

  /// False while an outage lasts: from the first failure the store's thread
  /// sees (a connection refused or closed, a command unanswered within
  /// `command_timeout` or answered with an error) until a command works
  /// again. Connected again during an outage, the store writes
  /// `<prefix>health` at once (a replica or a full Redis accepts connections
  /// and still refuses writes), so this follows Redis without deliveries. No
  /// I/O, any thread.
  bool available() const noexcept override;
  /// "redis HOST:PORT: why" while not available(); "" otherwise.
  std::string unavailable_reason() const override;

  /// Tells at start what the first claim would otherwise find: whether this
  /// store can use Redis as configured. Blocks for at most `timeout`. Connected
  /// already: ok at once. Otherwise waits for the end of the attempt under way,
  /// or starts one at once (no back-off wait); the attempt is the store's own
  /// (its thread, its connection, the same AUTH, SELECT and SCRIPT LOAD that
  /// claims need), so once ok the store is ready. No answer within `timeout`:
  /// transient. Never reported to the error hook and never counted as a use
  /// (on_error() may still be set after it). Call it from any thread but the
  /// store's own (a claim's completion): there it could only time out.
  RedisProbe probe(std::chrono::milliseconds timeout);

  /// The vote book's records in Redis, shared by every receiver on it: one
  /// script records a vote and confirms its key; take_due() and next_due()
  /// block for at most `command_timeout`.
  VoteLedger* vote_ledger() noexcept override;

  /// Integration connections in Redis, shared by every receiver on it: the
  /// hash `<prefix>integrations` (field: connection id; value: the record,
  /// the webhook secret in it as given) and the counter
  /// `<prefix>integrations-version`. Each call blocks for at most
  /// `command_timeout`. Limit who may read them: an ACL user for the
  /// receivers (`~<prefix>*`), TLS or loopback only.
  ConnectionStore* connection_store() noexcept override;

private:
  struct Impl;
  std::shared_ptr<Impl> impl_; // shared with its thread
  struct Votes;
  std::unique_ptr<Votes> votes_;
  struct Connections;
  std::unique_ptr<Connections> connections_;
};

} // namespace topgg
