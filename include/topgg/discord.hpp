// Posting each handled vote in a Discord channel through a Discord webhook
// ("who voted" logs, thank-you messages). Part of the API library
// (topgg-webhook-api, libcurl).
//
//   auto queue = std::make_shared<topgg::SqlitePostQueue>("votes.db", 100000); // after the SqliteStore
//   topgg::discord::PosterOptions o;
//   o.webhook_url = std::getenv("DISCORD_WEBHOOK");   // a secret: never logged
//   topgg::discord::Poster poster(std::move(o), queue);
//   webhooks.on_vote_create([&](const topgg::v1::VoteCreate& v) {
//     poster.post(topgg::discord::fields_of(v));      // never blocks, never fails the delivery
//   });
//
// Post only events whose delivery was answered 2xx (the CLI does it once the
// Ack succeeded): a delivery answered 5xx comes again and would post twice.
// De-duplication (the Router's idempotency store) keeps Top.gg's retries and
// catch-up twins from reaching the handler, so each vote is posted once.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "topgg/post_queue.hpp"
#include "topgg/v1.hpp"
#include "topgg/vote_ledger.hpp"
#include "topgg/votes.hpp"

namespace topgg::discord {

/// What a message may say about one handled event: the template's
/// placeholders. Plain values, made from an event by fields_of().
struct VoteFields {
  std::string event;       ///< "dbl_vote", "dsl_vote", "vote.create", "webhook.test", "vote.expired"
  std::string route;       ///< the route that received it
  std::string user_id;     ///< the voter's Discord ID ("" when unknown)
  std::string user_name;   ///< the voter's Top.gg name: v1 webhook deliveries only, else ""
  std::string bot;         ///< the bot voted for (legacy bot votes; v1 projects of type "bot"), else ""
  std::string guild;       ///< the server voted for (legacy server votes; v1 projects of type "server"), else ""
  std::string project;     ///< the Top.gg project ID (v1), else ""
  std::int64_t weight = 1; ///< v1: `weight`; legacy bot votes: 2 on weekends
  bool weekend = false;    ///< legacy: isWeekend; v1: weight of 2 or more
  bool test = false;       ///< a legacy `type: test` vote or a webhook.test
  /// Votes in a row (VoteRecord::streak) when the message is made, if votes
  /// are tracked; the poster asks PosterOptions::streak for it when the
  /// template uses {streak}.
  std::optional<std::uint32_t> streak;
  /// What the vote book records it under (for PosterOptions::streak).
  std::optional<VoteSubject> subject;
  /// When the vote was cast: v1 `created_at`; nullopt for legacy votes (the
  /// vote book records them at the time they were handled).
  std::optional<v1::Timestamp> voted_at;
};

/// The fields of an event, as the CLI prints them.
TOPGG_API VoteFields fields_of(const BotVote& v);
TOPGG_API VoteFields fields_of(const ServerVote& v);      ///< \copydoc fields_of(const BotVote&)
TOPGG_API VoteFields fields_of(const v1::VoteCreate& v);  ///< \copydoc fields_of(const BotVote&)
TOPGG_API VoteFields fields_of(const v1::WebhookTest& v); ///< \copydoc fields_of(const BotVote&)
TOPGG_API VoteFields fields_of(const VoteExpired& v);     ///< \copydoc fields_of(const BotVote&)

/// A message's text with placeholders in braces, checked when made:
/// `{user}` (a mention of the voter, `<@ID>`), `{user_id}`, `{user_name}`
/// (the Top.gg name where known, else the mention), `{bot}`, `{guild}`,
/// `{project}`, `{weight}`, `{weekend}` ("yes"/"no"), `{streak}` (votes in a
/// row; "1" when votes are not tracked), `{event}`, `{route}`, `{type}`
/// ("upvote"/"test"); `{{` and `}}` are literal braces.
class TOPGG_API Template {
public:
  /// Mentions the voter.
  static constexpr std::string_view default_text = "Thank you for voting, {user}!";
  /// Throws std::invalid_argument naming an unknown placeholder, an
  /// unmatched brace, or an empty text.
  explicit Template(std::string text = std::string(default_text));
  /// The text with `f` filled in; at most 2000 characters (Discord's limit:
  /// longer is cut at a character boundary, ending in "…").
  std::string render(const VoteFields& f) const;
  /// True when the text says {streak}.
  bool uses_streak() const noexcept { return uses_streak_; }
  /// The text as given.
  const std::string& text() const noexcept { return text_; }

private:
  std::string text_;
  bool uses_streak_ = false;
};

/// The body of an execute-webhook request: `{"content": …, "allowed_mentions":
/// {"parse": [], "users": [<the voter>]}}` — only the voter may be pinged,
/// whatever a user name or the template says (\@everyone, roles).
TOPGG_API std::string message_body(const VoteFields& f, std::string_view content);

/// What Discord answered, as the rate limits read it.
struct Answer {
  long status = 0; ///< HTTP status
  /// Header fields, names in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body; ///< a 429's JSON ({"retry_after": seconds, "global": bool})
};

/// Discord's rate limits, as its answers tell them (pure: time is an
/// argument). Per route, the bucket named by X-RateLimit-Bucket with
/// X-RateLimit-Remaining and X-RateLimit-Reset-After (seconds, fractions
/// allowed); a 429's `retry_after` (JSON body, else Retry-After) applies to
/// the route's bucket, or to every route when it is global
/// (X-RateLimit-Global: true, X-RateLimit-Scope: global, or "global": true).
class TOPGG_API RateLimits {
public:
  using Clock = std::chrono::steady_clock; ///< the clock of the times passed in
  /// A 429 that says no wait waits this long.
  static constexpr std::chrono::milliseconds default_retry{1000};
  /// Longer waits are cut to this (a broken answer must not stop posting for days).
  static constexpr std::chrono::milliseconds longest_wait{std::chrono::hours(1)};

  /// Reads `a`, an answer to a request on `route`, received at `now`; returns
  /// how long that route must wait from `now` before its next request.
  std::chrono::milliseconds observe(std::string_view route, const Answer& a, Clock::time_point now);
  /// When the next request on `route` may be sent (`now` or earlier: at once).
  Clock::time_point ready_at(std::string_view route) const;
  /// True when the last 429 was global.
  bool last_was_global() const noexcept { return last_global_; }

private:
  struct Bucket {
    std::string route, id; // id: X-RateLimit-Bucket ("" until Discord named it)
    Clock::time_point until{};
  };
  Bucket& bucket_of(std::string_view route);
  const Bucket* find(std::string_view route) const;
  std::vector<Bucket> buckets_; // routes are few: a poster has one
  Clock::time_point global_until_{};
  bool last_global_ = false;
};

/// What a Poster did since it was made.
struct PosterStats {
  std::uint64_t posted = 0;       ///< messages Discord accepted (2xx)
  std::uint64_t retried = 0;      ///< attempts answered 429, 5xx, or failed (network, timeout): tried again
  std::uint64_t rate_limited = 0; ///< of which 429
  std::uint64_t rejected = 0;     ///< messages Discord refused (another 4xx): dropped, one line each
  std::uint64_t overflow = 0;     ///< events not queued: the queue was full, or posting had stopped
  std::uint64_t queued = 0;       ///< waiting now (as last seen by the poster's thread)
  bool stopped = false;           ///< Discord answered 401/403/404: posting stopped (until set_webhook_url)
};

/// Appends `s` in Prometheus' text format: topgg_webhook_discord_posts_total,
/// _retries_total{reason="rate_limited"|"failed"}, _rejected_total,
/// _dropped_total, _queued (gauge), _stopped (1 while posting is stopped by
/// a 401, 403 or 404, until a new URL).
TOPGG_API void write_prometheus(const PosterStats& s, std::string& out);

/// The rule a webhook URL follows (PosterOptions::webhook_url,
/// Poster::set_webhook_url): https://…, no space, control character or
/// fragment.
TOPGG_API bool is_webhook_url(std::string_view url) noexcept;

/// How a Poster posts. Poster's constructor throws std::invalid_argument for
/// a webhook URL that is not https://… (without a fragment) or values out of range.
struct PosterOptions {
  /// The webhook's URL (https://discord.com/api/webhooks/ID/TOKEN): a
  /// secret. Never logged; "?wait=true" is added, so a 2xx means posted.
  std::string webhook_url;
  std::string ca_file;                         ///< PEM CA bundle: the only CAs trusted (tests); "" → the system's
  Template message{};                          ///< what is posted
  std::size_t intake = 10000;                  ///< events handed over and not yet queued, at most (more: overflow)
  std::chrono::milliseconds retry_first{1000}; ///< after a 5xx or network error; doubling
  std::chrono::milliseconds retry_most{std::chrono::minutes(1)}; ///< the longest wait between two tries
  std::chrono::milliseconds timeout{15000};                      ///< one request, connection included
  std::chrono::milliseconds stop_grace{3000};                    ///< stop() lets a request under way finish this long
  /// One line per outage (its start and end), per overflow episode, per
  /// refused message, and when posting stops; never the URL. Default: stderr.
  std::function<void(std::string_view)> on_log;
  /// Asked on the poster's thread, when the template uses {streak}: the
  /// streak of `f`'s voter (VoteBook::status(*f.subject, f.user_id).streak).
  std::function<std::optional<std::uint32_t>(const VoteFields& f)> streak;
};

/// Posts handed events in order, from its own thread, through a PostQueue.
/// post() renders nothing and does no I/O: it hands the event to the
/// thread, which renders it, pushes it to the queue, and posts the queue's
/// oldest message until Discord accepts it (2xx) — then removes it. Rate
/// limits are waited for (RateLimits), 5xx and network errors retried with
/// doubling waits for as long as it takes; a persistent queue keeps what an
/// outage or a restart left.
///
/// **Exactly once?** Each message is removed only after Discord's 2xx, so a
/// crash (or a stop() that had to cancel a request) between Discord's
/// acceptance and the removal posts it again: at least once at that
/// boundary. Events handed over but not yet pushed when the process dies
/// (microseconds, unless the store is down) are lost: post() never waits for
/// the store, so that a post never delays a delivery.
class TOPGG_API Poster {
public:
  /// Starts the thread. `queue` (not null) is the poster's alone — or, when
  /// its poll_interval() is positive, shared with other processes' posters
  /// (RedisPostQueue), whose pushes this one may post; such a queue that
  /// cannot be read yet does not stop the start (it is asked again).
  Poster(PosterOptions options, std::shared_ptr<PostQueue> queue);
  /// stop().
  ~Poster();
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;

  /// Any thread; never blocks on I/O. Queues a message for `f`; counted as
  /// overflow (one line per episode) when the intake or the queue is full,
  /// or posting stopped.
  void post(VoteFields f);
  /// Pushes what was handed over to the queue, lets a request under way
  /// finish (PosterOptions::stop_grace, then cancels it), and ends the
  /// thread; what is queued stays queued. Idempotent.
  void stop();
  /// Any thread: the webhook URL from the next request on (a new webhook, a
  /// rotated token), by the rule of PosterOptions::webhook_url, else
  /// std::invalid_argument and the old one is kept. Posting that a 401, 403
  /// or 404 stopped starts again: what stayed queued is posted, in order.
  /// Both URLs stay secrets (scrubbed from every line).
  void set_webhook_url(const std::string& url);
  /// Any thread.
  PosterStats stats() const;

  struct Impl;

private:
  std::shared_ptr<Impl> impl_;
};

} // namespace topgg::discord
