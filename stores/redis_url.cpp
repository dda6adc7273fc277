// RedisOptions::from_url: redis://[[username]:password@]host[:port][/db].
#include "topgg/redis_store.hpp"

#include <charconv>
#include <climits>
#include <stdexcept>
#include <string>

#include "../core/bytes.hpp" // header-only: hex_value, shared with the core's parsers

namespace topgg {

namespace {

using detail::hex_value;

[[noreturn]] void bad_url(const std::string& why) { throw std::invalid_argument("redis URL: " + why); }

std::string percent_decoded(std::string_view s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      bad_url(std::string("bad percent escape in the ") + what);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <class T> T number(std::string_view s, T lo, T hi, const char* what) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
    bad_url(std::string(what) + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

} // namespace

RedisOptions RedisOptions::from_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.size() < scheme.size() || url.substr(0, scheme.size()) != scheme)
    bad_url("must start with redis:// (rediss:// and unix sockets are not supported)");
  std::string_view rest = url.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    bad_url("query strings and fragments are not supported");
  RedisOptions o;
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty())
      o.db = number<int>(db, 0, INT_MAX, "the database (after /)");
  }
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      bad_url("credentials must be written [username]:password@");
    o.username = percent_decoded(userinfo.substr(0, colon), "username");
    o.password = percent_decoded(userinfo.substr(colon + 1), "password");
    authority = authority.substr(at + 1);
  }
  std::string_view after;                               // ":port" or nothing
  if (!authority.empty() && authority.front() == '[') { // [IPv6 address]
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      bad_url("unclosed [ in the host");
    o.host = std::string(authority.substr(1, close - 1));
    after = authority.substr(close + 1);
  } else {
    const std::size_t colon = authority.find(':');
    o.host = std::string(authority.substr(0, colon));
    after = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (o.host.empty())
    bad_url("no host");
  if (!after.empty()) {
    if (after.front() != ':')
      bad_url("unexpected text after the host");
    o.port = number<std::uint16_t>(after.substr(1), 1, 65535, "the port");
  }
  return o;
}

} // namespace topgg
