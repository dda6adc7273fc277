// Catch-up: votes cast while no receiver was up, fetched afterwards from
// Top.gg's vote history API and delivered to the vote.create handlers, marked
// as caught up. Part of `topgg-webhook-api` (libcurl).
//
// Top.gg retries a v1 delivery only three times, about 1, 2 and 4 s apart: a
// receiver restarted for a deploy loses every vote cast meanwhile. Each round
// reads the history from a high-water mark (the newest vote handled, kept in
// the Router's idempotency store: an SqliteStore or RedisStore keeps it across
// restarts) and delivers each vote through Router::deliver, so a vote both
// delivered by webhook and returned by the API reaches the handler once.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "topgg/api.hpp"
#include "topgg/manager.hpp"
#include "topgg/router.hpp"

namespace topgg::api {

/// How catch-up reads the vote history and delivers what it finds.
struct CatchUpOptions {
  Options api; ///< the v1 API token (never logged), base URL, CA file, timeouts
  /// Where the first round starts when no mark is known (the memory store, or
  /// a first start): this long ago. At most a year (the API's limit).
  std::chrono::seconds since{12 * 3600};
  /// Each round re-reads this much before the mark: votes listed late, and
  /// ones whose handler failed, come round again (duplicates are recognised).
  std::chrono::seconds overlap{3600};
  /// A round every `every` after the first; zero: only the first, at start().
  /// A round that fails (the API unreachable, an error answer) is retried
  /// sooner, with back-off from `retry_first` doubling up to 5 minutes (and
  /// never later than `every`), whether or not rounds repeat.
  std::chrono::seconds every{0};
  /// The first wait before a failed round is tried again.
  std::chrono::milliseconds retry_first{5000};
  /// The v1 route the votes are delivered through (their de-duplication key
  /// and the event's `route`, as if Top.gg had delivered them there); empty:
  /// the Router's one v1 route (with several, name it).
  std::string route;
  /// Once the token's project is known, `route` serves only that project
  /// (Router::learn_project): a delivery there for another project is refused
  /// 403. For a route whose project is not declared with only_for().
  bool only_token_project = false;
  /// How long one vote's delivery (its handler, its Ack) may take before the
  /// round counts it as failed and stops advancing the mark.
  std::chrono::milliseconds vote_timeout{10000};
  /// One line per problem (an API error, a store that cannot keep the mark).
  /// Default: standard error. Never holds the token.
  std::function<void(std::string_view)> on_error;
  /// One line per round that delivered something. Default: none.
  std::function<void(std::string_view)> on_info;
};

/// What one round did.
struct CatchUpRound {
  v1::Timestamp since{};             ///< where it read from
  std::uint64_t fetched = 0;         ///< votes the API returned
  std::uint64_t delivered = 0;       ///< handled now
  std::uint64_t duplicates = 0;      ///< handled before (by webhook or an earlier round)
  std::uint64_t failed = 0;          ///< handler failed or timed out: the mark stays before the first
  std::optional<v1::Timestamp> mark; ///< the mark after the round (saved in the store)
  std::optional<Error> error;        ///< the API call that ended the round early, if any
};

/// What catch-up has done since start(), for health checks and dashboards.
struct CatchUpStats {
  std::uint64_t rounds = 0;        ///< rounds that succeeded: read the history to its end, delivered every vote
  std::uint64_t rounds_failed = 0; ///< rounds ended by an API error, or with a vote whose delivery failed
  std::uint64_t votes = 0;         ///< votes handled by catch-up (duplicates not counted)
  /// When the last round that succeeded ended; nullopt if none did yet.
  std::optional<std::chrono::system_clock::time_point> last_success;
};

/// Fetches the votes cast while no receiver was up and delivers each once to
/// the vote.create handlers (see the file's comment); rounds at start, then
/// every CatchUpOptions::every. Each round is also told to the Router's
/// Metrics, if it has one (RouterApi::metrics(): Metrics::catch_up_round).
class TOPGG_API CatchUp {
public:
  /// Delivers through `router` on the catch-up thread (handlers run there
  /// unless the router has an executor). `router` must outlive this object.
  CatchUp(Router& router, CatchUpOptions options);
  /// Delivers on `manager`'s loop thread (ManagerBase::post), where its live
  /// votes are handled too. `manager` must outlive this object; rounds wait
  /// while it is not running.
  CatchUp(ManagerBase& manager, CatchUpOptions options);
  /// stop().
  ~CatchUp();
  CatchUp(const CatchUp&) = delete;
  CatchUp& operator=(const CatchUp&) = delete;

  /// Starts the catch-up thread: a round now, then one every `every`. A round
  /// that fails is reported and retried with back-off (see
  /// CatchUpOptions::every); the thread goes on.
  void start();
  /// Stops promptly (a request in progress or a wait is cancelled) and joins.
  /// Idempotent; from any thread but the catch-up thread.
  void stop();

  /// One round, on the calling thread (tools, tests).
  CatchUpRound run_once();

  /// The rounds so far (run_once() ones included); any thread.
  CatchUpStats stats() const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg::api
