// Internal to the API library: one libcurl transfer at a time on a private multi handle, so that
// cancel() wakes it at once (curl_multi_wakeup) instead of waiting for the next progress callback;
// from the caller's side every transfer still blocks. Shared by the API client (Client::Impl
// derives from it) and the Discord poster.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace topgg::api::detail {

/// One transfer's outcome.
struct Attempt {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::optional<std::chrono::seconds> retry_after;
  bool cancelled = false;
  bool too_large = false;
};

/// How every transfer of one Transfer is made: https only, no redirects, peer verified.
struct TransferOptions {
  std::string ca_file; ///< "" → the system's CAs; else the only trust
  std::string user_agent;
  std::chrono::milliseconds timeout{30000}, connect_timeout{10000};
  std::size_t max_response_bytes = 16u << 20; ///< larger answers fail (Attempt::too_large)
};

struct __attribute__((visibility("hidden"))) Transfer {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  curl_slist* headers = nullptr; ///< request headers; cleansed when freed (they may hold a token)
  char curl_error[CURL_ERROR_SIZE] = {};
  std::size_t max_body = 16u << 20;

  std::mutex wait_mutex;
  std::condition_variable wait_cv;
  std::atomic<bool> cancel_flag{false};

  /// The last answer: its body, and its header fields (names lower case, values trimmed).
  std::string body;
  std::vector<std::pair<std::string, std::string>> answer_headers;
  bool body_too_large = false;

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer();
  /// Creates the handles and sets every option but the URL; false if libcurl refused one.
  bool open(const TransferOptions& o);
  /// The value of header `name` (lower case) in the last answer, or nullptr.
  const std::string* answer_header(std::string_view name) const;
  /// GET `url`, or POST `post` to it; blocks until answered, failed or cancelled.
  Attempt perform(const std::string& url, const std::string* post = nullptr);
  /// Sleeps until `t`; false if cancelled first.
  bool sleep_until(std::chrono::steady_clock::time_point t);
  /// Any thread: the transfer under way (and any sleep) ends at once, and every later one.
  void cancel() noexcept;

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self);
};

} // namespace topgg::api::detail
