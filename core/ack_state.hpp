// Internal: the shared state behind Ack, and the wake cell a delivery's
// completion fires.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "topgg/http.hpp"

namespace topgg::detail {

/// What to call (from any thread) when an Ack or a claim completes.
///
/// A connection's wake (set()) only posts to its loop; it is called under the
/// mutex and cleared under it when the connection goes away, so a late
/// completion calls nothing. A wake that runs the rest of the delivery itself
/// — Router::handle's, which may start the handler on the thread that
/// completed the claim — is set with set_detached(): it keeps what it needs
/// alive and is called with no lock held, since the user's code it runs may
/// wait for another thread that completes an Ack (and so fires this cell).
struct WakeCell {
  // Recursive: a run started by fire() may complete an Ack on the same thread
  // (a plain handler run where a store's answer woke it), which fires again.
  std::recursive_mutex m;
  std::function<void()> fn;
  std::shared_ptr<const std::function<void()>> detached;
  void fire() {
    std::shared_ptr<const std::function<void()>> run;
    {
      std::lock_guard lock(m);
      if (fn)
        return fn();
      run = detached;
    }
    if (run)
      (*run)();
  }
  void set(std::function<void()> f) {
    std::lock_guard lock(m);
    fn = std::move(f);
  }
  void set_detached(std::function<void()> f) {
    auto run = std::make_shared<const std::function<void()>>(std::move(f));
    std::lock_guard lock(m);
    detached = std::move(run);
  }
};

/// The outcome of one delivery's handler, read by whoever waits for it.
struct AckCell {
  enum : int { pending, claiming, ok, retry, failed, expired };
  std::atomic<int> state{pending};
  std::optional<Response> reply; // written by the winner of the claim only
  std::string reason;            // why: retry reason or exception text
  std::shared_ptr<WakeCell> wake;
  /// When the delivery is answered 503 without this outcome (Ack::deadline()).
  Clock::time_point deadline = Clock::time_point::max();

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
  /// At the deadline (or when every Ack is gone): expires a still-pending ack.
  bool expire() {
    int expected = pending;
    return state.compare_exchange_strong(expected, expired, std::memory_order_acq_rel);
  }
  int result() const noexcept { return state.load(std::memory_order_acquire); }
  bool ready() const noexcept {
    const int r = result();
    return r != pending && r != claiming;
  }
};

/// Held by Ack handles (and executor jobs) only: when the last one goes away
/// uncompleted, nobody can answer any more, so the delivery expires at once
/// instead of at its deadline. The waiting side holds the cell, not this.
struct AckState {
  std::shared_ptr<AckCell> cell = std::make_shared<AckCell>();
  AckState() = default;
  AckState(const AckState&) = delete;
  AckState& operator=(const AckState&) = delete;
  ~AckState() {
    if (cell->expire() && cell->wake)
      cell->wake->fire();
  }
};

} // namespace topgg::detail
