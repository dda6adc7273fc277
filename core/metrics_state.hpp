// Internal: a Metrics' counters, and what the pipeline calls to count. Every
// call on a request's path is a relaxed atomic increment into storage sized
// at configuration: no lock, no allocation.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>

#include "topgg/error.hpp"
#include "topgg/idempotency.hpp"
#include "topgg/metrics.hpp"
#include "topgg/router.hpp"

namespace topgg::detail {

using Counter = std::atomic<std::uint64_t>;

/// The statuses counted one by one; any other is counted in its class (2xx…5xx).
inline constexpr std::array<int, 15> metered_statuses = {200, 204, 400, 401, 403, 404, 405, 408,
                                                         413, 417, 422, 431, 500, 503, 505};
inline constexpr std::size_t status_slots = metered_statuses.size() + 4;

/// Where `status` is counted: its own slot, or its class's after them.
constexpr std::size_t status_slot(int status) noexcept {
  switch (status) {
  case 200: return 0;
  case 204: return 1;
  case 400: return 2;
  case 401: return 3;
  case 403: return 4;
  case 404: return 5;
  case 405: return 6;
  case 408: return 7;
  case 413: return 8;
  case 417: return 9;
  case 422: return 10;
  case 431: return 11;
  case 500: return 12;
  case 503: return 13;
  case 505: return 14;
  default: break;
  }
  const int cls = status / 100; // final statuses only (200-599): anything else goes with 5xx
  return metered_statuses.size() + static_cast<std::size_t>(cls >= 2 && cls <= 5 ? cls - 2 : 3);
}

/// The answers of one route (or of requests that matched none), by status.
struct RouteMeter {
  std::string label;
  std::array<Counter, status_slots> answered{};
  explicit RouteMeter(std::string l) : label(std::move(l)) {}
};

/// The index of Event in topgg::Events (the order of MetricsSnapshot::event_names).
template <class E, class L> struct IndexIn;
template <class E, class... T> struct IndexIn<E, v1::TypeList<E, T...>> : std::integral_constant<std::size_t, 0> {};
template <class E, class U, class... T>
struct IndexIn<E, v1::TypeList<U, T...>>
    : std::integral_constant<std::size_t, 1 + IndexIn<E, v1::TypeList<T...>>::value> {};

/// Metrics::handler_buckets in whole nanoseconds, compared with each observation.
inline constexpr auto bucket_ns = [] {
  std::array<std::int64_t, Metrics::handler_buckets.size()> ns{};
  for (std::size_t i = 0; i < ns.size(); ++i)
    ns[i] = static_cast<std::int64_t>(Metrics::handler_buckets[i] * 1e9 + 0.5);
  return ns;
}();
static_assert(bucket_ns[0] == 500'000 && bucket_ns.back() == 5'000'000'000);
static_assert(std::is_same_v<Clock::duration, std::chrono::nanoseconds>, "handler_time() counts nanoseconds");

struct MetricsState {
  explicit MetricsState(Metrics::TimeSource c) : clock(c) {}

  const Metrics::TimeSource clock;

  // Configuration and scrapes, under m: the route labels (a deque, so that a
  // Route's pointer to its meter stays valid as routes are added), the store.
  mutable std::mutex m;
  std::deque<RouteMeter> routes;
  std::weak_ptr<const IdempotencyStore> store;
  bool store_linked = false;

  RouteMeter unrouted{"none"};
  std::array<Counter, MetricsSnapshot::event_names.size()> events{};
  std::array<Counter, refusal_count> refused{};
  Counter duplicates{0}, in_progress{0}, failures{0}, retries{0}, ack_timeouts{0}, store_unavailable{0};
  std::array<Counter, Metrics::handler_buckets.size() + 1> buckets{}; // not cumulative; the last is +Inf
  Counter latency_ns{0};
  Counter rounds_ok{0}, rounds_failed{0}, caught_up{0};
  std::atomic<std::int64_t> last_round_us{INT64_MIN}; // Unix microseconds of the last round that succeeded

  /// The meter of the route at `path` (made on first use); configuration time.
  RouteMeter* route(std::string_view path);
  /// The store whose health store_up reports (nullptr: none; de-duplication off).
  void link_store(std::shared_ptr<const IdempotencyStore> s);

  /// A request was answered `status` at the route metered by `r` (nullptr: none matched).
  void answered(RouteMeter* r, int status) noexcept {
    (r ? *r : unrouted).answered[status_slot(status)].fetch_add(1, std::memory_order_relaxed);
  }
  /// A refusal or failure told to the error hook: counted by its reason.
  void rejected(const Rejection& r) noexcept;
  void duplicate() noexcept { duplicates.fetch_add(1, std::memory_order_relaxed); }
  /// An event of Events' index `event` is handed to its handler.
  void event(std::size_t index) noexcept { events[index].fetch_add(1, std::memory_order_relaxed); }
  /// The time a handler starts or ends, as this Metrics measures it.
  Clock::time_point stamp(const Now& now) const noexcept { return clock ? clock() : now.mono; }
  /// A handler ran from `start` to `end` (stamp()s).
  void handler_time(Clock::time_point start, Clock::time_point end) noexcept {
    const std::int64_t ns = (end - start).count(); // steady_clock counts nanoseconds
    std::size_t i = 0;
    while (i < bucket_ns.size() && ns > bucket_ns[i])
      ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    latency_ns.fetch_add(static_cast<std::uint64_t>(ns > 0 ? ns : 0), std::memory_order_relaxed);
  }
};

/// Events' index of Event.
template <class Event> constexpr std::size_t event_index() noexcept { return IndexIn<Event, Events>::value; }
static_assert(event_index<v1::IntegrationDelete>() + 1 == MetricsSnapshot::event_names.size(),
              "one event name per type of topgg::Events");

} // namespace topgg::detail
