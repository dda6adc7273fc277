// Why a request was refused or failed: one error enum, one table of what each
// one is answered with (status, whether the connection closes, a text).
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <string_view>

namespace topgg {

/// Why a request was refused or failed: each value is answered with the status
/// http_status() gives, and told to the error hook in a Rejection.
enum class Error : std::uint8_t {
  ok = 0,
  malformed_http,          ///< 400, connection closed: the bytes are not HTTP/1.x
  bad_host,                ///< 400, connection closed: missing or repeated Host
  not_found,               ///< 404: no route for the path
  method_not_allowed,      ///< 405 with Allow: route exists, method does not
  unauthorized,            ///< 401: Authorization missing, repeated or wrong
  payload_too_large,       ///< 413, connection closed
  headers_too_large,       ///< 431, connection closed (bytes or field count, trailers included)
  request_timeout,         ///< 408, connection closed
  expectation_failed,      ///< 417, connection closed: Expect other than 100-continue
  version_not_supported,   ///< 505, connection closed
  invalid_json,            ///< 400 (legacy) / 204 (v1): body is not one JSON document
  invalid_payload,         ///< 400 (legacy) / 204 (v1): JSON of the wrong shape
  handler_failed,          ///< 500: the user's handler (or resolver, or executor) threw
  handler_retry,           ///< 503: the handler asked Top.gg to deliver again
  ack_timeout,             ///< 503: acknowledgement not completed in time
  signature_missing,       ///< 401: v1 route without x-topgg-signature (or with an empty one)
  signature_malformed,     ///< 422: x-topgg-signature unparseable
  signature_mismatch,      ///< 403: no v1 signature matches
  timestamp_out_of_window, ///< 403: t= outside the replay window
  duplicate_in_progress,   ///< 503: the same delivery is being handled right now (Top.gg retries)
  store_unavailable,       ///< 503: the idempotency store cannot be asked (fail closed; Top.gg retries)
  duplicate,               ///< not an error: a retry of a handled delivery, answered success (200/204), no event
  no_handler,              ///< 503: a vote for which no handler is set (a vote is never acknowledged unseen)
  wrong_target,            ///< 403: the payload names another bot, server or project than the route serves (only_for)
};

/// HTTP status answered for `e` (200 for Error::ok).
TOPGG_API int http_status(Error e) noexcept;

/// True if answering `e` always closes the connection (the framing of what
/// follows cannot be trusted, or the peer took too long): what a server that
/// calls Router::handle itself should do too. A Connection also closes after
/// any refusal it answers before reading the body (401, 404, 405 at the head,
/// or under `Expect: 100-continue`): the unread body is never skipped.
TOPGG_API bool closes_connection(Error e) noexcept;

/// Short English description of `e`; static storage, never empty. It is
/// also the body of the answer, so it never carries request data.
TOPGG_API std::string_view describe(Error e) noexcept;

/// Standard reason phrase for an HTTP status ("OK", "Not Found", …); static storage.
TOPGG_API std::string_view reason_phrase(int status) noexcept;

/// A request refused or failed, as told to the error hook. Views are valid
/// during the hook call only.
struct Rejection {
  Error error;                  ///< why, as one value
  int status;                   ///< what was answered (0 if nothing could be)
  std::string_view path;        ///< request path, when known
  std::string_view detail;      ///< why, in more words than describe(error); may name a field, never a secret
  std::string_view method = {}; ///< request method, when known
  std::string_view peer = {};   ///< the client's address ("203.0.113.7:51234"), when the adapter knows it
  /// The request's `X-Forwarded-For` value when it carried exactly one such
  /// header ("" otherwise). Anyone can send it: it names the client only when
  /// `peer` is a proxy of yours (a proxy appends the address it saw, so the
  /// last address not of your proxies is the client's). Never authenticates.
  std::string_view forwarded_for = {};
  /// The request's `Forwarded` value (RFC 7239: `for=…;proto=…, for=…`) when it
  /// carried exactly one; as forwarded_for.
  std::string_view forwarded = {};
  /// A v1 delivery's `x-topgg-trace` value (what Top.gg's support asks for), when known.
  std::string_view trace = {};
};

} // namespace topgg
