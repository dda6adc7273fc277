// Internal: what a Router holds — routes, handlers, hooks, settings, store.
// Shared (by shared_ptr) with deliveries still waiting for an Ack or a claim,
// so that they may complete after the Router is gone.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "auth.hpp"
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
};

template <class Event> struct VoteHandlers {
  Handler<Event> plain;
  AckHandler<Event> with_ack;
  explicit operator bool() const noexcept { return plain || with_ack; }
};

template <class L> struct HandlersOf;
template <class... E> struct HandlersOf<v1::TypeList<E...>> {
  using type = std::tuple<VoteHandlers<E>...>;
};

struct Config {
  std::vector<Route> routes;
  HandlersOf<Events>::type handlers;
  SecretResolver resolver;
  std::function<void(const Rejection&)> on_error; ///< empty: one line on stderr
  std::function<void(std::string_view)> on_warning; ///< empty: stderr
  Executor executor;
  Settings settings;
  std::shared_ptr<IdempotencyStore> store; ///< set by the user, or a MemoryStore of dedup_capacity
  bool own_store = true;                   ///< `store` is the default one (resized with dedup_capacity)
  std::atomic<bool> warned{false};
  std::atomic<bool> frozen{false};
  /// The newest vote.create handled (µs since the epoch; 0: none yet), the
  /// catch-up's high-water mark between rounds.
  std::atomic<std::int64_t> newest_vote{0};
  void note_vote(v1::Timestamp t) noexcept {
    const std::int64_t us = t.time_since_epoch().count();
    for (std::int64_t seen = newest_vote.load(); us > seen && !newest_vote.compare_exchange_weak(seen, us);) {
    }
  }

  template <class Event> const VoteHandlers<Event>& handlers_for() const noexcept {
    return std::get<VoteHandlers<Event>>(handlers);
  }
  /// Tells the error hook (or stderr); never throws.
  void reject(const Rejection& r) const noexcept;
  /// Tells the warning hook (or stderr); never throws.
  void warn(std::string_view message) const noexcept;
  /// The route for `path` and `method`; `path_known` says whether any route has that path.
  const Route* find(std::string_view path, std::string_view method, bool& path_known) const noexcept;
  /// The Allow value for `path` ("" if nothing is routed there).
  std::string_view allow(std::string_view path) const noexcept;
  /// The store deliveries are claimed in; nullptr when de-duplication is off.
  IdempotencyStore* idempotency() noexcept;
};

} // namespace topgg::detail
