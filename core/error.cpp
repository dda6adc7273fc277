#include "topgg/error.hpp"

namespace topgg {

int http_status(Error e) noexcept {
  switch (e) {
  case Error::ok: return 200;
  case Error::malformed_http:
  case Error::bad_host:
  case Error::invalid_json:
  case Error::invalid_payload: return 400;
  case Error::unauthorized:
  case Error::signature_missing: return 401;
  case Error::signature_mismatch:
  case Error::timestamp_out_of_window: return 403;
  case Error::not_found: return 404;
  case Error::method_not_allowed: return 405;
  case Error::request_timeout: return 408;
  case Error::payload_too_large: return 413;
  case Error::expectation_failed: return 417;
  case Error::signature_malformed: return 422;
  case Error::headers_too_large: return 431;
  case Error::handler_failed: return 500;
  case Error::handler_retry:
  case Error::ack_timeout:
  case Error::shutting_down: return 503;
  case Error::version_not_supported: return 505;
  }
  return 500;
}

std::string_view describe(Error e) noexcept {
  switch (e) {
  case Error::ok: return "ok";
  case Error::malformed_http: return "malformed HTTP request";
  case Error::bad_host: return "HTTP/1.1 request needs exactly one Host header";
  case Error::not_found: return "no route for this path";
  case Error::method_not_allowed: return "method not allowed on this route";
  case Error::unauthorized: return "Authorization header missing or wrong";
  case Error::payload_too_large: return "request body over the limit";
  case Error::headers_too_large: return "request header section over the limit";
  case Error::request_timeout: return "request not received in time";
  case Error::expectation_failed: return "only Expect: 100-continue is supported";
  case Error::version_not_supported: return "only HTTP/1.0 and HTTP/1.1 are supported";
  case Error::invalid_json: return "body is not valid JSON";
  case Error::invalid_payload: return "body is not a valid delivery";
  case Error::handler_failed: return "handler failed";
  case Error::handler_retry: return "handler asked for a retry";
  case Error::ack_timeout: return "handler did not acknowledge in time";
  case Error::shutting_down: return "server is shutting down";
  case Error::signature_missing: return "x-topgg-signature header missing";
  case Error::signature_malformed: return "x-topgg-signature header malformed";
  case Error::signature_mismatch: return "signature does not match";
  case Error::timestamp_out_of_window: return "signature timestamp outside the allowed window";
  }
  return "unknown error";
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 413: return "Content Too Large";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

} // namespace topgg
