// Redis Streams: handled events handed on to a bot that runs as many
// processes. Part of the Redis library (dependency `topgg-webhook-redis`).
//
// Producer — RedisStreamWriter: the receiver XADDs each handled event to a
// stream, with fields `event` (its name: "dbl_vote", "dsl_vote",
// "vote.create", "webhook.test", "integration.create", "integration.delete",
// "vote.expired") and `json` (the event as one JSON line, the format
// `topgg-webhook listen` prints), and answers the delivery 2xx only once Redis
// acknowledged the XADD (503 otherwise: Top.gg delivers again).
//
// Consumer — RedisStreamReader: reads the stream in a consumer group
// (XREADGROUP), hands each entry, typed, to the handler for its event type,
// XACKs it when the handler returned, and takes over entries another consumer
// left pending for longer than a timeout (XAUTOCLAIM, Redis 6.2 or later):
// each entry is handled by one process of the group, again only after a
// failure.
//
//   topgg::RedisStreamReaderOptions o;
//   o.redis = topgg::RedisOptions::from_url("redis://127.0.0.1:6379");
//   o.stream = "topgg:events"; o.group = "bot"; o.consumer = "shard-3";
//   topgg::RedisStreamReader reader(o);
//   reader.on<topgg::v1::VoteCreate>([](const topgg::v1::VoteCreate& v) { reward(v.user.platform_id); })
//         .on<topgg::BotVote>([](const topgg::BotVote& v) { reward(v.user.to_string()); });
//   reader.run(); // until reader.stop() from another thread
#pragma once

#include "topgg/export.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "topgg/ack.hpp"
#include "topgg/redis_store.hpp"
#include "topgg/v1.hpp"
#include "topgg/vote_ledger.hpp"
#include "topgg/votes.hpp"

namespace topgg {

// ---- producer -------------------------------------------------------------------

/// Where a RedisStreamWriter adds and how. Its constructor throws
/// std::invalid_argument for values out of range.
struct TOPGG_API RedisStreamOptions {
  /// The connection: host, port, db, username, password, connect_timeout,
  /// command_timeout (longest wait for an XADD's answer), reconnect_min and
  /// reconnect_max are used; key_prefix, health_interval, fail_open and
  /// max_pending are not.
  RedisOptions redis;
  std::string stream = "topgg:events"; ///< the stream's key, as is (no prefix); not empty
  /// `XADD … MAXLEN ~ max_len`: Redis trims the oldest entries once the
  /// stream is about this long (approximately: whole macro nodes, cheap);
  /// 0 never trims.
  std::size_t max_len = 100000;
  /// Events queued and not yet answered; one more fails at once (503).
  std::size_t max_pending = 65536;
};

/// Adds entries to a Redis stream from any thread. One thread per writer
/// holds one connection and sends what is queued in pipelined batches (one
/// round trip for all the events that arrived meanwhile).
///
/// While Redis cannot be reached (refused, closed, no answer within
/// `command_timeout`, an error reply) each add() fails (its Ack is answered
/// 503), the error hook hears one line when the outage begins and one when an
/// XADD works again, and the writer reconnects with back-off (also without
/// events, so the second line comes when Redis is back). An XADD whose answer
/// timed out may still have been applied: the delivery is answered 503 and
/// its retry adds the event again — at least once, never lost. So does a
/// caller that, after done(true, …), does more before answering the delivery
/// and fails or runs past the Ack's deadline (topgg-webhook writes the stdout
/// line after the XADD: a blocked or failed stdout answers 503). Consumers
/// must be idempotent: the entry's `json` names the vote (a vote.create's
/// `id`, or project + user + `created_at`).
class TOPGG_API RedisStreamWriter {
public:
  /// A stream entry's fields, in order.
  using Fields = std::vector<std::pair<std::string, std::string>>;
  /// Runs once per add(), on the writer's thread: `added` and the entry's ID
  /// ("1718000000000-0"), or not and why (one phrase, never a field's value).
  using Done = std::function<void(bool added, std::string_view id_or_why)>;

  /// Starts connecting at once; never blocks.
  explicit RedisStreamWriter(RedisStreamOptions options);
  /// Waits for the batch under way (up to `command_timeout`); what is still
  /// queued is not sent and fails (a closing server answers no 2xx for it).
  ~RedisStreamWriter();
  RedisStreamWriter(const RedisStreamWriter&) = delete;
  RedisStreamWriter& operator=(const RedisStreamWriter&) = delete;

  /// Where outage lines go (default: standard error). Set before the first add().
  void on_error(std::function<void(std::string_view)> hook);

  /// Queues an XADD of `fields`; `done` runs once when Redis answered, or when
  /// it failed. `wanted`, when set, is asked on the writer's thread just before
  /// sending: false → not added, done(false, …) — a delivery already answered
  /// 503 comes again, and adding it now would add it twice.
  void add(Fields fields, Done done, std::function<bool()> wanted = {});
  /// The usual step of a delivery: fields `event` and `json`; `ack.ok()` once
  /// added, `ack.retry(why)` otherwise; nothing is added once `ack` is done.
  void add(std::string_view event, std::string json, Ack ack);

  /// Whether Redis can be used as configured, as RedisStore::probe() tells
  /// (connect, AUTH, SELECT): blocks for at most `timeout`. Not reported to the
  /// error hook. Any thread but the writer's own (a Done).
  RedisProbe probe(std::chrono::milliseconds timeout);
  /// False while an outage lasts; any thread.
  bool available() const noexcept;
  /// "redis stream NAME at HOST:PORT: why" while not available(); "" otherwise.
  std::string unavailable_reason() const;

  /// Counted since construction; any thread.
  struct Counts {
    std::uint64_t added = 0;  ///< XADDs Redis acknowledged
    std::uint64_t failed = 0; ///< add()s that failed (outage, error reply, queue full, not wanted)
  };
  Counts counts() const noexcept; ///< what was added and what failed so far

private:
  struct Impl;
  std::shared_ptr<Impl> impl_; // shared with its thread
};

// ---- consumer -------------------------------------------------------------------

/// What a RedisStreamReader reads and how. Its constructor throws
/// std::invalid_argument for values out of range.
struct TOPGG_API RedisStreamReaderOptions {
  /// host, port, db, username, password, connect_timeout, command_timeout,
  /// reconnect_min and reconnect_max are used.
  RedisOptions redis;
  std::string stream = "topgg:events"; ///< the stream's key; not empty
  std::string group = "bot";           ///< the consumer group: each entry goes to one consumer of it
  /// This process within the group, stable across its restarts (e.g.
  /// "cluster-3"): after a restart it first handles what it had read and not
  /// acknowledged. Empty: "<host name>-<pid>" (a new consumer at each start;
  /// what the old one left is taken over after `claim_idle`).
  std::string consumer;
  /// Where a group created by this reader starts: "0" every entry still in the
  /// stream, "$" only entries added from now on. An existing group is kept.
  std::string start_at = "0";
  std::size_t count = 64;                   ///< entries per read, 1 to 10000
  std::chrono::milliseconds block{2000};    ///< run()'s longest wait for new entries in one read (positive); stop() may take as long
  /// An entry read by some consumer (this one included) and not acknowledged
  /// for this long is taken over (XAUTOCLAIM) and handled again: a consumer
  /// that died, or a handler that threw. Longer than any handler runs.
  std::chrono::milliseconds claim_idle{60000};
};

/// An entry as read from the stream, for handlers that want more than the
/// event (its ID, which consumer read it before).
struct RedisStreamEntry {
  std::string id;    ///< the stream entry's ID
  std::string event; ///< its `event` field
  std::string json;  ///< its `json` field
  bool claimed = false; ///< taken over after `claim_idle` (read before, not acknowledged)
};

/// Reads one stream in one consumer group with one connection, on the
/// caller's thread (poll()) or in a loop (run()). Handlers run on that
/// thread, one entry at a time, in stream order within each read.
///
/// An entry is acknowledged (XACK) when its handler returned; a handler that
/// throws leaves it pending (the error hook hears why), and it is handled
/// again after `claim_idle` — by this consumer or another. So each entry is
/// handled at least once, and more than once only after a failure or a
/// consumer's death: make handlers idempotent (a vote.create's `id`, or
/// project + user + created_at, names the vote). An entry whose event has
/// no handler is acknowledged; one whose `json` cannot be decoded is
/// reported and acknowledged (it would fail again each time).
class TOPGG_API RedisStreamReader {
public:
  /// Connects at the first poll(); never blocks.
  explicit RedisStreamReader(RedisStreamReaderOptions options);
  ~RedisStreamReader();
  RedisStreamReader(const RedisStreamReader&) = delete;
  RedisStreamReader& operator=(const RedisStreamReader&) = delete;

  /// Sets the handler of one event type: BotVote, ServerVote, v1::VoteCreate,
  /// v1::WebhookTest, v1::IntegrationCreate, v1::IntegrationDelete or
  /// VoteExpired; `f` is callable as void(const Event&) or
  /// void(const Event&, const RedisStreamEntry&). Before poll() or run().
  template <class Event, class F> RedisStreamReader& on(F&& f) {
    auto& slot = std::get<Handler<Event>>(handlers_);
    if constexpr (std::is_invocable_v<F&, const Event&, const RedisStreamEntry&>)
      slot = Handler<Event>(std::forward<F>(f));
    else
      slot = [g = std::forward<F>(f)](const Event& e, const RedisStreamEntry&) mutable { g(e); };
    return *this;
  }
  /// What goes wrong (Redis unreachable: one line per outage; a handler threw;
  /// an entry that cannot be decoded). Default: standard error.
  RedisStreamReader& on_error(std::function<void(std::string_view)> hook);

  /// One round: connects (creating the group if needed) unless connected;
  /// handles this consumer's own unacknowledged entries after a (re)connection,
  /// takes over entries idle for `claim_idle`, then reads new ones, waiting up
  /// to `wait` for the first (0: not at all; negative counts as 0). Returns the entries handled (acknowledged or
  /// not). Throws std::runtime_error when Redis cannot be reached or answers
  /// an error (the next poll() reconnects); the error hook is not told then.
  std::size_t poll(std::chrono::milliseconds wait);
  /// poll(block) until stop(); an error is one error-hook line per outage, and
  /// reconnecting waits reconnect_min, doubling up to reconnect_max.
  void run();
  /// Makes run() return after the read under way (at most `block`); any thread.
  void stop() noexcept;

  /// Decodes a `json` field as `event` names it into its typed struct and
  /// calls `f(event_struct)`; false (f not called) for an unknown event name
  /// or a line that is not that event's JSON, with why in `why`. What the
  /// reader uses; also for consumers that read the stream another way.
  template <class F> static bool decode(std::string_view event, std::string_view json, F&& f, std::string& why);

private:
  struct Impl;
  template <class Event> using Handler = std::function<void(const Event&, const RedisStreamEntry&)>;
  using Handlers = std::tuple<Handler<BotVote>, Handler<ServerVote>, Handler<v1::VoteCreate>, Handler<v1::WebhookTest>,
                              Handler<v1::IntegrationCreate>, Handler<v1::IntegrationDelete>, Handler<VoteExpired>>;
  Handlers handlers_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  void dispatch(const RedisStreamEntry& e); // decodes and calls the handler; throws what it throws
};

/// One `json` line (the format `topgg-webhook listen` prints) decoded into
/// `out`; false with why in `why` when it is not such a line. The fields the
/// line does not carry (BotVote has all; a VoteExpired's weight, count and
/// attempt are not written) keep their defaults.
TOPGG_API bool decode_event_line(std::string_view json, BotVote& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, ServerVote& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, v1::VoteCreate& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, v1::WebhookTest& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, v1::IntegrationCreate& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, v1::IntegrationDelete& out, std::string& why);
TOPGG_API bool decode_event_line(std::string_view json, VoteExpired& out, std::string& why);

template <class F>
bool RedisStreamReader::decode(std::string_view event, std::string_view json, F&& f, std::string& why) {
  auto one = [&](auto tag) {
    decltype(tag) e;
    if (!decode_event_line(json, e, why))
      return false;
    f(e);
    return true;
  };
  if (event == "dbl_vote")
    return one(BotVote{});
  if (event == "dsl_vote")
    return one(ServerVote{});
  if (event == v1::VoteCreate::name)
    return one(v1::VoteCreate{});
  if (event == "webhook.test")
    return one(v1::WebhookTest{});
  if (event == "integration.create")
    return one(v1::IntegrationCreate{});
  if (event == "integration.delete")
    return one(v1::IntegrationDelete{});
  if (event == VoteExpired::name)
    return one(VoteExpired{});
  why = "unknown event '" + std::string(event.substr(0, 64)) + "'";
  return false;
}

} // namespace topgg
