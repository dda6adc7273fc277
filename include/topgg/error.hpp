// Why a request was refused, and the HTTP status it is answered with.
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <string_view>

namespace topgg {

enum class Error : std::uint8_t {
  ok = 0,
  malformed_http,          ///< 400, connection closed: the bytes are not HTTP/1.x
  bad_host,                ///< 400, connection closed: missing or repeated Host
  not_found,               ///< 404: no route for the path
  method_not_allowed,      ///< 405: route exists, method does not
  unauthorized,            ///< 401: Authorization missing or wrong
  payload_too_large,       ///< 413, connection closed
  headers_too_large,       ///< 431, connection closed (bytes or field count)
  request_timeout,         ///< 408, connection closed
  expectation_failed,      ///< 417, connection closed: Expect other than 100-continue
  version_not_supported,   ///< 505, connection closed
  invalid_json,            ///< 400 (legacy) / 204 (v1): body is not one JSON document
  invalid_payload,         ///< 400 (legacy) / 204 (v1): JSON of the wrong shape
  handler_failed,          ///< 500: the user's handler threw
  handler_retry,           ///< 503: the handler asked Top.gg to deliver again
  ack_timeout,             ///< 503: acknowledgement not completed in time
  shutting_down,           ///< 503: the server is closing
  signature_missing,       ///< 401: v1 route without x-topgg-signature
  signature_malformed,     ///< 422: x-topgg-signature unparseable
  signature_mismatch,      ///< 403: no v1 signature matches
  timestamp_out_of_window, ///< 403: t= outside the replay window
};

/// HTTP status answered for `e` (200 for Error::ok).
TOPGG_API int http_status(Error e) noexcept;

/// Short English description of `e`; static storage, never empty.
TOPGG_API std::string_view describe(Error e) noexcept;

/// Standard reason phrase for an HTTP status ("OK", "Not Found", …); static storage.
TOPGG_API std::string_view reason_phrase(int status) noexcept;

} // namespace topgg
