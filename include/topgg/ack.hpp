// Acknowledging a delivery later, from any thread.
#pragma once

#include "topgg/export.hpp"

#include <memory>
#include <string_view>

#include "topgg/http.hpp"

namespace topgg {

namespace detail {
struct AckState;
} // namespace detail

/// Completes a delivery later, from any thread. Copies share one outcome:
/// the first completion wins, later ones are ignored. Completing after the
/// connection (or the Router) is gone does nothing and is safe. Never
/// completed → 503 after Settings::ack_timeout, so Top.gg delivers again.
///
/// Top.gg delivers again after any 5xx or timeout, so a handler's effect
/// must be idempotent (see examples/sqlite_ledger.cpp): an Ack is answered at
/// least once, never exactly once across crashes.
class TOPGG_API Ack {
public:
  /// An Ack for no delivery: every call returns false.
  Ack() = default;
  /// \cond INTERNAL
  explicit Ack(std::shared_ptr<detail::AckState> s) noexcept : state_(std::move(s)) {}
  /// \endcond
  /// Handled: 200 (legacy) or 204 (v1). False if the delivery was already
  /// answered (completed before, or expired): then this call changed nothing
  /// and Top.gg will deliver it again (or already got an answer).
  bool ok() const;
  /// Handled, answering with `reply` (e.g. integration.create's JSON body);
  /// a reply whose status is outside 200-599 is replaced by the usual success.
  bool ok(Response reply) const;
  /// Not handled now: 503 so Top.gg delivers again. `reason` goes to the
  /// error hook only, never into the answer. False as for ok().
  bool retry(std::string_view reason = {}) const;
  /// True once completed (by anyone) or expired.
  bool done() const noexcept;
  /// When the delivery is answered 503 unless this Ack completed before:
  /// its arrival plus Settings::ack_timeout on the adapter's clock
  /// (Clock::time_point::max() when nothing times it, as with Router::handle
  /// and an Ack for no delivery). Work queued for later (a busy pool, a
  /// command queue) should start only while it can finish before this: a
  /// delivery answered 503 comes again, and would be handled twice.
  Clock::time_point deadline() const noexcept;

private:
  std::shared_ptr<detail::AckState> state_;
};

} // namespace topgg
