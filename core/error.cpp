#include "topgg/error.hpp"

#include <array>

namespace topgg {

namespace {

struct ErrorInfo {
  int status;
  bool closes;
  std::string_view text;
};

// Indexed by Error: adding an error is one enumerator and one row here.
constexpr std::array<ErrorInfo, 25> errors{{
    {200, false, "ok"},
    {400, true, "malformed HTTP request"},
    {400, true, "HTTP/1.1 request needs exactly one Host header"},
    {404, false, "no route for this path"},
    {405, false, "method not allowed on this route"},
    {401, false, "Authorization header missing or wrong"},
    {413, true, "request body over the limit"},
    {431, true, "request header section over the limit"},
    {408, true, "request not received in time"},
    {417, true, "only Expect: 100-continue is supported"},
    {505, true, "only HTTP/1.0 and HTTP/1.1 are supported"},
    {400, false, "body is not valid JSON"},
    {400, false, "body is not a valid delivery"},
    {500, false, "handler failed"},
    {503, false, "handler asked for a retry"},
    {503, false, "handler did not acknowledge in time"},
    {401, false, "x-topgg-signature header missing"},
    {422, false, "x-topgg-signature header malformed"},
    {403, false, "signature does not match"},
    {403, false, "signature timestamp outside the allowed window"},
    {503, false, "the same delivery is being handled now"},
    {503, false, "idempotency store unavailable"},
    {200, false, "already handled (a retry): answered without a second event"},
    {503, false, "no handler for this kind of vote"},
    {403, false, "the delivery is for another bot, server or project than this route serves"},
}};
static_assert(errors.size() == static_cast<std::size_t>(Error::wrong_target) + 1, "one row per Error");

const ErrorInfo& info(Error e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < errors.size() ? errors[i] : errors[static_cast<std::size_t>(Error::handler_failed)];
}

} // namespace

int http_status(Error e) noexcept { return info(e).status; }
bool closes_connection(Error e) noexcept { return info(e).closes; }
std::string_view describe(Error e) noexcept { return info(e).text; }

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
