// Internal to the Redis store: what its files share. The store's parts, each in
// its own file: redis_store.cpp (the public class, and callers' side),
// redis_loop.cpp (the store's thread), redis_connection.cpp (hiredis: connect,
// hand-shake, reconnect), redis_answers.cpp (claims, confirms, releases, marks:
// sending them and reading their answers), redis_votes.cpp (the vote ledger:
// its class, its scripts' commands and answers). RedisOptions::from_url is in
// redis_url.cpp, the host lookup in redis_resolver.cpp.
#pragma once

#include "topgg/redis_store.hpp"
#include "topgg/connection_store.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"
#include "outage.hpp"
#include "redis_resolver.hpp"
#include "redis_sync.hpp"
#include "topgg/vote_ledger.hpp"

namespace topgg::detail::redis {

using detail::MarkCall;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// KEYS[1] the key, ARGV[1] "claimed:<token>", ARGV[2] the lease in ms. 0 claimed, 1 done, 2 in progress.
// Scripts run atomically and see a frozen clock, so the key cannot lapse between the two calls.
inline constexpr std::string_view claim_script =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end "
    "if redis.call('GET', KEYS[1]) == 'done' then return 1 end "
    "return 2";
// KEYS[1] the key, ARGV[1] "claimed:<token>": deletes only this store's own claim.
inline constexpr std::string_view release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

// The vote ledger's scripts (redis_votes.cpp): recording a vote with its key's confirm, handing out
// due expiries, ending a claim of one. Each is one atomic step.
extern const std::string_view record_script, take_script, finish_script;

inline std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

/// A claim from queueing to its answer. Only the store's thread touches it.
struct Claim {
  ClaimTicket ticket;
  Steady::time_point deadline;
  bool settled = false;
  bool settled_claimed = false; // answered claimed (by Redis, or by fail-open)
};

/// What a vote ledger's operation carries beside an Op's fields; times in Unix microseconds.
struct VoteOp {
  std::string member, hash;                                   // vote_member(), and its hash's key
  VoteEntry entry;                                            // record
  std::int64_t grace_us = 0;                                  // record
  bool keyed = false;                                         // record: Op::key is a delivery key to confirm
  std::function<void(std::optional<VoteRecord>, bool)> found; // find
  std::function<void(std::vector<VoteSubject>, bool)> listed; // subjects
  std::size_t limit = 0;                                      // take_due
  std::int64_t now = 0, lease_until = 0;                      // take_due
  std::string token;                                          // take_due, finish
  std::vector<DueExpiry> due;                                 // take_due's answer
  bool delivered = false;                                     // finish
  std::int64_t expires_at = 0, retry_at = 0;                  // finish
};

/// A command of the integration connections (redis_connections.cpp), answered to its caller.
struct CallOp {
  std::vector<std::string> args;
  std::function<std::string(const redisReply&)> answer; // "" or what was wrong with the reply
};

struct Op {
  enum Kind : std::uint8_t {
    claim,
    confirm,
    release,
    get_mark,
    set_mark,
    record,
    find,
    subjects,
    take_due,
    next_due,
    finish,
    health,
    call // any command (CallOp): the answer to CallOp::answer, the caller waits (mark)
  };
  Op(Kind k, std::string full_key, std::int64_t v) : kind(k), key(std::move(full_key)), value(v) {}

  Kind kind;
  std::string key;                       // with the prefix
  std::int64_t value;                    // lease or TTL in ms; set_mark: microseconds
  Steady::time_point at = Steady::now(); // queued
  ClaimTicket ticket;                    // claim, until the store's thread wraps it
  std::shared_ptr<Claim> state;          // claim, on the store's thread
  std::shared_ptr<MarkCall> mark;        // get_mark, set_mark, take_due, next_due: the caller waits
  std::shared_ptr<VoteOp> vote;          // the vote ledger's
  std::shared_ptr<CallOp> request;       // call
};

/// A probe() waiting for the outcome of a connection attempt (shared with the stream writer).
using ProbeCall = ProbeWait;

/// A command awaiting its answer; answers arrive in the order commands were sent.
struct Sent {
  enum Kind : std::uint8_t {
    auth,
    select,
    load_claim,
    load_release,
    load_record,
    load_take,
    load_finish,
    reload,
    request
  };
  Kind kind;
  Steady::time_point sent;
  std::optional<Op> op;
};

} // namespace topgg::detail::redis

namespace topgg {

// Hidden although RedisStore is exported: its members are defined out of line, in several files, and
// none of them is part of the library's interface.
struct __attribute__((visibility("hidden"))) RedisStore::Impl {
  using Op = detail::redis::Op;
  using Sent = detail::redis::Sent;
  using Claim = detail::redis::Claim;
  using MarkCall = detail::MarkCall;
  using ProbeCall = detail::redis::ProbeCall;
  using Steady = detail::redis::Steady;
  using milliseconds = detail::redis::milliseconds;
  enum class Phase : std::uint8_t { down, connecting, up };

  // The store this serves; cleared when the store goes first (see ~RedisStore).
  detail::Owner<RedisStore> owner;
  void report(std::string_view line) {
    owner.with([&](RedisStore& s) { s.report(line); });
  }
  const RedisOptions opt;
  const std::string where;       // "redis host:port/db", for the error hook
  const std::string claim_value; // "claimed:<token>"

  // Shared with callers.
  std::mutex m;
  std::vector<Op> incoming;
  std::vector<std::shared_ptr<ProbeCall>> incoming_probes; // not ops: a probe is no use of the store (Outage)
  bool signalled = false;
  bool stopping = false;
  std::atomic<std::size_t> pending{0};    // claims admitted and not yet answered
  std::atomic<std::uint64_t> rejected{0}; // claims refused: too many pending
  int wake_r = -1, wake_w = -1;

  // The store's thread only.
  std::thread thread;
  redisAsyncContext* ac = nullptr;
  bool want_read = false, want_write = false;
  Phase phase = Phase::down;
  std::deque<Sent> inflight;
  std::vector<Op> waiting;                      // queued while connecting, sent once connected
  std::deque<Op> retry;                         // confirms that could not be written yet, oldest first
  std::deque<std::shared_ptr<Claim>> deadlines; // every claim not yet past its deadline, oldest first
  std::string claim_sha, release_sha, record_sha, take_sha, finish_sha;
  int reloads = 0;         // SCRIPT LOADs sent after a NOSCRIPT and not yet answered
  std::string drop_reason; // why we are closing the connection ourselves
  bool drop_requested = false;
  bool closing = false;
  bool handshake_refused = false; // this connection's AUTH, SELECT or SCRIPT LOAD got an error
  bool handshake_lasting = false; // and trying again will not help (see lasting_refusal)
  std::vector<std::shared_ptr<ProbeCall>> probes; // waiting for the end of the attempt under way
  bool quiet = false;             // reconnecting at once (an idle connection was closed, or another address is left)
  std::string reason_down = "not connected";
  std::vector<std::string> addresses; // of the host, tried in turn within one attempt
  std::size_t next_address = 0;
  std::unique_ptr<detail::Resolver> resolver; // for a host name; none for an address
  bool resolving = false;
  Steady::time_point connect_deadline{}, retry_at{}, stop_deadline{};
  Steady::time_point health_at{}; // connected: a health check is sent then, unless commands were sent meanwhile
  milliseconds backoff;
  std::uint64_t rejected_seen = 0;
  detail::Outage outage, overload;

  // redis_store.cpp: life, and callers' side.
  Impl(RedisStore& o, RedisOptions op);
  static void start(const std::shared_ptr<Impl>& self);
  void stop();
  ~Impl();
  static void validate(const RedisOptions& o);
  ClaimResult refusal() const noexcept { return opt.fail_open ? ClaimResult::claimed : ClaimResult::unavailable; }
  void kick();
  void push(Op&& op, ClaimDeferral* later = nullptr);
  std::optional<ClaimResult> claim(std::string_view key, milliseconds lease, ClaimDeferral& later);
  std::shared_ptr<MarkCall> call_mark(Op&& op);
  RedisProbe probe(milliseconds timeout);

  // redis_loop.cpp: the store's thread.
  void run();
  Steady::time_point next_timer() const;
  void take_incoming();
  void probe_arrived(std::shared_ptr<ProbeCall> p);
  void answer_probes(RedisProbe::Kind kind, const std::string& why);
  void timers();
  bool finished_closing() const;
  void shut_down();

  // redis_connection.cpp: hiredis' event hooks (the poll loop reads these flags), and the connection.
  static Impl& self(void* p) { return *static_cast<Impl*>(p); }
  static void add_read(void* p) { self(p).want_read = true; }
  static void del_read(void* p) { self(p).want_read = false; }
  static void add_write(void* p) { self(p).want_write = true; }
  static void del_write(void* p) { self(p).want_write = false; }
  static void cleanup(void* p) { self(p).gone(); }            // the context is being freed, after its callbacks ran
  static void on_connect(const redisAsyncContext*, int) {}    // failure reaches gone() through cleanup
  static void on_disconnect(const redisAsyncContext*, int) {} // runs after cleanup: nothing left to do
  static void on_reply(redisAsyncContext*, void* reply, void* p) { self(p).answer(static_cast<redisReply*>(reply)); }
  std::string reason() const;
  bool command(Sent&& s, std::initializer_list<std::string_view> args);
  bool command_argv(Sent&& s, const std::vector<std::string>& args);
  void connect();
  void resolved();
  void connect_to(const std::string& address);
  void attempt_failed(const std::string& why);
  void reconnect_at_once(const std::string& why);
  void failed_attempt(const std::string& why, bool lasting = false);
  void gone();
  void request_drop(std::string why);
  void drop();
  void opened();

  // redis_answers.cpp: claims, confirms, releases and marks, sent and answered.
  void dispatch(Op&& op);
  void unsent(Op&& op, const std::string& why);
  void settle(Claim& c, ClaimResult r);
  void send(Op&& op);
  void answer(redisReply* r);
  void handshake_answer(Sent::Kind kind, const redisReply& r, bool error, const std::string& error_text);
  std::string without_password(std::string text) const;
  void claim_answer(Op& op, const redisReply& r);
  void mark_answer(Op& op, const redisReply& r);
  void worked();
  void reload_scripts();

  // redis_votes.cpp: the vote ledger's commands and answers.
  std::string vote_key(std::string_view what) const { return opt.key_prefix + std::string(what); }
  bool send_vote(Sent&& s, Op& o);
  void vote_unsent(Op&& op, const std::string& why);
  void vote_answer(Op& op, const redisReply& r);
};

// Integration connections (redis_connections.cpp): each call queues an Op::call and waits.
struct __attribute__((visibility("hidden"))) RedisStore::Connections final : ConnectionStore {
  explicit Connections(std::shared_ptr<Impl> i) : impl(std::move(i)) {}
  void put(const IntegrationConnection& c) override;
  bool erase(std::string_view connection_id) override;
  ConnectionSnapshot load() override;
  std::uint64_t version() override;
  /// Sends `args` through the store's thread and waits (at most command_timeout) for `answer`.
  void call(std::vector<std::string> args, std::function<std::string(const redisReply&)> answer);

  std::shared_ptr<Impl> impl;
};

// The vote ledger: each call queues an Op for the store's thread.
struct __attribute__((visibility("hidden"))) RedisStore::Votes final : VoteLedger {
  explicit Votes(std::shared_ptr<Impl> i) : impl(std::move(i)) {}
  void record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
              std::chrono::seconds grace) override;
  void find(const VoteSubject& subject, std::string_view user,
            std::function<void(std::optional<VoteRecord>, bool)> done) override;
  void subjects(std::function<void(std::vector<VoteSubject>, bool)> done) override;
  std::vector<DueExpiry> take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                  std::string_view token) override;
  std::optional<v1::Timestamp> next_due() override;
  void finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) override;

  std::shared_ptr<Impl> impl;
};

} // namespace topgg
