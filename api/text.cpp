// The API's texts: error kind names, startDate, Retry-After, and the checks and snippets that
// keep header values and messages printable.
#include <algorithm>
#include <cstdio>

#include "client_impl.hpp"
#include "topgg/http.hpp"

namespace topgg::api {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::network: return "network";
  case ErrorKind::timeout: return "timeout";
  case ErrorKind::tls: return "tls";
  case ErrorKind::unauthorized: return "unauthorized";
  case ErrorKind::not_found: return "not_found";
  case ErrorKind::rate_limited: return "rate_limited";
  case ErrorKind::server: return "server";
  case ErrorKind::bad_response: return "bad_response";
  case ErrorKind::invalid_argument: return "invalid_argument";
  case ErrorKind::cancelled: return "cancelled";
  case ErrorKind::callback_failed: return "callback_failed";
  }
  return "unknown";
}

std::string format_start_date(v1::Timestamp t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count()));
  return buf;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() &&
         (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' || value.back() == '\n'))
    value.remove_suffix(1);
  if (value.empty())
    return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t n = 0;
    for (char c : value) {
      n = n * 10 + (c - '0');
      if (n > 1'000'000'000) // beyond any sane wait; also keeps the arithmetic in range
        return std::chrono::seconds(1'000'000'000);
    }
    return std::chrono::seconds(n);
  }
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when == -1)
    return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(when) - now;
  if (delta <= std::chrono::system_clock::duration::zero())
    return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(delta);
}

namespace detail {

bool is_header_safe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && topgg::iequals(s.substr(0, prefix.size()), prefix);
}

std::string snippet(std::string_view body, std::size_t max) {
  std::string out;
  for (char c : body.substr(0, max))
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (body.size() > max)
    out += "...";
  return out;
}

} // namespace detail

} // namespace topgg::api
