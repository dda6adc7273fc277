// The stderr log of `topgg-webhook listen`: one line per refusal, failure or
// notice. Text (the default): "topgg-webhook: <UTC time, RFC 3339> <text>";
// lines said at start, before listening, have no time. JSON (--log-format
// json): one object per line, {"time", "level", "msg"} and, where known,
// "status", "method", "path", "peer", "trace", "event" and a few more.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log_limit.hpp"
#include "topgg/error.hpp"

namespace tool {

/// "2025-06-01T12:34:56.789Z": now, in UTC.
std::string utc_now();

class Options;

enum class LogFormat { text, json };
/// From now on, every line in `format` (set once, before any thread logs).
void set_log_format(LogFormat format);
LogFormat log_format();
/// "text" or "json" (--log-format); false for anything else.
bool parse_log_format(std::string_view name, LogFormat& out);
/// --log-format, set before anything is logged (usage_error on a bad value).
void set_log_format_from(const Options& o);
/// The options this file reads, for the option table.
inline const std::vector<std::string> kLogOptions = {"log-format"};

/// How much a line matters: JSON's "level". In text, info lines start with
/// "info: " and warnings with "warning: ".
enum class Level { info, notice, warning, error };

/// What a line is about, beside its message: JSON keys ("status", "method",
/// "path", "peer", "trace", "event", then `more` in order); text lines carry
/// them in their words already. Empty values are left out.
struct LogFields {
  int status = 0;
  std::string_view method, path, peer, trace, event;
  std::vector<std::pair<std::string_view, std::string>> more = {};
};

/// One line, written at once (lines come from the loop, --exec workers, the
/// de-duplication store's thread). `timed`: text lines said before listening
/// have no time (JSON lines always do).
void log(Level level, std::string_view msg, const LogFields& fields = {}, bool timed = true);
/// log(Level::notice, text): a line of the tool's own life ("SIGTERM: closing").
void log_line(const std::string& text);
/// A line said at start, before listening: "topgg-webhook: warning: …" in text.
void log_start(Level level, std::string_view msg);

/// Where a refused request came from, as the log names it: the connection's
/// peer, or with --trust-proxy the client a proxy of ours names.
struct Client {
  std::string address; ///< "203.0.113.7:51234", or "198.51.100.7" named by a proxy
  std::string via;     ///< the proxy's address when `address` is what it named; else ""
  std::string key;     ///< the client whatever its port, for the refusal rate limits
};
/// How the log finds a request's client (--trust-proxy); unset: the peer.
/// Set once, before any thread logs.
void set_client_finder(std::function<Client(const topgg::Rejection&)> find);

/// The error hook: "refused 401 POST /dbl from 203.0.113.7:51234: why"; a
/// refusal because the de-duplication store is unavailable is logged once per
/// outage (log_store_line() opens the next).
void log_rejection(const topgg::Rejection& r);

/// From now on (until called with nullptr), refusal lines go through
/// `limits`: a few per reason and client in each period, then one summary.
void limit_refusal_lines(LineLimiter* limits);
/// A LineLimiter's summary ("N more like … were not logged one by one").
void log_summary(const std::string& line);

/// The duplicate hook: an "info:" line.
void log_duplicate(const topgg::Rejection& r);

/// The de-duplication store's hook: it says when an outage begins and ends.
void log_store_line(std::string_view what);

} // namespace tool
