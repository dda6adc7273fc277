// Internal to the adapters: every connection's timer on one loop timer. A
// binary heap of deadlines; each connection holds its place in it (a
// Deadline member), so re-arming is O(log n) with no allocation, and an idle
// connection carries 16 bytes instead of a loop timer of its own (libuv's is
// 152 bytes, Asio's 120 plus a pending wait). The loop timer is armed at the
// earliest deadline and only moved earlier: when it fires early (deadlines
// moved later since), expire() finds nothing due and the adapter re-arms it.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "topgg/http.hpp"

namespace topgg::sock {

/// A connection's place in Deadlines.
struct Deadline {
  static constexpr std::size_t none = static_cast<std::size_t>(-1);
  Clock::time_point at{};
  std::size_t slot = none;
};

/// `Conn` has a member `Deadline deadline`. Loop thread only.
template <class Conn> class Deadlines {
public:
  /// Arms `c` at `at`, or disarms it (nullopt).
  void set(Conn& c, std::optional<Clock::time_point> at) {
    Deadline& d = c.deadline;
    if (!at)
      return remove(c);
    const bool later = d.slot != Deadline::none && *at > d.at;
    d.at = *at;
    if (d.slot == Deadline::none) {
      d.slot = heap_.size();
      heap_.push_back(&c);
    }
    later ? down(d.slot) : up(d.slot);
  }

  void remove(Conn& c) noexcept {
    const std::size_t i = c.deadline.slot;
    if (i == Deadline::none)
      return;
    c.deadline.slot = Deadline::none;
    Conn* last = heap_.back();
    heap_.pop_back();
    if (last == &c)
      return;
    heap_[i] = last;
    last->deadline.slot = i;
    down(i);
    up(last->deadline.slot);
  }

  std::optional<Clock::time_point> earliest() const noexcept {
    return heap_.empty() ? std::nullopt : std::optional(heap_.front()->deadline.at);
  }

  /// Takes every connection due at `now` out of the heap and calls f(conn)
  /// (which may arm it again, or close it).
  template <class F> void expire(Clock::time_point now, F&& f) {
    while (!heap_.empty() && heap_.front()->deadline.at <= now) {
      Conn& c = *heap_.front();
      remove(c);
      f(c);
    }
  }

private:
  bool before(std::size_t a, std::size_t b) const noexcept { return heap_[a]->deadline.at < heap_[b]->deadline.at; }
  void swap(std::size_t a, std::size_t b) noexcept {
    std::swap(heap_[a], heap_[b]);
    heap_[a]->deadline.slot = a;
    heap_[b]->deadline.slot = b;
  }
  void up(std::size_t i) noexcept {
    for (; i > 0 && before(i, (i - 1) / 2); i = (i - 1) / 2)
      swap(i, (i - 1) / 2);
  }
  void down(std::size_t i) noexcept {
    for (;;) {
      std::size_t m = i;
      for (std::size_t k = 2 * i + 1; k <= 2 * i + 2 && k < heap_.size(); ++k)
        if (before(k, m))
          m = k;
      if (m == i)
        return;
      swap(i, m);
      i = m;
    }
  }

  std::vector<Conn*> heap_;
};

} // namespace topgg::sock
