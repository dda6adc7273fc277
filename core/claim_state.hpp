// Internal: the shared state behind ClaimTicket, and the pipeline's own
// ClaimDeferral.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "ack_state.hpp"
#include "topgg/idempotency.hpp"

namespace topgg::detail {

/// The result of one claim, read by whoever waits for it. Completed once.
struct ClaimCell {
  static constexpr int pending = -1;
  std::atomic<int> result{pending};
  std::function<void(ClaimResult)> done; // direct use (ClaimDeferral(done))
  std::shared_ptr<WakeCell> wake;        // the pipeline's waker
  std::mutex late_m;
  std::function<void(ClaimResult)> late; // see if_late()

  bool complete(ClaimResult r) {
    int expected = pending;
    if (!result.compare_exchange_strong(expected, static_cast<int>(r), std::memory_order_acq_rel))
      return false;
    if (done)
      done(r);
    if (wake)
      wake->fire();
    std::function<void(ClaimResult)> orphan;
    {
      std::lock_guard lock(late_m);
      orphan = std::move(late);
    }
    if (orphan)
      orphan(r);
    return true;
  }
  /// The waiting side gave up (its deadline passed, its connection went):
  /// `f` gets the result whenever it comes — at once if it is already here —
  /// so that a key claimed after all is released rather than held until its
  /// lease lapses.
  void if_late(std::function<void(ClaimResult)> f) {
    {
      std::lock_guard lock(late_m);
      if (!ready()) {
        late = std::move(f);
        return;
      }
    }
    f(get());
  }
  bool ready() const noexcept { return result.load(std::memory_order_acquire) != pending; }
  ClaimResult get() const noexcept { return static_cast<ClaimResult>(result.load(std::memory_order_acquire)); }
};

/// Held only by tickets: when the last ticket goes away uncompleted, the
/// claim counts as unavailable at once (the waiting side holds the cell,
/// not this, so its reference cannot keep a forgotten claim pending).
struct ClaimState {
  std::shared_ptr<ClaimCell> cell;
  ~ClaimState() {
    if (cell)
      cell->complete(ClaimResult::unavailable);
  }
};

} // namespace topgg::detail

namespace topgg {

/// The pipeline's deferral: on defer(), the ticket wakes the cell `wake()`
/// gives (asked only then: most claims are answered at once) and the pipeline
/// keeps `cell` to read the result.
struct ClaimDeferral::Internal {
  std::function<std::shared_ptr<detail::WakeCell>()> wake;
  std::shared_ptr<detail::ClaimCell> cell; // set by defer()
};

} // namespace topgg
