// Request and response types of custom routes, and the time the core is given.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace topgg {

using Clock = std::chrono::steady_clock;

/// The core never reads a clock: every call that may depend on time takes a
/// Now. `mono` drives timeouts, `wall` (Unix time) the v1 replay window.
struct Now {
  Clock::time_point mono{};
  std::chrono::system_clock::time_point wall{};
  static Now current() noexcept { return {Clock::now(), std::chrono::system_clock::now()}; }
};

struct Header {
  std::string_view name;
  std::string_view value;
};

/// A complete request as a custom route's handler sees it. Every view points
/// into the connection's buffers and is valid only during the handler call.
struct TOPGG_API Request {
  std::string_view method;
  std::string_view target; ///< as sent, with the query string
  std::string_view path;   ///< target without "?query" / "#fragment"
  std::span<const Header> headers;
  std::string_view body;

  /// Value of the first header named `name` (ASCII case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const noexcept;
};

/// What a handler answers. Content-Length and Connection are added by the core.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// The path a request target routes on: without "?query" and "#fragment",
/// and for an absolute-form target ("http://host/dbl", RFC 9112 §3.2.2)
/// without scheme and authority ("/" when it has no path). A view into `target`.
TOPGG_API std::string_view path_of(std::string_view target) noexcept;

/// ASCII case-insensitive equality, for header names and tokens.
TOPGG_API bool iequals(std::string_view a, std::string_view b) noexcept;

} // namespace topgg
