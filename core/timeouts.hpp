// Internal: time arithmetic that cannot overflow, and the one table of a
// connection's timeouts.
#pragma once

#include <algorithm>
#include <chrono>

#include "topgg/http.hpp"
#include "topgg/settings.hpp"

namespace topgg::detail {

/// t + d, saturating: a setting of milliseconds::max() means "never", not an
/// overflow into the past (which would expire everything at once). A negative
/// duration acts as zero.
constexpr Clock::time_point later(Clock::time_point t, std::chrono::milliseconds d) noexcept {
  using std::chrono::duration_cast;
  if (d.count() <= 0)
    return t;
  constexpr auto most = duration_cast<std::chrono::milliseconds>(Clock::duration::max());
  if (d >= most)
    return Clock::time_point::max();
  const auto step = duration_cast<Clock::duration>(d); // fits: d < most
  return t > Clock::time_point::max() - step ? Clock::time_point::max() : t + step;
}

} // namespace topgg::detail

namespace topgg::detail {

enum class Phase : unsigned char { fresh, idle, head, body };

/// What a connection is waiting for, as the timeout table needs it.
struct Waiting {
  bool closing = false;        ///< no further request will be read
  bool answers_queued = false; ///< answers not yet final or not yet written out
  bool output_left = false;    ///< bytes not yet taken by the peer
  Phase phase = Phase::fresh;
  Clock::time_point phase_since{}, linger_since{};
};

/// The next timeout and what it does. The one table of timeouts: deadline()
/// and on_timer() both read it.
struct Due {
  enum Kind : unsigned char {
    none,
    close_quietly,   ///< connected or idle and silent too long: close without an answer
    request_timeout, ///< a request's head or body is too slow: 408 and close
    stop_writing,    ///< closing, and the peer has not read our last answer: give up on it
  } kind = none;
  Clock::time_point at{};
};

inline Due next_due(const Waiting& w, const Settings& s) noexcept {
  if (w.closing) {
    if (!w.answers_queued && w.output_left)
      return {Due::stop_writing, later(std::max(w.phase_since, w.linger_since), s.body_timeout)};
    return {};
  }
  switch (w.phase) {
  case Phase::fresh: return {Due::close_quietly, later(w.phase_since, s.header_timeout)};
  case Phase::head: return {Due::request_timeout, later(w.phase_since, s.header_timeout)};
  case Phase::body: return {Due::request_timeout, later(w.phase_since, s.body_timeout)};
  case Phase::idle:
    if (w.answers_queued)
      return {};
    return {Due::close_quietly, later(w.phase_since, s.idle_timeout)};
  }
  return {};
}

} // namespace topgg::detail
