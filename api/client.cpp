// The HTTP side: libcurl, pacing, retries, cancellation. One easy handle per Client, driven by a
// private multi handle so that cancel() can wake a transfer at once (curl_multi_wakeup) instead of
// waiting for the next progress callback; from the caller's side every call still blocks.
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include "decode.hpp"
#include "topgg/api.hpp"
#include "topgg/version.hpp"

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

namespace {

std::once_flag curl_once;
CURLcode curl_init_result = CURLE_FAILED_INIT;

Error make_error(ErrorKind kind, std::string message, int status = 0) {
  Error e;
  e.kind = kind;
  e.http_status = status;
  e.message = std::move(message);
  return e;
}

bool is_header_safe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i])
      return false;
  }
  return true;
}

/// At most `max` bytes of an answer body, control bytes and non-ASCII shown as '?', for messages.
std::string snippet(std::string_view body, std::size_t max = 200) {
  std::string out;
  for (char c : body.substr(0, max))
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (body.size() > max)
    out += "...";
  return out;
}

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

struct Attempt {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::optional<std::chrono::seconds> retry_after;
  bool cancelled = false;
  bool too_large = false;
};

} // namespace

struct Client::Impl {
  Options opt;
  std::string votes_url;   ///< base + "/projects/@me/votes"
  std::string project_url; ///< base + "/projects/@me"
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr;
  char curl_error[CURL_ERROR_SIZE] = {};

  std::recursive_mutex call_mutex; // recursive: a for_each_vote callback may call the client
  std::mutex wait_mutex;
  std::condition_variable wait_cv;
  std::atomic<bool> cancel_flag{false};
  std::optional<std::chrono::steady_clock::time_point> last_start;

  simdjson::dom::parser parser;
  std::string body;
  std::string retry_after_header;
  bool body_too_large = false;

  ~Impl() {
    for (curl_slist* h = headers; h; h = h->next)
      OPENSSL_cleanse(h->data, std::strlen(h->data));
    OPENSSL_cleanse(opt.token.data(), opt.token.size());
    if (multi && easy)
      curl_multi_remove_handle(multi, easy);
    if (easy)
      curl_easy_cleanup(easy);
    if (multi)
      curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
  }

  /// Never lets the token through, even if a server or libcurl echoed it.
  std::string scrub(std::string message) const {
    if (opt.token.empty())
      return message;
    for (auto at = message.find(opt.token); at != std::string::npos; at = message.find(opt.token, at))
      message.replace(at, opt.token.size(), "<token>");
    return message;
  }

  Error fail(ErrorKind kind, std::string message, int status = 0) const {
    return make_error(kind, scrub(std::move(message)), status);
  }

  Error cancelled_error() const { return make_error(ErrorKind::cancelled, "cancelled"); }

  /// Sleeps until `t`; false if cancelled first.
  bool sleep_until(std::chrono::steady_clock::time_point t) {
    std::unique_lock lock(wait_mutex);
    return !wait_cv.wait_until(lock, t, [this] { return cancel_flag.load(); });
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* self) {
    auto* impl = static_cast<Impl*>(self);
    const std::size_t len = size * n;
    if (impl->body.size() + len > impl->opt.max_response_bytes) {
      impl->body_too_large = true;
      return 0; // CURLE_WRITE_ERROR
    }
    impl->body.append(data, len);
    return len;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self) {
    auto* impl = static_cast<Impl*>(self);
    const std::size_t len = size * n;
    const std::string_view line(data, len);
    if (starts_with_nocase(line, "http/"))
      impl->retry_after_header.clear(); // a new response (after 100 Continue): forget the last one's
    else if (starts_with_nocase(line, "retry-after:"))
      impl->retry_after_header.assign(line.substr(12));
    return len;
  }

  Attempt perform(const std::string& url) {
    Attempt a;
    body.clear();
    retry_after_header.clear();
    body_too_large = false;
    curl_error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_multi_add_handle(multi, easy);
    bool done = false;
    while (!done) {
      int running = 0;
      if (curl_multi_perform(multi, &running) != CURLM_OK) {
        a.code = CURLE_FAILED_INIT;
        break;
      }
      int left = 0;
      while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
          a.code = m->data.result;
          done = true;
        }
      }
      if (done)
        break;
      if (cancel_flag.load()) {
        a.cancelled = true;
        break;
      }
      // Returns early on socket activity, on libcurl's own timers (CURLOPT_TIMEOUT_MS among them)
      // and on curl_multi_wakeup() from cancel().
      if (curl_multi_poll(multi, nullptr, 0, 1000, nullptr) != CURLM_OK) {
        a.code = CURLE_FAILED_INIT;
        break;
      }
    }
    curl_multi_remove_handle(multi, easy); // aborts the transfer if it is still running
    if (!a.cancelled && a.code == CURLE_OK) {
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &a.status);
      a.retry_after = parse_retry_after(retry_after_header, std::chrono::system_clock::now());
    }
    a.too_large = body_too_large;
    return a;
  }

  /// GET `url` (display name `what`), with pacing and retries. On success the 2xx body is in `body`.
  std::optional<Error> get(const std::string& url, std::string_view what) {
    auto backoff = opt.backoff;
    const std::string label = "GET " + std::string(what);
    for (unsigned attempt = 0;; ++attempt) {
      if (cancel_flag.load())
        return cancelled_error();
      if (last_start && !sleep_until(*last_start + opt.min_interval))
        return cancelled_error();
      last_start = std::chrono::steady_clock::now();
      const Attempt a = perform(url);
      if (a.cancelled)
        return cancelled_error();

      Error e;
      std::chrono::milliseconds wait = backoff;
      bool retry = false, used_backoff = true;
      const int status = static_cast<int>(a.status);
      const std::string tries = attempt ? " (after " + std::to_string(attempt + 1) + " attempts)" : "";
      if (a.code != CURLE_OK) {
        const ErrorKind kind = a.too_large ? ErrorKind::bad_response : transport_kind(a.code);
        std::string detail = a.too_large ? "answer larger than " + std::to_string(opt.max_response_bytes) + " bytes"
                                         : std::string(curl_easy_strerror(a.code));
        if (!a.too_large && curl_error[0])
          detail += std::string(" (") + curl_error + ")";
        e = fail(kind, label + ": " + detail + tries);
        retry = kind == ErrorKind::network || kind == ErrorKind::timeout;
      } else if (status >= 200 && status < 300) {
        body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
        return std::nullopt;
      } else if (status == 429) {
        e = fail(ErrorKind::rate_limited, label + ": HTTP 429 Too Many Requests" + tries, status);
        if (a.retry_after) {
          e.retry_after = *a.retry_after;
          if (*a.retry_after > opt.max_retry_after) {
            e.message = label + ": HTTP 429, Retry-After " + std::to_string(a.retry_after->count()) +
                        " s is longer than the " + std::to_string(opt.max_retry_after.count()) + " s allowed to wait";
            return e;
          }
          wait = *a.retry_after;
          used_backoff = false;
        }
        retry = true;
      } else if (status >= 500) {
        e = fail(ErrorKind::server, label + ": HTTP " + std::to_string(status) + tries, status);
        if (a.retry_after && *a.retry_after <= opt.max_retry_after) { // e.g. 503 during maintenance
          wait = std::max<std::chrono::milliseconds>(*a.retry_after, opt.min_interval);
          used_backoff = false;
        }
        retry = true;
      } else if (status == 401 || status == 403) {
        return fail(ErrorKind::unauthorized, label + ": HTTP " + std::to_string(status) + ": token refused", status);
      } else if (status == 404) {
        return fail(ErrorKind::not_found, label + ": HTTP 404 Not Found", status);
      } else if (status == 400 || status == 422) {
        return fail(ErrorKind::invalid_argument, label + ": HTTP " + std::to_string(status) + ": " + snippet(body),
                    status);
      } else {
        return fail(ErrorKind::bad_response, label + ": unexpected HTTP " + std::to_string(status), status);
      }
      if (!retry || attempt >= opt.max_retries)
        return e;
      if (!sleep_until(std::chrono::steady_clock::now() + wait))
        return cancelled_error();
      if (used_backoff)
        backoff = std::min(backoff * 2, opt.max_backoff);
    }
  }

  Result<VotesPage> page(const std::string& url) {
    if (auto e = get(url, "/projects/@me/votes"))
      return std::move(*e);
    VotesPage out;
    std::string why;
    if (!detail::decode_votes_page(parser, body, out, why))
      return fail(ErrorKind::bad_response, "GET /projects/@me/votes: " + why, 200);
    return out;
  }

  Result<VotesPage> page_since(v1::Timestamp since) {
    const auto oldest = std::chrono::system_clock::now() - std::chrono::days(365);
    if (since < oldest)
      return fail(ErrorKind::invalid_argument,
                  "startDate " + format_start_date(since) + " is more than one year back (Top.gg refuses it)");
    return page(votes_url + "?startDate=" + format_start_date(since));
  }

  Result<VotesPage> page_after(std::string_view cursor) {
    if (cursor.empty())
      return fail(ErrorKind::invalid_argument, "empty cursor");
    char* escaped = curl_easy_escape(easy, cursor.data(), static_cast<int>(cursor.size()));
    if (!escaped)
      return fail(ErrorKind::invalid_argument, "cursor cannot be URL-encoded");
    std::string url = votes_url + "?cursor=" + escaped;
    curl_free(escaped);
    return page(url);
  }
};

Client::Client(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::create(Options options) {
  std::call_once(curl_once, [] { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto refuse = [&options](std::string why) {
    OPENSSL_cleanse(options.token.data(), options.token.size());
    return make_error(ErrorKind::invalid_argument, std::move(why));
  };
  if (curl_init_result != CURLE_OK)
    return refuse("libcurl failed to initialise");
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (!info || !(info->features & CURL_VERSION_SSL))
    return refuse("libcurl was built without TLS");
  if (options.token.empty())
    return refuse("no API token");
  if (!is_header_safe(options.token))
    return refuse("the API token contains a space, control or non-ASCII byte");
  std::string base = options.base_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (!starts_with_nocase(base, "https://"))
    return refuse("the API base URL must start with https:// (got '" + snippet(base, 100) + "')");
  if (base.size() == 8 || !is_header_safe(base) || base.find_first_of("?#") != std::string::npos)
    return refuse("the API base URL must be https://host[:port][/path] without spaces, query or fragment");
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0)
    return refuse("cannot read the CA file '" + snippet(options.ca_file, 200) + "'");
  if (options.timeout <= std::chrono::milliseconds::zero() ||
      options.connect_timeout <= std::chrono::milliseconds::zero())
    return refuse("timeouts must be positive");
  if (options.min_interval < std::chrono::milliseconds::zero() || options.backoff < std::chrono::milliseconds::zero())
    return refuse("intervals must not be negative");
  if (options.max_backoff < options.backoff)
    options.max_backoff = options.backoff;
  if (options.user_agent.empty())
    options.user_agent = "topgg-webhook/" TOPGG_WEBHOOK_VERSION;
  if (!std::all_of(options.user_agent.begin(), options.user_agent.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
    return refuse("the user agent contains a control or non-ASCII byte");

  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->votes_url = base + "/projects/@me/votes";
  impl->project_url = base + "/projects/@me";
  impl->easy = curl_easy_init();
  impl->multi = curl_multi_init();
  if (!impl->easy || !impl->multi)
    return make_error(ErrorKind::invalid_argument, "libcurl could not create a handle");
  std::string auth = "Authorization: Bearer " + impl->opt.token;
  impl->headers = curl_slist_append(nullptr, auth.c_str());
  OPENSSL_cleanse(auth.data(), auth.size());
  if (impl->headers)
    impl->headers = curl_slist_append(impl->headers, "Accept: application/json");
  if (!impl->headers)
    return make_error(ErrorKind::invalid_argument, "out of memory");

  CURL* h = impl->easy;
  const Options& o = impl->opt;
#if LIBCURL_VERSION_NUM >= 0x075500 // 7.85 replaced the bitmask with a string and deprecated the former
  bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
#else
  bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTPS)) == CURLE_OK &&
#endif
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, impl->headers) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str()) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count())) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count())) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, impl->curl_error) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Impl::on_body) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_WRITEDATA, impl.get()) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Impl::on_header) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HEADERDATA, impl.get()) == CURLE_OK;
  if (ok && !o.ca_file.empty())
    ok = curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str()) == CURLE_OK;
  if (!ok)
    return make_error(ErrorKind::invalid_argument, "libcurl refused an option (https support missing?)");
  return Client(std::move(impl));
}

#define TOPGG_API_CALL_GUARD                                                                                           \
  if (!impl_)                                                                                                          \
    return make_error(ErrorKind::invalid_argument, "use of a moved-from Client");                                      \
  std::lock_guard call_lock(impl_->call_mutex);                                                                        \
  if (impl_->cancel_flag.load())                                                                                       \
    return impl_->cancelled_error();

Result<Project> Client::project() {
  TOPGG_API_CALL_GUARD
  if (auto e = impl_->get(impl_->project_url, "/projects/@me"))
    return std::move(*e);
  Project out;
  std::string why;
  if (!detail::decode_project(impl_->parser, impl_->body, out, why))
    return impl_->fail(ErrorKind::bad_response, "GET /projects/@me: " + why, 200);
  return out;
}

Result<VotesPage> Client::votes_page(v1::Timestamp since) {
  TOPGG_API_CALL_GUARD
  return impl_->page_since(since);
}

Result<VotesPage> Client::votes_page(std::string_view cursor) {
  TOPGG_API_CALL_GUARD
  return impl_->page_after(cursor);
}

Result<WalkStats> Client::for_each_vote(VotePosition& from, const VoteCallback& on_vote) {
  TOPGG_API_CALL_GUARD
  if (!on_vote)
    return make_error(ErrorKind::invalid_argument, "no vote callback");
  WalkStats stats;
  for (;;) {
    Result<VotesPage> page = from.cursor.empty() ? impl_->page_since(from.since) : impl_->page_after(from.cursor);
    if (!page)
      return page.error();
    ++stats.pages;
    if (page->records.empty()) {
      stats.complete = true;
      return stats;
    }
    for (const VoteRecord& r : page->records) {
      bool go = false;
      try {
        go = on_vote(r);
      } catch (const std::exception& ex) {
        return impl_->fail(ErrorKind::callback_failed, std::string("vote callback threw: ") + ex.what());
      } catch (...) {
        return impl_->fail(ErrorKind::callback_failed, "vote callback threw a non-std exception");
      }
      if (!go)
        return stats;
      from.last = r;
      ++stats.records;
    }
    // `from` keeps naming this page until the next cursor is known to be usable, so a bad page
    // end re-delivers it later rather than skipping what follows.
    if (page->cursor.empty())
      return impl_->fail(ErrorKind::bad_response, "GET /projects/@me/votes: a page of votes came without a cursor",
                         200);
    if (page->cursor == from.cursor)
      return impl_->fail(ErrorKind::bad_response, "GET /projects/@me/votes: the cursor did not move forward", 200);
    from.cursor = std::move(page->cursor);
  }
}

Result<VotePosition> Client::for_each_vote(v1::Timestamp since, const VoteCallback& on_vote) {
  VotePosition at = VotePosition::starting_at(since);
  Result<WalkStats> r = for_each_vote(at, on_vote);
  if (!r)
    return r.error();
  return at;
}

#undef TOPGG_API_CALL_GUARD

void Client::cancel() noexcept {
  if (!impl_)
    return;
  {
    std::lock_guard lock(impl_->wait_mutex);
    impl_->cancel_flag.store(true);
  }
  impl_->wait_cv.notify_all();
  curl_multi_wakeup(impl_->multi);
}

void Client::reset_cancel() noexcept {
  if (impl_)
    impl_->cancel_flag.store(false);
}

bool Client::cancelled() const noexcept { return impl_ && impl_->cancel_flag.load(); }

} // namespace topgg::api
