#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

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

void log_line(const std::string& text) {
  const std::string line = "topgg-webhook: " + utc_now() + " " + text + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

namespace {

/// Request data (a path, a method) for a log line: printable ASCII only, at
/// most 200 bytes, so that no request can forge or flood a line.
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

/// "POST /dbl from 203.0.113.7:51234", or "(before the request line) from …".
std::string request_words(const topgg::Rejection& r) {
  std::string out = r.method.empty() && r.path.empty() ? std::string("(before the request line)")
                                                       : (r.method.empty() ? "-" : printable(r.method)) + " " +
                                                             (r.path.empty() ? "-" : printable(r.path));
  if (!r.peer.empty())
    out += " from " + std::string(r.peer);
  return out;
}

/// Set while a store outage has had its one refusal line; the store's own
/// lines (outage begins, store back) clear it.
std::atomic<bool> outage_logged{false};

/// Holds back refusal lines beyond a few per reason and client, when set.
std::atomic<LineLimiter*> refusal_limits{nullptr};

} // namespace

void log_rejection(const topgg::Rejection& r) {
  const std::string detail(r.detail.empty() ? topgg::describe(r.error) : r.detail);
  switch (r.error) {
  case topgg::Error::handler_retry: return; // only --exec asks for retries, and it has said why on its own line
  case topgg::Error::store_unavailable:
    if (outage_logged.exchange(true))
      return;
    log_line("refused " + std::to_string(r.status) + " " + request_words(r) + ": " + detail +
             " (more such refusals are not logged until the store's next line)");
    return;
  default: break;
  }
  const std::string status = r.status ? std::to_string(r.status) : "(unanswered)";
  const std::string words = request_words(r);
  if (LineLimiter* limits = refusal_limits.load()) {
    // The client, whatever its port: each connection has a new one.
    const std::string peer(r.peer.substr(0, r.peer.rfind(':')));
    topgg::Rejection same = r;
    same.peer = peer;
    if (!limits->allow(std::to_string(static_cast<int>(r.error)), peer, "refused " + status + " " + request_words(same),
                       LineLimiter::Clock::now()))
      return;
  }
  log_line("refused " + status + " " + words + ": " + detail);
}

void limit_refusal_lines(LineLimiter* limits) { refusal_limits = limits; }

void log_duplicate(const topgg::Rejection& r) {
  log_line("info: " + request_words(r) + ": a retry of a delivery already handled: answered " +
           std::to_string(r.status) + ", no second line");
}

void log_store_line(std::string_view what) {
  outage_logged = false; // an outage begins or ends: its refusals get one line again
  log_line("de-duplication store: " + std::string(what));
}

} // namespace tool
