#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "events_json.hpp"
#include "options.hpp"

namespace tool {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {

LogFormat format = LogFormat::text; // set before any thread logs
std::function<Client(const topgg::Rejection&)> client_finder;

const char* level_name(Level l) {
  switch (l) {
  case Level::info: return "info";
  case Level::notice: return "notice";
  case Level::warning: return "warning";
  case Level::error: return "error";
  }
  return "error";
}

void field(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty())
    return;
  out += ',';
  json_string(out, key);
  out += ':';
  json_string(out, value);
}

// One line in the chosen format, written with one call (whole even when
// several threads log at once). In text, `prefix` comes before `msg`.
void emit(Level level, std::string_view prefix, std::string_view msg, const LogFields& f, bool timed) {
  std::string line;
  if (format == LogFormat::json) {
    line = "{\"time\":";
    json_string(line, utc_now());
    field(line, "level", level_name(level));
    line += ",\"msg\":";
    json_string(line, msg);
    if (f.status)
      line.append(",\"status\":").append(std::to_string(f.status));
    field(line, "method", f.method);
    field(line, "path", f.path);
    field(line, "peer", f.peer);
    field(line, "trace", f.trace);
    field(line, "event", f.event);
    for (const auto& [key, value] : f.more)
      field(line, key, value);
    line += "}\n";
  } else {
    line = "topgg-webhook: ";
    if (timed)
      line.append(utc_now()).append(" ");
    line.append(prefix).append(msg).append("\n");
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string_view text_prefix(Level l) { return l == Level::info ? "info: " : l == Level::warning ? "warning: " : ""; }

} // namespace

void set_log_format(LogFormat f) { format = f; }
LogFormat log_format() { return format; }

bool parse_log_format(std::string_view name, LogFormat& out) {
  if (name == "text")
    out = LogFormat::text;
  else if (name == "json")
    out = LogFormat::json;
  else
    return false;
  return true;
}

void set_log_format_from(const Options& o) {
  LogFormat f = LogFormat::text;
  if (o.has("log-format") && !parse_log_format(o.get("log-format"), f))
    usage_error("--log-format must be text or json, not '" + o.get("log-format") + "'");
  set_log_format(f);
}

void log(Level level, std::string_view msg, const LogFields& fields, bool timed) {
  emit(level, text_prefix(level), msg, fields, timed);
}

void log_line(const std::string& text) { log(Level::notice, text); }

void log_start(Level level, std::string_view msg) { log(level, msg, {}, false); }

void set_client_finder(std::function<Client(const topgg::Rejection&)> find) { client_finder = std::move(find); }

namespace {

/// Request data (a path, a method) for a text line: printable ASCII only, at
/// most 200 bytes, so that no request can forge or flood a line. (JSON
/// escapes whatever it holds; the same cut keeps its lines short.)
std::string printable(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c > 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  if (s.size() > 200)
    out += "...";
  return out;
}

Client client_of(const topgg::Rejection& r) {
  if (client_finder)
    return client_finder(r);
  // Its address whatever its port: each connection has a new one.
  return {std::string(r.peer), {}, std::string(r.peer.substr(0, r.peer.rfind(':')))};
}

/// "POST /dbl from 203.0.113.7:51234" (or "… from 198.51.100.7 via
/// 127.0.0.1:51234" behind a trusted proxy), or "(before the request line) from …".
std::string request_words(const topgg::Rejection& r, const Client& c) {
  std::string out = r.method.empty() && r.path.empty() ? std::string("(before the request line)")
                                                       : (r.method.empty() ? "-" : printable(r.method)) + " " +
                                                             (r.path.empty() ? "-" : printable(r.path));
  if (!c.address.empty())
    out += " from " + c.address;
  if (!c.via.empty())
    out += " via " + c.via;
  return out;
}

/// A request's JSON keys (text lines say the same in words): views into
/// the strings given, which must outlive them.
struct RequestFields {
  std::string method, path, trace;
  LogFields fields;
  RequestFields(const topgg::Rejection& r, const Client& c)
      : method(printable(r.method)), path(printable(r.path)), trace(printable(r.trace)) {
    fields.status = r.status;
    fields.method = method;
    fields.path = path;
    fields.peer = c.address;
    fields.trace = trace;
    if (!c.via.empty())
      fields.more.emplace_back("via", c.via);
  }
};

/// Set while a store outage has had its one refusal line; the store's own
/// lines (outage begins, store back) clear it.
std::atomic<bool> outage_logged{false};

/// Holds back refusal lines beyond a few per reason and client, when set.
std::atomic<LineLimiter*> refusal_limits{nullptr};

void refusal_line(const topgg::Rejection& r, const Client& c, const std::string& text) {
  RequestFields f(r, c);
  f.fields.more.emplace_back("reason", std::string(r.detail.empty() ? topgg::describe(r.error) : r.detail));
  // A client's mistake (4xx) is a warning; a failure of ours (5xx, or no answer), an error.
  emit(r.status >= 400 && r.status < 500 ? Level::warning : Level::error, "", text, f.fields, true);
}

} // namespace

void log_rejection(const topgg::Rejection& r) {
  const std::string detail(r.detail.empty() ? topgg::describe(r.error) : r.detail);
  const Client client = client_of(r);
  switch (r.error) {
  case topgg::Error::handler_retry: return; // only --exec asks for retries, and it has said why on its own line
  case topgg::Error::store_unavailable:
    if (outage_logged.exchange(true))
      return;
    refusal_line(r, client,
                 "refused " + std::to_string(r.status) + " " + request_words(r, client) + ": " + detail +
                     " (more such refusals are not logged until the store's next line)");
    return;
  default: break;
  }
  const std::string status = r.status ? std::to_string(r.status) : "(unanswered)";
  if (LineLimiter* limits = refusal_limits.load()) {
    // Behind a trusted proxy, the client it names: the proxy's own address is everyone's.
    const Client same{client.key, {}, client.key};
    if (!limits->allow(std::to_string(static_cast<int>(r.error)), client.key,
                       "refused " + status + " " + request_words(r, same), LineLimiter::Clock::now()))
      return;
  }
  refusal_line(r, client, "refused " + status + " " + request_words(r, client) + ": " + detail);
}

void limit_refusal_lines(LineLimiter* limits) { refusal_limits = limits; }

void log_summary(const std::string& line) { emit(Level::warning, "", line, {}, true); }

void log_duplicate(const topgg::Rejection& r) {
  const Client client = client_of(r);
  const RequestFields f(r, client);
  log(Level::info,
      request_words(r, client) + ": a retry of a delivery already handled: answered " + std::to_string(r.status) +
          ", no second line",
      f.fields);
}

void log_store_line(std::string_view what) {
  outage_logged = false; // an outage begins or ends: its refusals get one line again
  emit(Level::warning, "", "de-duplication store: " + std::string(what), {}, true);
}

} // namespace tool
