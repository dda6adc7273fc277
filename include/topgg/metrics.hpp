// Metrics: what the delivery pipeline counts while it serves — requests by
// route and status, events by type, refusals by reason, duplicates, handler
// failures, retries and Ack timeouts, handler latency —, plus what others
// tell it (the idempotency store's health, catch-up's rounds). Readable as a
// plain struct from any thread, and writable in Prometheus' text format
// (0.0.4), so that any server — the CLI's second listener, or one of yours —
// can serve it.
//
// Counting costs no allocation and no lock: relaxed atomic increments in
// arrays sized when the Metrics is given to a Router (its routes are known
// then). Off unless a Router is given one (RouterApi::metrics()).
#pragma once

#include "topgg/export.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/http.hpp"

namespace topgg {

/// Why a request was refused before any handler ran, as the metrics tell it
/// apart: topgg::Error's refusals, with Error::unauthorized split into a
/// missing and a wrong (or repeated) Authorization header, and
/// Error::timestamp_out_of_window named for what it means (a stale signature).
/// The label of each is its name (to_string()).
enum class Refusal : std::uint8_t {
  malformed_http,        ///< 400: not HTTP/1.x
  bad_host,              ///< 400: missing or repeated Host
  not_found,             ///< 404: no route for the path (the path itself is never a label)
  method_not_allowed,    ///< 405
  auth_missing,          ///< 401: no Authorization header on a legacy route with a key
  auth_wrong,            ///< 401: Authorization repeated or not the route's key
  payload_too_large,     ///< 413
  headers_too_large,     ///< 431
  request_timeout,       ///< 408
  expectation_failed,    ///< 417
  version_not_supported, ///< 505
  invalid_json,          ///< 400 legacy, 204 v1: the body is not JSON
  invalid_payload,       ///< 400 legacy, 204 v1: JSON of the wrong shape, or an unknown v1 event type
  signature_missing,     ///< 401: v1 route without x-topgg-signature
  signature_malformed,   ///< 422
  signature_mismatch,    ///< 403: no v1= matches
  signature_stale,       ///< 403: t= outside Settings::v1_window (a replay, or a clock far off)
  wrong_target,          ///< 403: for another bot, server or project than the route serves (only_for)
  no_handler,            ///< 503: a vote for which no handler is set
};

/// How many Refusal values there are.
inline constexpr std::size_t refusal_count = static_cast<std::size_t>(Refusal::no_handler) + 1;

/// "auth_missing", "signature_stale", …: the value's name, the metrics' label; static storage.
TOPGG_API std::string_view to_string(Refusal r) noexcept;

/// A histogram as read at one moment: Prometheus' cumulative buckets.
struct HistogramSnapshot {
  std::vector<double> bounds;        ///< upper bounds (le), in seconds, ascending; +Inf is implied
  std::vector<std::uint64_t> counts; ///< cumulative: counts[i] observations <= bounds[i]; one more for +Inf (== count)
  double sum = 0;                    ///< of every observation, in seconds
  std::uint64_t count = 0;           ///< observations
};

/// Everything a Metrics holds, copied at one moment (each counter read on its
/// own: a request counted meanwhile may show in one counter and not yet in
/// another). Plain values: keep it, compare it, hand it to any thread.
struct TOPGG_API MetricsSnapshot {
  /// Requests answered at one route with one status.
  struct Requests {
    std::string route; ///< the route's configured path; "none" when no route matched (404, or broken before the path)
    std::string_view
        status; ///< "200", "401", …; "2xx", "3xx", "4xx", "5xx" for a status outside the usual set; static storage
    std::uint64_t count = 0; ///< how many
  };
  /// Names of the event types, the `event` label, in topgg::Events' order
  /// (the CLI's JSON `"event"` names).
  static constexpr std::array<std::string_view, 6> event_names = {
      "dbl_vote", "dsl_vote", "vote.create", "webhook.test", "integration.create", "integration.delete"};

  std::vector<Requests> requests;                     ///< rows with a count above zero, by route then status
  std::array<std::uint64_t, 6> events{};              ///< events handed to a handler, by event_names' index
  std::array<std::uint64_t, refusal_count> refused{}; ///< refusals, by Refusal
  std::uint64_t duplicates = 0;             ///< retries of handled deliveries, answered success without an event
  std::uint64_t duplicates_in_progress = 0; ///< retries while the first was still being handled, answered 503
  std::uint64_t handler_failures = 0;       ///< handlers (and route handlers, resolvers, executors) that threw: 500
  std::uint64_t handler_retries = 0;        ///< Ack::retry(): 503
  std::uint64_t ack_timeouts = 0;           ///< Acks not completed within Settings::ack_timeout: 503
  std::uint64_t store_unavailable = 0; ///< deliveries answered 503 because the idempotency store could not be asked
  HistogramSnapshot handler_seconds;   ///< from a handler's start to its outcome (see Metrics' clock)
  /// Whether the Router's idempotency store answers now
  /// (IdempotencyStore::available()); nullopt when none is linked
  /// (de-duplication off, or the Router gone).
  std::optional<bool> store_up;
  std::uint64_t catch_up_rounds = 0;        ///< catch-up rounds that succeeded (see Metrics::catch_up_round)
  std::uint64_t catch_up_rounds_failed = 0; ///< catch-up rounds that failed
  std::uint64_t catch_up_votes = 0;         ///< votes caught up from the vote history and handled
  /// When the last catch-up round that succeeded ended; nullopt if none did.
  std::optional<std::chrono::system_clock::time_point> catch_up_last_success;

  /// events[] of the type named `name` ("dbl_vote", "vote.create", …); 0 for an unknown name.
  std::uint64_t event(std::string_view name) const noexcept;
  /// refused[] of `r`.
  std::uint64_t refusals(Refusal r) const noexcept { return refused[static_cast<std::size_t>(r)]; }
  /// The requests answered at `route` (a configured path, or "none") with
  /// `status` ("200", …, or a class such as "5xx"); 0 if none.
  std::uint64_t requests_at(std::string_view route, std::string_view status) const noexcept;

  /// Appends this snapshot in Prometheus' text exposition format 0.0.4 (see
  /// Metrics::write_prometheus for the names).
  void write_prometheus(std::string& out) const;
};

namespace detail {
struct MetricsState;
} // namespace detail

/// The counters and the latency histogram of one or more Routers (or
/// WebhookManagers), enabled with RouterApi::metrics(); thread-safe: the
/// pipeline counts from its loop thread(s), the threads completing Acks and
/// the stores' threads, while snapshot() and write_prometheus() read from any
/// thread. Several Routers may count into one Metrics (their counts add up).
///
/// **Handler latency.** The core reads no clock: a Metrics made with a
/// clock (`Metrics(&std::chrono::steady_clock::now)`, what the CLI does and
/// what a server wants) reads it when a handler starts and when its outcome
/// is known. Without one, the histogram uses the Now values the pipeline is
/// given: exact and repeatable in tests, but a handler that returns at once
/// measures 0, and an Ack completed later measures up to the moment the loop
/// sees it (with Router::handle, whose Now never changes: 0).
///
/// **From outside the core.** The store's health is asked at scrape time
/// from the store the Router uses (IdempotencyStore::available(): no I/O);
/// api::CatchUp reports its rounds through catch_up_round() (it finds this
/// object through its Router); the build info is the library's version.
///
/// **Prometheus names** (write_prometheus; every name starts with
/// `topgg_webhook_`): `requests_total{route,status}`, `events_total{event}`,
/// `refused_total{reason}`, `duplicates_total`,
/// `duplicates_in_progress_total`, `handler_failures_total`,
/// `handler_retries_total`, `ack_timeouts_total`, `store_unavailable_total`,
/// `handler_seconds` (histogram), `store_up`, `catch_up_rounds_total{result}`,
/// `catch_up_votes_total`, `catch_up_last_success_timestamp_seconds`,
/// `build_info{version}`. Labels never carry request data: `route` is a
/// configured path or "none" (a 404's path is never a label).
class TOPGG_API Metrics {
public:
  /// A clock for handler latency: steady_clock::now, or a test's.
  using TimeSource = Clock::time_point (*)() noexcept;
  /// The histogram's upper bounds in seconds, for Top.gg's horizon: it waits
  /// 5 s for an answer, and Settings::ack_timeout (4 s) answers 503 before.
  static constexpr std::array<double, 15> handler_buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,   0.5,   1,      2,     3,    4,     5};
  /// The Content-Type of write_prometheus()'s text.
  static constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

  /// Every counter at zero. `clock` times handlers (see the class comment);
  /// nullptr: the Now values the pipeline is given.
  explicit Metrics(TimeSource clock = nullptr);
  /// Routers still counting into it keep their own reference (shared_ptr).
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// Everything, copied now; any thread. Allocates (the route rows): for a
  /// scrape, not for a request.
  MetricsSnapshot snapshot() const;
  /// Appends snapshot() in Prometheus' text exposition format 0.0.4 (HELP and
  /// TYPE lines, escaped label values, `_bucket{le=…}`, `_sum`, `_count`):
  /// the body of a `GET /metrics` answer, with prometheus_content_type.
  void write_prometheus(std::string& out) const;

  /// Tells of one catch-up round (api::CatchUp calls it): `ok` if it read the
  /// history to its end and delivered every vote, ending at `at`; `votes`
  /// handled in it (duplicates not counted). Any thread.
  void catch_up_round(bool ok, std::chrono::system_clock::time_point at, std::uint64_t votes) noexcept;

  /// \cond INTERNAL
  /// Internal: what the pipeline counts into.
  detail::MetricsState& state() const noexcept { return *state_; }
  /// \endcond

private:
  std::unique_ptr<detail::MetricsState> state_;
};

} // namespace topgg
