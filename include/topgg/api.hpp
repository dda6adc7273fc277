// Top.gg's v1 REST API, as far as catching up on votes needs it: the project of a token and its
// vote history. Library `topgg-webhook-api` (libcurl); blocking calls, errors as values.
//
//   GET {base}/projects/@me/votes?startDate=<ISO 8601>   or   ?cursor=<from the previous page>
//   GET {base}/projects/@me
//   Authorization: Bearer <token>
//
// Oldest vote first; page with the returned cursor until a page has no data. Top.gg allows 100
// requests/s and blocks a token for an hour when that is exceeded, so the client spaces its
// requests (Options::min_interval) and honours 429 Retry-After.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "topgg/v1.hpp"

namespace topgg::api {

/// Why a call failed (Error::kind). Network errors, timeouts, 429 and 5xx are retried (Options::max_retries)
/// before they are reported; the others are reported at once.
enum class ErrorKind : std::uint8_t {
  network,          ///< no answer: DNS, refused or reset connection (retried, then reported)
  timeout,          ///< no complete answer within Options::timeout (retried, then reported)
  tls,              ///< certificate not trusted, wrong host name, handshake failed (never retried)
  unauthorized,     ///< 401 or 403: the token is wrong or lacks access (never retried)
  not_found,        ///< 404 (never retried)
  rate_limited,     ///< 429 still after the retries, or Retry-After longer than Options::max_retry_after
  server,           ///< 5xx still after the retries
  bad_response,     ///< an answer that is not JSON of the documented shape, or an unexpected status
  invalid_argument, ///< refused before sending (bad option or argument), or 400/422 from Top.gg
  cancelled,        ///< Client::cancel() was called
  callback_failed,  ///< the for_each_vote callback threw; the walk stopped at that record
};

/// "network", "timeout", …; static storage.
TOPGG_API std::string_view to_string(ErrorKind kind) noexcept;

/// Why a Client call failed: what a Result holds instead of its value.
struct Error {
  ErrorKind kind = ErrorKind::network; ///< what went wrong
  int http_status = 0;                 ///< status of the last answer; 0 when none was received
  std::chrono::seconds retry_after{};  ///< rate_limited: what Top.gg asked to wait (0 if it did not say)
  std::string message;                 ///< one line of English; never contains the token
};

/// Either a T or an Error: std::expected's shape, without exceptions (C++20 has no std::expected).
template <class T> class Result {
public:
  /// Holds `value` (implicit, so that a function returning Result<T> can return a T).
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  /// Holds `error` (implicit, so that a function returning Result<T> can return an Error).
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  /// True if this holds a value, false if it holds an Error.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// has_value(), for `if (auto r = client.project())`.
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; calling this or the accessors below on an error aborts (a programming error,
  /// not a runtime condition).
  T& value() & { return *checked(std::get_if<0>(&v_)); }
  /// The value, read-only; aborts on an error.
  const T& value() const& { return *checked(std::get_if<0>(&v_)); }
  /// The value, moved out of a Result about to go away; aborts on an error.
  T&& value() && { return std::move(*checked(std::get_if<0>(&v_))); }
  /// value(); aborts on an error.
  T& operator*() & { return value(); }
  /// value(), read-only; aborts on an error.
  const T& operator*() const& { return value(); }
  /// The value's members (`page->records`); aborts on an error.
  T* operator->() { return &value(); }
  /// The value's members, read-only; aborts on an error.
  const T* operator->() const { return &value(); }

  /// The error; calling this on a value aborts.
  const Error& error() const { return *checked(std::get_if<1>(&v_)); }

private:
  template <class P> static P* checked(P* p) {
    if (!p)
      std::abort();
    return p;
  }
  std::variant<T, Error> v_;
};

/// GET /projects/\@me. Enum-like fields are kept as sent, unknown values included.
struct Project {
  std::string id;          ///< Top.gg project ID, as in v1::Project::id
  std::string name;        ///< the project's name on Top.gg; "" when absent or null
  std::string type;        ///< "bot", "server", "game", …
  std::string platform;    ///< "discord", "roblox", …
  std::string platform_id; ///< e.g. the bot's Discord ID; "" when absent or null

  /// The same project as a v1 webhook delivery describes it (name dropped).
  v1::Project as_v1() const { return {id, type, platform, platform_id}; }
};

/// One vote of the history. IDs are kept as the exact text sent, as in v1::User, so a record
/// yields the same de-duplication key as the webhook's vote.create: project ID + user_id +
/// created_at to the second.
struct VoteRecord {
  std::string user_id;        ///< Top.gg user ID (v1::User::id)
  std::string platform_id;    ///< the voter on the platform, e.g. Discord user ID (v1::User::platform_id); "" when null
  std::int64_t weight = 0;    ///< how many votes this one counts for (v1::VoteCreate::weight)
  v1::Timestamp created_at{}; ///< when the vote was cast; to the second, part of the de-duplication key
  v1::Timestamp expires_at{}; ///< when the user may vote again; the epoch when Top.gg sent none
};

/// One page of the history, oldest first. An empty `records` ends the history (for now).
struct VotesPage {
  std::string cursor;              ///< asks for the next page; "" when Top.gg sent none
  std::vector<VoteRecord> records; ///< the votes of this page, oldest first
};

/// Where a walk through the history stands: the request that fetches the first record the
/// callback has not accepted yet. Pass it back to continue, after an error, a stop, or later to
/// poll for newer votes. A page is re-fetched whole, so a record may be delivered again after a
/// resume (never skipped): de-duplicate on the key above.
struct VotePosition {
  std::string cursor;             ///< when non-empty it is sent and `since` is not (the API prefers it anyway)
  v1::Timestamp since{};          ///< startDate, when there is no cursor yet
  std::optional<VoteRecord> last; ///< the last record the callback accepted; kept when none was

  /// A position without a cursor: the walk starts with the votes from `since` on.
  static VotePosition starting_at(v1::Timestamp since) {
    VotePosition p;
    p.since = since;
    return p;
  }
};

/// What a for_each_vote(VotePosition&, …) walk did, when it did not fail.
struct WalkStats {
  std::uint64_t pages = 0;   ///< pages fetched, the final empty one included
  std::uint64_t records = 0; ///< records the callback accepted
  bool complete = false;     ///< an empty page was reached (false: the callback returned false)
};

/// Called once per record, in order; return false to stop the walk before the next record.
using VoteCallback = std::function<bool(const VoteRecord&)>;

/// Settings of a Client, checked by Client::create(): timeouts must be positive, intervals not
/// negative; a max_backoff below backoff is raised to it.
struct Options {
  std::string token;                                ///< v1 API token; never logged, never in an Error, wiped by ~Client
  std::string base_url = "https://top.gg/api/v1";   ///< https:// only; a trailing '/' is ignored
  std::string ca_file;                              ///< PEM CA bundle: the only CAs trusted (tests, proxies)
  std::chrono::milliseconds timeout{30000};         ///< whole request, connection included
  std::chrono::milliseconds connect_timeout{10000}; ///< TCP + TLS handshake
  unsigned max_retries = 4;                         ///< after the first attempt, per call, all causes together
  std::chrono::milliseconds min_interval{250};      ///< between the starts of two requests (Top.gg allows 100/s)
  std::chrono::milliseconds backoff{1000};          ///< first wait after a 5xx or a network error; doubles
  std::chrono::milliseconds max_backoff{30000};     ///< cap of that doubling
  std::chrono::seconds max_retry_after{60};         ///< longer Retry-After: no wait, ErrorKind::rate_limited at once
  std::size_t max_response_bytes = 16u << 20;       ///< larger answers are bad_response
  std::string user_agent;                           ///< "" → "topgg-webhook/<version>"
};

/// A connection to Top.gg's API. Calls block (run them off an event loop's thread), and are
/// serialised: from several threads they run one after another, which also keeps min_interval.
/// TLS always verifies the peer and the host name; redirects are not followed.
class TOPGG_API Client {
public:
  /// Checks the options (token present and a valid header value, https base URL, readable CA file)
  /// and prepares libcurl. Sends nothing. Errors: invalid_argument.
  static Result<Client> create(Options options);

  /// Takes over the connection; the moved-from Client answers every call with invalid_argument.
  Client(Client&&) noexcept;
  /// Takes over the connection, wiping this Client's own token first; the moved-from Client answers
  /// every call with invalid_argument. Must not run while a call is in progress on either.
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  /// Wipes the token. Must not run while a call is in progress on another thread.
  ~Client();

  /// GET /projects/\@me: the project the token belongs to.
  Result<Project> project();

  /// One page from `since` (sent as startDate, floored to the second: a vote of that second comes
  /// again rather than being missed). invalid_argument if `since` is more than 365 days back.
  Result<VotesPage> votes_page(v1::Timestamp since);
  /// One page after `cursor` (a previous page's VotesPage::cursor); invalid_argument if empty.
  Result<VotesPage> votes_page(std::string_view cursor);

  /// Walks the history from `from` until an empty page, calling `on_vote` per record in order.
  /// `from` is updated as records are accepted, so after any outcome (error, stop, completion) it
  /// is where to resume. A page whose cursor does not move forward, or leads back to a page this
  /// walk already fetched (a cycle), is bad_response (no endless loop).
  Result<WalkStats> for_each_vote(VotePosition& from, const VoteCallback& on_vote);
  /// The same from `since`; returns where to resume later (lost on error: use the overload above
  /// when an error must not restart the walk from `since`).
  Result<VotePosition> for_each_vote(v1::Timestamp since, const VoteCallback& on_vote);

  /// From any thread: the call in progress (request or wait) returns ErrorKind::cancelled within
  /// milliseconds, and so does every later call until reset_cancel(). For prompt shutdown.
  void cancel() noexcept;
  /// From any thread: lets calls run again after cancel().
  void reset_cancel() noexcept;
  /// From any thread: true from cancel() until reset_cancel(); false for a moved-from Client.
  bool cancelled() const noexcept;

private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

/// "2026-11-01T00:00:00Z": how startDate is sent (UTC, floored to the second).
TOPGG_API std::string format_start_date(v1::Timestamp t);

/// Retry-After as seconds from `now`: delta-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2026
/// 07:28:00 GMT", also the obsolete RFC 850 and asctime forms). A date in the past is 0 s; nullopt
/// when unparseable.
TOPGG_API std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                                std::chrono::system_clock::time_point now);

} // namespace topgg::api
