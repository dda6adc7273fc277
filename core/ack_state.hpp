// Internal: the shared state behind Ack, and the per-connection wake cell.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "topgg/http.hpp"

namespace topgg::detail {

/// The adapter's wake function for one connection. Cleared (under the
/// mutex) when the connection goes away, so a late Ack calls nothing.
struct WakeCell {
  std::mutex m;
  std::function<void()> fn;
  void fire() {
    std::lock_guard lock(m);
    if (fn)
      fn();
  }
  void set(std::function<void()> f) {
    std::lock_guard lock(m);
    fn = std::move(f);
  }
};

struct AckState {
  enum : int { pending, claiming, ok, retry, failed, expired };
  std::atomic<int> state{pending};
  std::optional<Response> reply; // written by the winner of the claim only
  std::string reason;            // why: retry reason or exception text
  std::shared_ptr<WakeCell> wake;

  AckState() = default;
  AckState(const AckState&) = delete;
  AckState& operator=(const AckState&) = delete;
  /// Every Ack dropped without completing: nobody can answer any more, so
  /// the delivery expires now instead of at its deadline.
  ~AckState() {
    if (expire() && wake)
      wake->fire();
  }

  /// First caller wins; returns false for later calls.
  bool complete(int result, std::optional<Response> r = std::nullopt, std::string_view why = {}) {
    int expected = pending;
    if (!state.compare_exchange_strong(expected, claiming, std::memory_order_acq_rel))
      return false;
    reply = std::move(r);
    reason.assign(why);
    state.store(result, std::memory_order_release);
    if (wake)
      wake->fire();
    return true;
  }
  /// Loop thread, at the deadline: expires a still-pending ack.
  bool expire() {
    int expected = pending;
    return state.compare_exchange_strong(expected, expired, std::memory_order_acq_rel);
  }
  int result() const noexcept { return state.load(std::memory_order_acquire); }
};

} // namespace topgg::detail
