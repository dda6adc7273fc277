// Internal: what a Router holds — routes, handlers, hooks, settings, store.
// Shared (by shared_ptr) with deliveries still waiting for an Ack or a claim,
// so that they may complete after the Router is gone.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "auth.hpp"
#include "metrics_state.hpp"
#include "topgg/router.hpp"

namespace topgg::detail {

struct Route {
  RouteKindId kind;
  std::string method; ///< "" matches any method
  std::string path;
  std::string auth_key;
  RouteHandler handler;
  std::vector<std::string> secrets; ///< v1 routes
  std::string allow;                ///< every method routed at `path`, for 405's Allow
  Secret auth;                      ///< auth_key, kept for comparing
  /// The one bot (dbl), server (dsl) or project (v1: its Top.gg ID or its
  /// platform ID) this route serves, if declared (only_for); others: 403.
  std::string target;
  Snowflake target_id; ///< `target` as a Snowflake (dbl, dsl)
  /// A v1 route's project learned while serving (catch-up's token), when none
  /// was declared: set once, read on any thread; owned by Config::learned.
  mutable std::atomic<const std::string*> learned{nullptr};
  RouteMeter* meter = nullptr; ///< its answers' counters, when the Router has Metrics

  Route(RouteKindId k, std::string m, std::string p, std::string key, RouteHandler h, std::vector<std::string> s)
      : kind(k), method(std::move(m)), path(std::move(p)), auth_key(std::move(key)), handler(std::move(h)),
        secrets(std::move(s)), auth(auth_key) {}
  Route(const Route& o)
      : kind(o.kind), method(o.method), path(o.path), auth_key(o.auth_key), handler(o.handler), secrets(o.secrets),
        allow(o.allow), auth(o.auth), target(o.target), target_id(o.target_id), learned(o.learned.load()),
        meter(o.meter) {}
  Route& operator=(const Route&) = delete;
  /// The declared or learned target; "" when the route takes any.
  std::string_view served() const noexcept {
    if (!target.empty())
      return target;
    const std::string* l = learned.load(std::memory_order_acquire);
    return l ? std::string_view(*l) : std::string_view{};
  }
};

/// The newest vote.create handled per project: catch-up's high-water marks.
class VoteMarks {
public:
  /// Keeps `t` for `project` if newer; a time beyond `now` + skew (a clock
  /// far off, or a forged date) never moves a mark.
  void note(std::string_view project, v1::Timestamp t, std::chrono::system_clock::time_point now);
  std::optional<v1::Timestamp> newest(std::string_view project) const;

private:
  mutable std::mutex m_;
  std::vector<std::pair<std::string, v1::Timestamp>> marks_; // few projects: a list
};

template <class Event> struct VoteHandlers {
  Handler<Event> plain;
  AckHandler<Event> with_ack;
  explicit operator bool() const noexcept { return plain || with_ack; }
};

template <class L> struct HandlersOf;
template <class... E> struct HandlersOf<v1::TypeList<E...>> { using type = std::tuple<VoteHandlers<E>...>; };

struct Config {
  std::vector<Route> routes;
  HandlersOf<Events>::type handlers;
  SecretResolver resolver;
  std::function<void(const Rejection&)> on_error;   ///< empty: one line on stderr
  std::function<void(std::string_view)> on_warning; ///< empty: stderr
  std::function<void(const Rejection&)> on_duplicate; ///< empty: an info line on stderr
  Executor executor;
  Settings settings;
  std::shared_ptr<IdempotencyStore> store; ///< set by the user, or a MemoryStore of dedup_capacity
  std::shared_ptr<Metrics> metrics;        ///< counted into when set (RouterApi::metrics)
  MetricsState* meter = nullptr;           ///< metrics' state, or nullptr: what the pipeline tests
  bool own_store = true;                   ///< `store` is the default one (resized with dedup_capacity)
  std::atomic<bool> warned{false};
  std::atomic<bool> frozen{false};
  /// The newest vote.create handled per project, the catch-up's high-water
  /// marks between rounds.
  VoteMarks newest_votes;
  /// Targets learned while serving (Route::learned points here; never freed before the Config).
  std::mutex learned_m;
  std::deque<std::string> learned;

  template <class Event> const VoteHandlers<Event>& handlers_for() const noexcept {
    return std::get<VoteHandlers<Event>>(handlers);
  }
  /// Tells the error hook (or stderr); never throws.
  void reject(const Rejection& r) const noexcept;
  /// Tells the warning hook (or stderr); never throws.
  void warn(std::string_view message) const noexcept;
  /// Tells the duplicate hook (or stderr) of a retry answered without an event; never throws.
  void duplicate(const Rejection& r) const noexcept;
  /// The route for `path` and `method`; `path_known` says whether any route has that path.
  const Route* find(std::string_view path, std::string_view method, bool& path_known) const noexcept;
  /// The Allow value for `path` ("" if nothing is routed there).
  std::string_view allow(std::string_view path) const noexcept;
  /// The store deliveries are claimed in; nullptr when de-duplication is off.
  IdempotencyStore* idempotency() noexcept;
  /// Tells the metrics (if any) which store's health to report.
  void meter_store();
};

} // namespace topgg::detail
