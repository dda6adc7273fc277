// Votes as state: who voted for what, until when, how many times in a row.
// The types the vote book (topgg/vote_book.hpp, library topgg-webhook-votes)
// works with, the rules it applies (pure functions: time is an argument), and
// VoteLedger, the part of an idempotency store that keeps the records and the
// expiries still owed — MemoryStore, SqliteStore and RedisStore each have one,
// next to their de-duplication keys.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/http.hpp"
#include "topgg/snowflake.hpp"
#include "topgg/v1.hpp"

namespace topgg {

/// What a vote is for: a Top.gg project (v1 routes: `project.id`), a bot
/// (legacy bot votes: the bot's Discord ID) or a server (legacy server votes:
/// the guild ID). Records are kept per subject and user.
struct VoteSubject {
  /// Which of the three `id` names.
  enum class Kind : std::uint8_t {
    project, ///< a Top.gg project ID (v1)
    bot,     ///< a bot's Discord ID (legacy dbl)
    guild,   ///< a server's Discord ID (legacy dsl)
  };
  Kind kind = Kind::project; ///< what `id` is
  std::string id;            ///< the project, bot or guild ID, as text

  /// A Top.gg project.
  static VoteSubject project(std::string id) { return {Kind::project, std::move(id)}; }
  /// A bot, by its Discord ID.
  static VoteSubject bot(Snowflake id) { return {Kind::bot, id.to_string()}; }
  /// A server, by its Discord ID.
  static VoteSubject guild(Snowflake id) { return {Kind::guild, id.to_string()}; }
  /// Same kind and ID.
  bool operator==(const VoteSubject&) const = default;
};

/// "project", "bot" or "guild": also the name of the JSON field the tool writes.
TOPGG_API std::string_view to_string(VoteSubject::Kind k) noexcept;

/// How votes are turned into state.
struct VoteRules {
  /// A legacy vote carries no expiry: it runs out this long after it was
  /// handled (Top.gg lets a user vote again after 12 hours).
  std::chrono::seconds legacy_duration{12 * 3600};
  /// A vote cast no later than the previous vote's expiry plus this continues
  /// the streak; a later one starts a new streak at 1.
  std::chrono::seconds streak_grace{12 * 3600};
};

/// One handled vote, as the vote book records it.
struct VoteEntry {
  VoteSubject subject;        ///< what was voted for
  std::string user;           ///< the voter's platform ID (the Discord ID: legacy `user`, v1 `user.platform_id`)
  std::string route;          ///< the route that received it (or that catch-up delivered it through)
  v1::Timestamp voted_at{};   ///< v1: `created_at`; legacy: when it was handled
  v1::Timestamp expires_at{}; ///< v1: `expires_at`; legacy: voted_at + VoteRules::legacy_duration
  std::int64_t weight = 1;    ///< v1: `weight`; legacy bot votes: 2 on weekends
};

/// What is kept per subject and user: the latest vote, the streak, the count.
struct VoteRecord {
  std::string route;          ///< the route of the latest vote
  v1::Timestamp voted_at{};   ///< the latest vote's time
  v1::Timestamp expires_at{}; ///< when the latest vote runs out
  std::int64_t weight = 0;    ///< the latest vote's weight
  std::uint32_t streak = 0;   ///< votes in a row, the latest included (see VoteRules::streak_grace)
  std::uint64_t count = 0;    ///< every vote recorded for this subject and user
  /// Equal in every field.
  bool operator==(const VoteRecord&) const = default;
};

/// What record_vote() made of a vote.
struct RecordedVote {
  VoteRecord record;   ///< the new record
  bool newest = false; ///< the vote is now the latest: its expiry replaces the one owed before
};

/// The rules, in one place: `vote` added to `previous` (nullopt: the user's
/// first vote for this subject). A vote at or after the latest one becomes
/// the latest: its time, expiry, weight and route replace the record's, and
/// the streak goes on (previous streak + 1) if it was cast no later than the
/// previous expiry + `grace`, else starts again at 1. An older vote (caught up
/// late, after a newer one was recorded) only adds to the count. Every vote
/// adds 1 to the count.
TOPGG_API RecordedVote record_vote(const std::optional<VoteRecord>& previous, const VoteEntry& vote,
                                   std::chrono::seconds grace);

/// What status queries answer (VoteBook::status, `topgg-webhook status`).
struct VoteStatus {
  bool voted = false;                                 ///< the latest vote has not run out yet (expires_at > now)
  std::optional<v1::Timestamp> voted_at;              ///< the latest vote's time; nullopt: never voted
  std::optional<v1::Timestamp> expires_at;            ///< when it runs (or ran) out; nullopt: never voted
  std::int64_t weight = 0;                            ///< the latest vote's weight (0: never voted)
  std::uint32_t streak = 0;                           ///< the streak, while it can still go on; 0 once it cannot
  std::uint64_t count = 0;                            ///< every vote recorded
  bool operator==(const VoteStatus&) const = default; ///< equal in every field
};

/// `record` seen at `now`: voted while expires_at is ahead; the streak is the
/// record's until expires_at + `grace` has passed (a vote now would start a new
/// one), 0 after.
TOPGG_API VoteStatus status_of(const std::optional<VoteRecord>& record, std::chrono::system_clock::time_point now,
                               std::chrono::seconds grace);

/// "vote.expired": a user's latest vote for a subject reached its expiry with
/// no newer vote extending it. Handled by on_vote_expired(); fired once per
/// expiry by a VoteBook (again only while handlers fail). A plain value, valid
/// during the handler call only, as every event.
struct VoteExpired {
  static constexpr std::string_view name = "vote.expired"; ///< the tool's "event"
  VoteSubject subject;                                     ///< what was voted for
  std::string user;                                        ///< the voter's platform ID (Discord ID)
  std::string route;                                       ///< the route that received the vote that ran out
  v1::Timestamp voted_at{};                                ///< when that vote was cast
  v1::Timestamp expired_at{}; ///< when it ran out (the event may come later: after a restart, a retry)
  std::int64_t weight = 0;    ///< its weight
  std::uint32_t streak = 0;   ///< the streak it ended (a vote within VoteRules::streak_grace continues it)
  std::uint64_t count = 0;    ///< every vote recorded for this subject and user
  std::uint32_t attempt = 1;  ///< 1 the first time; more when an earlier handler call failed
};

/// An expiry a VoteLedger handed out (VoteLedger::take_due): the user's record
/// as it was when claimed.
struct DueExpiry {
  VoteSubject subject;        ///< what was voted for
  std::string user;           ///< who voted
  VoteRecord record;          ///< the latest vote, whose expiry is due
  std::uint32_t attempts = 0; ///< failed deliveries of this expiry so far
};

/// The vote records of an idempotency store, and the expiries still owed,
/// indexed by when they are due (so that a million owed expiries cost no
/// memory in the process that fires them). IdempotencyStore::vote_ledger()
/// gives a store's; it lives as long as its store. Thread-safe.
///
/// Times are Unix time (microseconds); expiries are due at `expires_at`. An
/// expiry is owed for the latest vote of each subject and user until it was
/// delivered; a newer vote replaces it (also one claimed or being retried).
class TOPGG_API VoteLedger {
public:
  /// Its store destroys it.
  virtual ~VoteLedger();

  /// The delivery pipeline's step for a handled vote, in place of
  /// IdempotencyStore::confirm(): confirms `key` for `ttl` and — unless `key`
  /// was confirmed before (a retry or a twin handled twice) — adds `vote` with
  /// record_vote(`grace`), making its expiry owed if it is the newest, as one
  /// step. An empty `key` records without confirming anything. Never blocks:
  /// a store that does I/O queues it, and keeps it through an outage as it
  /// keeps confirms.
  virtual void record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
                      std::chrono::seconds grace) = 0;

  /// The record of `user` for `subject`, passed to `done` (nullopt: none),
  /// with `ok` false when the store could not be asked (the record is then
  /// nullopt). `done` runs once: here, or on the store's thread.
  virtual void find(const VoteSubject& subject, std::string_view user,
                    std::function<void(std::optional<VoteRecord> record, bool ok)> done) = 0;

  /// Every subject recorded so far, to `done` (`ok` false: the store could not
  /// be asked). `done` runs once: here, or on the store's thread.
  virtual void subjects(std::function<void(std::vector<VoteSubject> subjects, bool ok)> done) = 0;

  /// Claims, under `token`, at most `limit` owed expiries due at `now` or
  /// before, earliest first: each is due again at `lease_until` (so that a
  /// receiver that stopped mid-delivery does not hold it for ever) and no
  /// other caller gets it meanwhile. Blocks; throws std::runtime_error when
  /// the store cannot be asked.
  virtual std::vector<DueExpiry> take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                          std::string_view token) = 0;

  /// When the earliest owed expiry is due (a claimed one: at its lease's end);
  /// nullopt when none is owed. Blocks; throws std::runtime_error when the
  /// store cannot be asked.
  virtual std::optional<v1::Timestamp> next_due() = 0;

  /// Ends the claim of `e` taken under `token`: delivered → no longer owed;
  /// else owed again at `retry_at`, with one more attempt counted. Changes
  /// nothing if a newer vote replaced `e` meanwhile, or another claim holds it.
  /// Never blocks (queued, and kept through an outage).
  virtual void finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) = 0;
};

} // namespace topgg

/// \cond INTERNAL
namespace topgg::detail {
/// "project/<id>", "bot/<id>", "guild/<id>", the ID escaped (as in delivery keys: '/', '%' and
/// bytes outside printable ASCII as %XX): how the persistent ledgers name a subject.
TOPGG_API std::string subject_text(const VoteSubject& s);
/// subject_text() read back; false for anything else.
TOPGG_API bool parse_subject_text(std::string_view text, VoteSubject& out);
/// subject_text(s) + "/" + `user` escaped the same way: one record's name.
TOPGG_API std::string vote_member(const VoteSubject& s, std::string_view user);
/// vote_member() read back; false for anything else.
TOPGG_API bool parse_vote_member(std::string_view member, VoteSubject& subject, std::string& user);
} // namespace topgg::detail
/// \endcond
