// The vote book: every handled vote as state — who voted for what, until
// when, streaks, counts — answered without an API call, and "vote.expired"
// fired once when a user's latest vote runs out, across restarts and across
// receivers sharing a store. Library and dependency `topgg-webhook-votes`.
//
// The records live in the Router's idempotency store (its VoteLedger), beside
// the de-duplication keys and written with them: a MemoryStore keeps them in
// this process (lost on restart), an SqliteStore in its file (across restarts
// of one host), a RedisStore in Redis (across restarts and receivers). The
// expiries still owed are indexed by when they are due, in the store: the book
// loads only those due now, a batch at a time, so a million users with pending
// expiries cost no memory here.
//
//   topgg::uv::WebhookManager webhooks;
//   webhooks.idempotency_store(std::make_shared<topgg::SqliteStore>("votes.db"))
//       .v1_webhook("/topgg", secret)
//       .on_vote_create([](const topgg::v1::VoteCreate& v) { give_role(v.user.platform_id); })
//       .on_vote_expired([](const topgg::VoteExpired& e) { take_role(e.user); });
//   topgg::VoteBook book(webhooks);   // before run(): every vote handled from now on is recorded
//   webhooks.run(8080);
//   book.start();                     // vote.expired handlers run on the loop thread
//   topgg::VoteStatus s = book.status(topgg::VoteSubject::project("803190510032756736"), discord_id);
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "topgg/manager.hpp"
#include "topgg/router.hpp"
#include "topgg/vote_ledger.hpp"

namespace topgg {

/// How a VoteBook records votes and delivers expiries. VoteBook's constructor
/// throws std::invalid_argument for values out of range.
struct VoteBookOptions {
  /// A legacy vote's duration, the streak's grace.
  VoteRules rules;
  /// After a failed on_vote_expired delivery (a throw, Ack::retry(), no
  /// completion within Settings::ack_timeout) the expiry is given again this
  /// long later, doubling with each failure up to `retry_most`.
  std::chrono::milliseconds retry_first{1000};
  std::chrono::milliseconds retry_most{std::chrono::minutes(5)}; ///< the longest wait between two tries
  /// Expiries claimed from the store in one step (and the most held here).
  std::size_t batch = 256;
  /// Deliveries under way at once; more due expiries wait in the store.
  std::size_t in_flight = 64;
  /// The store is asked for due expiries at least this often: votes recorded
  /// by other receivers sharing it (this one's own wake the book at once).
  std::chrono::milliseconds poll{1000};
  /// One line per store outage (when it begins and when it ends). Default:
  /// standard error. Failed deliveries go to the Router's error hook.
  std::function<void(std::string_view)> on_error;
};

/// What a VoteBook did since it was made.
struct VoteBookStats {
  std::uint64_t delivered = 0;    ///< expiries handled (handler returned or acknowledged; or no handler set)
  std::uint64_t failed = 0;       ///< deliveries that failed: each is tried again later
  std::uint64_t store_errors = 0; ///< store steps that failed (the store could not be asked)
};

/// Records every handled vote of a Router — legacy bot and server votes,
/// v1 vote.create from the webhook and from catch-up — in its idempotency
/// store, and delivers "vote.expired" (RouterApi::on_vote_expired) when a
/// user's latest vote for a subject runs out.
///
/// **Recording.** A vote is recorded in the store step that confirms its
/// de-duplication key, only if that key was not confirmed before: a retry,
/// or a vote both delivered and caught up, counts once; a vote whose handler
/// failed is not recorded (its retry is). Legacy `type: test` votes are not
/// votes: never recorded. See record_vote() for the rules.
///
/// **Expiries.** Exactly once per expiry while handlers succeed: the book
/// claims each due expiry in the store before delivering it (receivers
/// sharing the store never both get it), marks it delivered once the handler
/// succeeded, and gives it back with a later due time when it failed (the
/// attempt is counted: VoteExpired::attempt). The claim lasts
/// Settings::ack_timeout + 30 s: a receiver that stops mid-delivery (a crash)
/// leaves it to be delivered again after that. On start, expiries that came
/// due while no receiver was up are delivered at once (late). A newer vote
/// replaces the expiry owed, also one being retried. Between a handler's
/// success and the store's mark a crash delivers that expiry again: at least
/// once, like votes themselves.
///
/// **Threads.** With a WebhookManager, handlers run on its loop thread (or
/// through its executor), as vote handlers do; with a bare Router, on the
/// book's own thread (or the executor). status() may be called from any
/// thread.
class TOPGG_API VoteBook {
public:
  /// Records the votes handled by `manager` from now on and delivers
  /// expiries on its loop thread (ManagerBase::post) while it runs. Call it
  /// before run(): it configures the Router (std::logic_error while running).
  /// The Router's idempotency store (set before this) must keep a vote
  /// ledger (MemoryStore, SqliteStore, RedisStore) and de-duplication must be
  /// on: else std::invalid_argument. One VoteBook per Router; `manager` must
  /// outlive it.
  explicit VoteBook(ManagerBase& manager, VoteBookOptions options = {});
  /// The same for a Router served by a server of yours (Router::handle):
  /// expiries are delivered on the book's thread. `router` must outlive it.
  explicit VoteBook(Router& router, VoteBookOptions options = {});
  /// stop().
  ~VoteBook();
  VoteBook(const VoteBook&) = delete;
  VoteBook& operator=(const VoteBook&) = delete;

  /// Starts delivering expiries (the book's thread): at once those that came
  /// due while it was stopped. Recording needs no start: it begins with the
  /// constructor. Idempotent.
  void start();
  /// Stops delivering: deliveries under way get until their deadline
  /// (Settings::ack_timeout), then the unfinished are given back to the store
  /// (delivered again at the next start). Call it before closing the
  /// manager. Idempotent; from any thread but a handler's.
  void stop();

  /// `user`'s status for `subject` at the time of the call, to `done`
  /// (nullopt when the store could not be asked), on this thread or the
  /// store's. No API call. `user` is the voter's platform (Discord) ID.
  void status(const VoteSubject& subject, std::string_view user, std::function<void(std::optional<VoteStatus>)> done);
  /// The same, waiting for the answer (prefer the callback form on the loop
  /// thread). Throws std::runtime_error when the store cannot be asked.
  VoteStatus status(const VoteSubject& subject, std::string_view user);

  /// Every subject recorded so far, to `done` (nullopt when the store could
  /// not be asked): which projects, bots and servers a status can be asked for.
  void subjects(std::function<void(std::optional<std::vector<VoteSubject>>)> done);

  /// The rules votes are recorded with.
  const VoteRules& rules() const noexcept;
  /// What the book did so far. Any thread.
  VoteBookStats stats() const;

  struct Impl;

private:
  std::shared_ptr<Impl> impl_; // shared with deliveries that may finish after stop()
};

} // namespace topgg
