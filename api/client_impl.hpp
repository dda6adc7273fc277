// Internal to the API client: what its files share. Its parts, each in its own file: client.cpp
// (the public class: options checked, calls serialised, the walk over pages), transfer.cpp
// (libcurl: one transfer on a private multi handle, so that cancel() wakes it at once; transfer.hpp),
// requests.cpp (a GET with pacing and retries, and the pages asked for), text.cpp (the
// protocol's texts: startDate, Retry-After, header values, error kinds).
#pragma once

#include <atomic>
#include <mutex>

#include "decode.hpp"
#include "topgg/api.hpp"
#include "transfer.hpp"

namespace topgg::api::detail {

inline Error make_error(ErrorKind kind, std::string message, int status = 0) {
  Error e;
  e.kind = kind;
  e.http_status = status;
  e.message = std::move(message);
  return e;
}

/// Printable ASCII without space: may stand in a header.
bool is_header_safe(std::string_view s);
/// `prefix` must be lower case.
bool starts_with_nocase(std::string_view s, std::string_view prefix);
/// At most `max` bytes of an answer body, control bytes and non-ASCII shown as '?', for messages.
std::string snippet(std::string_view body, std::size_t max = 200);

/// For the API client's own tests (which link these objects; the symbol is hidden): when set,
/// called on the calling thread with each attempt's start, the time min_interval is counted from,
/// as it is decided. A test of the pacing reads it here rather than where the request arrives,
/// which also measures the network and the server's scheduling.
extern std::atomic<void (*)(std::chrono::steady_clock::time_point)> attempt_started;

/// What to do after an attempt that was answered or failed: nothing more (`error` empty: a 2xx
/// answer; else a final error), or try again after `wait`.
struct Outcome {
  std::optional<Error> error;
  bool retry = false;
  std::chrono::milliseconds wait{};
  bool used_backoff = true; // `wait` is the backoff, which doubles for the next retry
};

} // namespace topgg::api::detail

namespace topgg::api {

// Hidden although Client is exported: its members are defined out of line, in several files, and
// none of them is part of the library's interface.
struct __attribute__((visibility("hidden"))) Client::Impl : detail::Transfer {
  using Attempt = detail::Attempt;
  using Outcome = detail::Outcome;

  Options opt;
  std::string votes_url;           ///< base + "/projects/@me/votes"
  std::string project_url;         ///< base + "/projects/@me"
  std::recursive_mutex call_mutex; // recursive: a for_each_vote callback may call the client
  std::optional<std::chrono::steady_clock::time_point> last_start;

  simdjson::dom::parser parser;

  ~Impl();

  // requests.cpp: GETs and pages.
  std::string scrub(std::string message) const;
  Error fail(ErrorKind kind, std::string message, int status = 0) const;
  Error cancelled_error() const { return detail::make_error(ErrorKind::cancelled, "cancelled"); }
  std::optional<Error> get(const std::string& url, std::string_view what);
  Outcome judge(const Attempt& a, const std::string& label, const std::string& tries,
                std::chrono::milliseconds backoff) const;
  Result<VotesPage> page(const std::string& url);
  Result<VotesPage> page_since(v1::Timestamp since);
  Result<VotesPage> page_after(std::string_view cursor);
};

} // namespace topgg::api
