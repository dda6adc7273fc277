// The HTTP side: libcurl (see transfer.hpp).
#include <openssl/crypto.h>

#include <cstring>

#include "client_impl.hpp"

namespace topgg::api {

using detail::starts_with_nocase;

namespace detail {

Transfer::~Transfer() {
  for (curl_slist* h = headers; h; h = h->next)
    OPENSSL_cleanse(h->data, std::strlen(h->data));
  if (multi && easy)
    curl_multi_remove_handle(multi, easy);
  if (easy)
    curl_easy_cleanup(easy);
  if (multi)
    curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
}

bool Transfer::open(const TransferOptions& o) {
  easy = curl_easy_init();
  multi = curl_multi_init();
  if (!easy || !multi)
    return false;
  max_body = o.max_response_bytes;
  CURL* h = easy;
#if LIBCURL_VERSION_NUM >= 0x075500 // 7.85 replaced the bitmask with a string and deprecated the former
  bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
#else
  bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTPS)) == CURLE_OK &&
#endif
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str()) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count())) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count())) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Transfer::on_body) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_WRITEDATA, this) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &Transfer::on_header) == CURLE_OK &&
            curl_easy_setopt(h, CURLOPT_HEADERDATA, this) == CURLE_OK;
  if (ok && !o.ca_file.empty()) {
    // The file is the only trust. CAINFO alone replaces libcurl's default bundle, but its default CA
    // directory (CAPATH, /etc/ssl/certs on Debian) is still searched: cleared (a TLS backend without
    // CA directories has none to clear). Nothing else adds trust then: the CA cache is this Client's
    // (its own multi handle) and keyed by this file; native CAs are off unless CURLSSLOPT_NATIVE_CA
    // is set; $SSL_CERT_FILE/$SSL_CERT_DIR are read by the curl program, not by libcurl, whose
    // OpenSSL default paths (--with-ca-fallback, not in Debian's build) apply only without CAINFO.
    const CURLcode no_dir = curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);
    ok = curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str()) == CURLE_OK &&
         (no_dir == CURLE_OK || no_dir == CURLE_NOT_BUILT_IN);
  }
  return ok;
}

bool Transfer::sleep_until(std::chrono::steady_clock::time_point t) {
  std::unique_lock lock(wait_mutex);
  return !wait_cv.wait_until(lock, t, [this] { return cancel_flag.load(); });
}

void Transfer::cancel() noexcept {
  {
    std::lock_guard lock(wait_mutex);
    cancel_flag.store(true);
  }
  wait_cv.notify_all();
  if (multi)
    curl_multi_wakeup(multi);
}

const std::string* Transfer::answer_header(std::string_view name) const {
  for (const auto& [n, v] : answer_headers)
    if (n == name)
      return &v;
  return nullptr;
}

std::size_t Transfer::on_body(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t len = size * n;
  if (t->body.size() + len > t->max_body) {
    t->body_too_large = true;
    return 0; // CURLE_WRITE_ERROR
  }
  t->body.append(data, len);
  return len;
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<Transfer*>(self);
  const std::size_t len = size * n;
  std::string_view line(data, len);
  if (starts_with_nocase(line, "http/")) {
    t->answer_headers.clear(); // a new response (after 100 Continue): forget the last one's
    return len;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || t->answer_headers.size() >= 100)
    return len;
  std::string name(line.substr(0, colon));
  for (char& c : name)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
    value.remove_prefix(1);
  while (!value.empty() &&
         (value.back() == ' ' || value.back() == '\t' || value.back() == '\r' || value.back() == '\n'))
    value.remove_suffix(1);
  t->answer_headers.emplace_back(std::move(name), std::string(value));
  return len;
}

Attempt Transfer::perform(const std::string& url, const std::string* post) {
  Attempt a;
  body.clear();
  answer_headers.clear();
  body_too_large = false;
  curl_error[0] = '\0';
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  if (post) {
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(post->size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, post->c_str());
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  }
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
    if (const std::string* v = answer_header("retry-after"))
      a.retry_after = parse_retry_after(*v, std::chrono::system_clock::now());
  }
  a.too_large = body_too_large;
  return a;
}

} // namespace detail

} // namespace topgg::api
