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
  Clock::time_point mono{};                     ///< monotonic time: deadlines and timeouts
  std::chrono::system_clock::time_point wall{}; ///< Unix time: the v1 signature's replay window
  /// Both clocks read now (what adapters and Router::handle callers pass).
  static Now current() noexcept { return {Clock::now(), std::chrono::system_clock::now()}; }
};

/// One header field of a Request, as views into the request's buffers.
struct Header {
  std::string_view name;  ///< as sent (compare with iequals())
  std::string_view value; ///< without surrounding whitespace
};

/// A complete request as a custom route's handler sees it. Every view points
/// into the connection's buffers and is valid only during the handler call.
struct TOPGG_API Request {
  std::string_view method; ///< "GET", "POST", …
  std::string_view target; ///< as sent, with the query string
  std::string_view path;   ///< target without "?query" / "#fragment"
  std::span<const Header> headers; ///< in the order sent, repeats included
  std::string_view body;           ///< the whole body, de-chunked

  /// Value of the first header named `name` (ASCII case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const noexcept;
};

/// What a handler answers. Content-Length and Connection are added by the core.
struct Response {
  int status = 200; ///< any status; the reason phrase is the standard one
  std::vector<std::pair<std::string, std::string>> headers; ///< extra fields (Content-Type, …)
  std::string body;                                         ///< not sent for HEAD, 1xx, 204, 304
};

/// The path a request target routes on: without "?query" and "#fragment",
/// and for an absolute-form target ("http://host/dbl", RFC 9112 §3.2.2)
/// without scheme and authority ("/" when it has no path). A view into `target`.
TOPGG_API std::string_view path_of(std::string_view target) noexcept;

/// ASCII case-insensitive equality, for header names and tokens.
TOPGG_API bool iequals(std::string_view a, std::string_view b) noexcept;

/// True if `given` equals `secret`, compared in constant time (OpenSSL's
/// CRYPTO_memcmp, as the routes' keys are): how long it takes depends on the
/// two sizes only, never on how much of `given` is right. For custom routes
/// that check a key of their own.
TOPGG_API bool secret_equals(std::string_view given, std::string_view secret);

} // namespace topgg
