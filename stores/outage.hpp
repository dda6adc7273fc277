// Internal to the stores: one error-hook line when trouble begins and one
// when it ends, never one per request. Used by one thread only (the store's),
// except down_now() and why_now(), which any thread may ask.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace topgg::detail {

class Outage {
public:
  using Say = std::function<void(std::string_view)>;
  /// `what` names the store in every line ("sqlite /var/lib/bot/dedup.db");
  /// `meanwhile` says what callers get while it lasts, `over` how it ended,
  /// `counted` what befell the claims counted by refused().
  Outage(Say say, std::string what, std::string meanwhile, std::string over, std::string counted)
      : say_(std::move(say)), what_(std::move(what)), meanwhile_(std::move(meanwhile)), over_(std::move(over)),
        counted_(std::move(counted)) {}

  /// The store was first asked something. The error hook may only be set
  /// before first use, so lines about trouble that began earlier wait for this.
  void used() {
    if (used_)
      return;
    used_ = true;
    if (down_)
      say_begin();
  }

  /// Something failed; the first failure of an outage is told with `why`.
  void failed(std::string_view why) {
    if (down_)
      return;
    down_ = true;
    since_ = std::chrono::steady_clock::now();
    refused_ = 0;
    why_ = why;
    told_ = false;
    {
      std::lock_guard lock(shared_m_);
      shared_why_ = what_ + ": " + why_;
    }
    shared_down_.store(true, std::memory_order_release);
    if (used_)
      say_begin();
  }

  /// Something worked: ends an outage.
  void worked() {
    if (!down_)
      return;
    down_ = false;
    shared_down_.store(false, std::memory_order_release);
    if (!told_)
      return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since_).count();
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", s);
    std::string line = what_ + ": " + over_ + " after " + took;
    if (refused_ > 0)
      line += "; " + std::to_string(refused_) + (refused_ == 1 ? " claim " : " claims ") + counted_ + " meanwhile";
    say_(line);
  }

  /// A claim answered without asking the store during this outage.
  void refused() noexcept { ++refused_; }
  bool down() const noexcept { return down_; }
  /// down(), from any thread.
  bool down_now() const noexcept { return shared_down_.load(std::memory_order_acquire); }
  /// "<what>: <the outage's first failure>" while down, from any thread; "" otherwise.
  std::string why_now() const {
    if (!down_now())
      return {};
    std::lock_guard lock(shared_m_);
    return shared_why_;
  }

private:
  void say_begin() {
    told_ = true;
    say_(what_ + ": " + why_ + "; " + meanwhile_);
  }

  Say say_;
  std::string what_, meanwhile_, over_, counted_, why_;
  std::chrono::steady_clock::time_point since_{};
  std::uint64_t refused_ = 0;
  bool used_ = false, down_ = false, told_ = false;
  std::atomic<bool> shared_down_{false};
  mutable std::mutex shared_m_;
  std::string shared_why_; // under shared_m_
};

} // namespace topgg::detail
