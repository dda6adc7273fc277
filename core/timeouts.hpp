// Internal: time arithmetic that cannot overflow.
#pragma once

#include <chrono>

#include "topgg/http.hpp"

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
