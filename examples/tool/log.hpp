// The stderr log of `topgg-webhook listen`: one line per refusal, failure or
// notice, "topgg-webhook: <UTC time, RFC 3339> <text>".
#pragma once

#include <string>
#include <string_view>

#include "log_limit.hpp"
#include "topgg/error.hpp"

namespace tool {

/// "2025-06-01T12:34:56.789Z": now, in UTC.
std::string utc_now();

/// One line, written at once (lines come from the loop, --exec workers and
/// the de-duplication store's thread).
void log_line(const std::string& text);

/// The error hook: "refused 401 POST /dbl from 203.0.113.7:51234: why"; a
/// refusal because the de-duplication store is unavailable is logged once per
/// outage (log_store_line() opens the next).
void log_rejection(const topgg::Rejection& r);

/// From now on (until called with nullptr), refusal lines go through
/// `limits`: a few per reason and client in each period, then one summary.
void limit_refusal_lines(LineLimiter* limits);

/// The duplicate hook: an "info:" line.
void log_duplicate(const topgg::Rejection& r);

/// The de-duplication store's hook: it says when an outage begins and ends.
void log_store_line(std::string_view what);

} // namespace tool
