// A GET as the client makes it: paced (min_interval), retried on network errors, timeouts, 429 and
// 5xx (Retry-After or backoff), and told in messages that never show the token; and the API's
// pages asked for with it.
#include <algorithm>

#include "client_impl.hpp"

namespace topgg::api {

std::atomic<void (*)(std::chrono::steady_clock::time_point)> detail::attempt_started{nullptr};

using detail::Attempt;
using detail::make_error;
using detail::Outcome;
using detail::snippet;

namespace {

ErrorKind transport_kind(CURLcode code) {
  switch (code) {
  case CURLE_OPERATION_TIMEDOUT: return ErrorKind::timeout;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT: return ErrorKind::tls;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT: return ErrorKind::invalid_argument;
  case CURLE_BAD_CONTENT_ENCODING: return ErrorKind::bad_response;
  default: return ErrorKind::network;
  }
}

} // namespace

/// Never lets the token through, even if a server or libcurl echoed it.
std::string Client::Impl::scrub(std::string message) const {
  if (opt.token.empty())
    return message;
  for (auto at = message.find(opt.token); at != std::string::npos; at = message.find(opt.token, at))
    message.replace(at, opt.token.size(), "<token>");
  return message;
}

Error Client::Impl::fail(ErrorKind kind, std::string message, int status) const {
  return make_error(kind, scrub(std::move(message)), status);
}

/// GET `url` (display name `what`), with pacing and retries. On success the 2xx body is in `body`.
std::optional<Error> Client::Impl::get(const std::string& url, std::string_view what) {
  auto backoff = opt.backoff;
  const std::string label = "GET " + std::string(what);
  for (unsigned attempt = 0;; ++attempt) {
    if (cancel_flag.load())
      return cancelled_error();
    if (last_start && !sleep_until(*last_start + opt.min_interval))
      return cancelled_error();
    last_start = std::chrono::steady_clock::now();
    if (auto observe = detail::attempt_started.load(std::memory_order_relaxed))
      observe(*last_start);
    const Attempt a = perform(url);
    if (a.cancelled)
      return cancelled_error();

    const std::string tries = attempt ? " (after " + std::to_string(attempt + 1) + " attempts)" : "";
    Outcome o = judge(a, label, tries, backoff);
    if (!o.error) {
      body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
      return std::nullopt;
    }
    if (!o.retry || attempt >= opt.max_retries)
      return std::move(o.error);
    if (!sleep_until(std::chrono::steady_clock::now() + o.wait))
      return cancelled_error();
    if (o.used_backoff)
      backoff = std::min(backoff * 2, opt.max_backoff);
  }
}

/// What an attempt's answer (or failure) means: success, a final error, or one worth retrying.
Client::Impl::Outcome Client::Impl::judge(const Attempt& a, const std::string& label, const std::string& tries,
                                          std::chrono::milliseconds backoff) const {
  Outcome o;
  o.wait = backoff;
  const int status = static_cast<int>(a.status);
  if (a.code != CURLE_OK) {
    const ErrorKind kind = a.too_large ? ErrorKind::bad_response : transport_kind(a.code);
    std::string detail = a.too_large ? "answer larger than " + std::to_string(opt.max_response_bytes) + " bytes"
                                     : std::string(curl_easy_strerror(a.code));
    if (!a.too_large && curl_error[0])
      detail += std::string(" (") + curl_error + ")";
    o.error = fail(kind, label + ": " + detail + tries);
    o.retry = kind == ErrorKind::network || kind == ErrorKind::timeout;
  } else if (status >= 200 && status < 300) {
    return o;
  } else if (status == 429) {
    Error& e = o.error.emplace(fail(ErrorKind::rate_limited, label + ": HTTP 429 Too Many Requests" + tries, status));
    if (a.retry_after) {
      e.retry_after = *a.retry_after;
      if (*a.retry_after > opt.max_retry_after) {
        e.message = label + ": HTTP 429, Retry-After " + std::to_string(a.retry_after->count()) +
                    " s is longer than the " + std::to_string(opt.max_retry_after.count()) + " s allowed to wait";
        return o;
      }
      o.wait = *a.retry_after;
      o.used_backoff = false;
    }
    o.retry = true;
  } else if (status >= 500) {
    o.error = fail(ErrorKind::server, label + ": HTTP " + std::to_string(status) + tries, status);
    if (a.retry_after && *a.retry_after <= opt.max_retry_after) { // e.g. 503 during maintenance
      o.wait = std::max<std::chrono::milliseconds>(*a.retry_after, opt.min_interval);
      o.used_backoff = false;
    }
    o.retry = true;
  } else if (status == 401 || status == 403) {
    o.error = fail(ErrorKind::unauthorized, label + ": HTTP " + std::to_string(status) + ": token refused", status);
  } else if (status == 404) {
    o.error = fail(ErrorKind::not_found, label + ": HTTP 404 Not Found", status);
  } else if (status == 400 || status == 422) {
    o.error =
        fail(ErrorKind::invalid_argument, label + ": HTTP " + std::to_string(status) + ": " + snippet(body), status);
  } else {
    o.error = fail(ErrorKind::bad_response, label + ": unexpected HTTP " + std::to_string(status), status);
  }
  return o;
}

Result<VotesPage> Client::Impl::page(const std::string& url) {
  if (auto e = get(url, "/projects/@me/votes"))
    return std::move(*e);
  VotesPage out;
  std::string why;
  if (!detail::decode_votes_page(parser, body, out, why))
    return fail(ErrorKind::bad_response, "GET /projects/@me/votes: " + why, 200);
  return out;
}

Result<VotesPage> Client::Impl::page_since(v1::Timestamp since) {
  const auto oldest = std::chrono::system_clock::now() - std::chrono::days(365);
  if (since < oldest)
    return fail(ErrorKind::invalid_argument,
                "startDate " + format_start_date(since) + " is more than one year back (Top.gg refuses it)");
  return page(votes_url + "?startDate=" + format_start_date(since));
}

Result<VotesPage> Client::Impl::page_after(std::string_view cursor) {
  if (cursor.empty())
    return fail(ErrorKind::invalid_argument, "empty cursor");
  char* escaped = curl_easy_escape(easy, cursor.data(), static_cast<int>(cursor.size()));
  if (!escaped)
    return fail(ErrorKind::invalid_argument, "cursor cannot be URL-encoded");
  std::string url = votes_url + "?cursor=" + escaped;
  curl_free(escaped);
  return page(url);
}

} // namespace topgg::api
