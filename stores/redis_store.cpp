#include "topgg/redis_store.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "outage.hpp"

namespace topgg {

namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// KEYS[1] the key, ARGV[1] "claimed:<token>", ARGV[2] the lease in ms. 0 claimed, 1 done, 2 in progress.
// Scripts run atomically and see a frozen clock, so the key cannot lapse between the two calls.
constexpr std::string_view claim_script =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end "
    "if redis.call('GET', KEYS[1]) == 'done' then return 1 end "
    "return 2";
// KEYS[1] the key, ARGV[1] "claimed:<token>": deletes only this store's own claim.
constexpr std::string_view release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

// Redis refuses expiry times that overflow its clock; a lease or TTL this long means "never" anyway.
constexpr std::int64_t longest_ms = 1'000'000'000'000; // about 31 years

std::string expiry(std::int64_t ms) { return std::to_string(std::clamp<std::int64_t>(ms, 1, longest_ms)); }

std::string random_token() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

std::string ms_text(milliseconds d) { return std::to_string(d.count()) + " ms"; }

struct MarkCall {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::optional<std::int64_t> micros;
  std::string error;

  void finish(std::optional<std::int64_t> v, std::string err) {
    std::lock_guard lock(m);
    if (finished)
      return;
    micros = v;
    error = std::move(err);
    finished = true;
    cv.notify_all();
  }
};

/// A claim from queueing to its answer. Only the store's thread touches it.
struct Claim {
  ClaimTicket ticket;
  Steady::time_point deadline;
  bool settled = false;
  bool settled_claimed = false; // answered claimed (by Redis, or by fail-open)
};

struct Op {
  enum Kind : std::uint8_t { claim, confirm, release, get_mark, set_mark };
  Op(Kind k, std::string full_key, std::int64_t v) : kind(k), key(std::move(full_key)), value(v) {}

  Kind kind;
  std::string key;                       // with the prefix
  std::int64_t value;                    // lease or TTL in ms; set_mark: microseconds
  Steady::time_point at = Steady::now(); // queued
  ClaimTicket ticket;                    // claim, until the store's thread wraps it
  std::shared_ptr<Claim> state;          // claim, on the store's thread
  std::shared_ptr<MarkCall> mark;        // get_mark, set_mark
};

constexpr const char* handshake_names[] = {"AUTH", "SELECT", "SCRIPT LOAD", "SCRIPT LOAD"}; // by Sent::Kind
constexpr ClaimResult script_results[] = {ClaimResult::claimed, ClaimResult::done, ClaimResult::in_progress};

/// A command awaiting its answer; answers arrive in the order commands were sent.
struct Sent {
  enum Kind : std::uint8_t { auth, select, load_claim, load_release, reload, request };
  Kind kind;
  Steady::time_point sent;
  std::optional<Op> op;
};

} // namespace

/// Looks host names up on its own thread: getaddrinfo blocks, sometimes for
/// seconds, and the store's thread must keep answering claims meanwhile.
class Resolver {
public:
  /// `done` runs on the resolver's thread after each lookup.
  Resolver(std::string host, std::function<void()> done) : host_(std::move(host)), done_(std::move(done)) {
    thread_ = std::thread([this] { run(); });
  }
  /// Waits for a lookup in progress to end.
  ~Resolver() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void request() {
    {
      std::lock_guard lock(m_);
      wanted_ = true;
    }
    cv_.notify_one();
  }

  /// The addresses of the last finished lookup (numeric, in getaddrinfo's order), or its error.
  bool take(std::vector<std::string>& addresses, std::string& error) {
    std::lock_guard lock(m_);
    if (!ready_)
      return false;
    ready_ = false;
    addresses = std::move(addresses_);
    error = std::move(error_);
    return true;
  }

private:
  void run() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return wanted_ || stop_; });
      if (stop_)
        return;
      wanted_ = false;
      lock.unlock();
      std::vector<std::string> found;
      std::string error;
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* list = nullptr;
      if (const int rc = ::getaddrinfo(host_.c_str(), nullptr, &hints, &list); rc != 0) {
        error = "cannot resolve " + host_ + ": " + ::gai_strerror(rc);
      } else {
        for (const addrinfo* a = list; a; a = a->ai_next) {
          char text[INET6_ADDRSTRLEN] = {};
          const void* where = a->ai_family == AF_INET6
                                  ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
          if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
              ::inet_ntop(a->ai_family, where, text, sizeof text))
            found.emplace_back(text);
        }
        ::freeaddrinfo(list);
        if (found.empty())
          error = "cannot resolve " + host_ + ": no address";
      }
      lock.lock();
      addresses_ = std::move(found);
      error_ = std::move(error);
      ready_ = true;
      lock.unlock();
      done_();
      lock.lock();
    }
  }

  const std::string host_;
  const std::function<void()> done_;
  std::mutex m_;
  std::condition_variable cv_;
  bool wanted_ = false, ready_ = false, stop_ = false;
  std::vector<std::string> addresses_;
  std::string error_;
  std::thread thread_;
};

bool numeric_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// ---- RedisOptions::from_url --------------------------------------------------

namespace {

[[noreturn]] void bad_url(const std::string& why) { throw std::invalid_argument("redis URL: " + why); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view s, const char* what) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      bad_url(std::string("bad percent escape in the ") + what);
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

template <class T> T number(std::string_view s, T lo, T hi, const char* what) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
    bad_url(std::string(what) + " must be a number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

} // namespace

RedisOptions RedisOptions::from_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.size() < scheme.size() || url.substr(0, scheme.size()) != scheme)
    bad_url("must start with redis:// (rediss:// and unix sockets are not supported)");
  std::string_view rest = url.substr(scheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    bad_url("query strings and fragments are not supported");
  RedisOptions o;
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty())
      o.db = number<int>(db, 0, INT_MAX, "the database (after /)");
  }
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      bad_url("credentials must be written [username]:password@");
    o.username = percent_decoded(userinfo.substr(0, colon), "username");
    o.password = percent_decoded(userinfo.substr(colon + 1), "password");
    authority = authority.substr(at + 1);
  }
  std::string_view after;                               // ":port" or nothing
  if (!authority.empty() && authority.front() == '[') { // [IPv6 address]
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos)
      bad_url("unclosed [ in the host");
    o.host = std::string(authority.substr(1, close - 1));
    after = authority.substr(close + 1);
  } else {
    const std::size_t colon = authority.find(':');
    o.host = std::string(authority.substr(0, colon));
    after = colon == std::string_view::npos ? std::string_view() : authority.substr(colon);
  }
  if (o.host.empty())
    bad_url("no host");
  if (!after.empty()) {
    if (after.front() != ':')
      bad_url("unexpected text after the host");
    o.port = number<std::uint16_t>(after.substr(1), 1, 65535, "the port");
  }
  return o;
}

// ---- the store -----------------------------------------------------------------

struct RedisStore::Impl {
  enum class Phase : std::uint8_t { down, connecting, up };

  // The store this serves; cleared when the store goes first (see ~RedisStore).
  std::mutex owner_m;
  RedisStore* owner;
  void report(std::string_view line) {
    std::lock_guard lock(owner_m);
    if (owner)
      owner->report(line);
  }
  const RedisOptions opt;
  const std::string where;       // "redis host:port/db", for the error hook
  const std::string claim_value; // "claimed:<token>"

  // Shared with callers.
  std::mutex m;
  std::vector<Op> incoming;
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
  std::string claim_sha, release_sha;
  int reloads = 0;         // SCRIPT LOADs sent after a NOSCRIPT and not yet answered
  std::string drop_reason; // why we are closing the connection ourselves
  bool drop_requested = false;
  bool closing = false;
  bool handshake_refused = false; // this connection's AUTH, SELECT or SCRIPT LOAD got an error
  bool quiet = false;             // reconnecting at once (an idle connection was closed, or another address is left)
  std::string reason_down = "not connected";
  std::vector<std::string> addresses; // of the host, tried in turn within one attempt
  std::size_t next_address = 0;
  std::unique_ptr<Resolver> resolver; // for a host name; none for an address
  bool resolving = false;
  Steady::time_point connect_deadline{}, retry_at{}, stop_deadline{};
  milliseconds backoff;
  std::uint64_t rejected_seen = 0;
  detail::Outage outage, overload;

  Impl(RedisStore& o, RedisOptions op)
      : owner(&o), opt(std::move(op)), where(describe(opt)), claim_value("claimed:" + random_token()),
        backoff(opt.reconnect_min),
        outage([this](std::string_view s) { report(s); }, where,
               opt.fail_open ? "fail-open: claims proceed without de-duplication until it is back"
                             : "claims answer unavailable until it is back",
               "answering again", opt.fail_open ? "proceeded without de-duplication" : "answered unavailable"),
        overload([this](std::string_view s) { report(s); }, where,
                 opt.fail_open ? "fail-open: claims proceed without de-duplication until they are answered"
                               : "claims answer unavailable until they are answered",
                 "pending claims answered",
                 opt.fail_open ? "proceeded without de-duplication" : "answered unavailable") {
    validate(opt);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
      throw std::system_error(errno, std::generic_category(), "redis store: pipe");
    wake_r = fds[0];
    wake_w = fds[1];
    try {
      if (!numeric_address(opt.host))
        resolver = std::make_unique<Resolver>(opt.host, [this] { kick(); });
    } catch (...) {
      ::close(wake_r);
      ::close(wake_w);
      throw;
    }
  }
  /// The thread holds the Impl too: a store destroyed on its own thread (a
  /// claim's completion dropped the last reference) leaves it alive until
  /// the thread has finished.
  static void start(const std::shared_ptr<Impl>& self) {
    self->thread = std::thread([self] { self->run(); });
  }
  /// The store goes: the thread writes what is queued (bounded) and ends;
  /// joined, unless this is that thread, which cannot wait for itself.
  void stop() {
    {
      std::lock_guard lock(m);
      stopping = true;
    }
    {
      std::lock_guard lock(owner_m);
      owner = nullptr;
    }
    kick();
    if (thread.get_id() == std::this_thread::get_id())
      thread.detach();
    else if (thread.joinable())
      thread.join();
  }

  ~Impl() {
    resolver.reset(); // after the thread that calls it
    ::close(wake_r);
    ::close(wake_w);
  }

  static std::string describe(const RedisOptions& o) {
    const bool v6 = o.host.find(':') != std::string::npos;
    std::string s = "redis " + (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
    if (o.db != 0)
      s += "/" + std::to_string(o.db);
    return s;
  }

  static void validate(const RedisOptions& o) {
    auto refuse = [](const char* what) { throw std::invalid_argument(std::string("RedisStore: ") + what); };
    if (o.host.empty())
      refuse("empty host");
    if (o.port == 0)
      refuse("port 0");
    if (o.db < 0)
      refuse("negative db");
    if (o.connect_timeout.count() <= 0 || o.command_timeout.count() <= 0)
      refuse("timeouts must be positive");
    if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min)
      refuse("reconnect_min must be positive and at most reconnect_max");
    if (o.max_pending == 0)
      refuse("max_pending must be positive");
  }

  ClaimResult refusal() const noexcept { return opt.fail_open ? ClaimResult::claimed : ClaimResult::unavailable; }

  // ---- callers' side --------------------------------------------------------

  void kick() {
    const char c = 0;
    while (::write(wake_w, &c, 1) < 0 && errno == EINTR) {
    }
  }

  void push(Op&& op, ClaimDeferral* later = nullptr) {
    bool wake = false;
    {
      std::lock_guard lock(m);
      if (later)
        op.ticket = later->defer();
      incoming.push_back(std::move(op));
      wake = !std::exchange(signalled, true);
    }
    if (wake)
      kick();
  }

  std::optional<ClaimResult> claim(std::string_view key, milliseconds lease, ClaimDeferral& later) {
    if (pending.fetch_add(1, std::memory_order_relaxed) >= opt.max_pending) {
      pending.fetch_sub(1, std::memory_order_relaxed);
      rejected.fetch_add(1, std::memory_order_relaxed);
      kick(); // the store's thread tells the error hook
      return refusal();
    }
    push(Op(Op::claim, opt.key_prefix + std::string(key), lease.count()), &later);
    return std::nullopt;
  }

  std::shared_ptr<MarkCall> call_mark(Op&& op) {
    auto call = std::make_shared<MarkCall>();
    op.mark = call;
    push(std::move(op));
    std::unique_lock lock(call->m);
    if (!call->cv.wait_for(lock, opt.command_timeout + milliseconds(50), [&] { return call->finished; }))
      throw std::runtime_error(where + ": no answer within " + ms_text(opt.command_timeout));
    if (!call->error.empty())
      throw std::runtime_error(where + ": " + call->error);
    return call;
  }

  // ---- hiredis' event hooks: the poll loop below reads these flags -----------

  static Impl& self(void* p) { return *static_cast<Impl*>(p); }
  static void add_read(void* p) { self(p).want_read = true; }
  static void del_read(void* p) { self(p).want_read = false; }
  static void add_write(void* p) { self(p).want_write = true; }
  static void del_write(void* p) { self(p).want_write = false; }
  static void cleanup(void* p) { self(p).gone(); }            // the context is being freed, after its callbacks ran
  static void on_connect(const redisAsyncContext*, int) {}    // failure reaches gone() through cleanup
  static void on_disconnect(const redisAsyncContext*, int) {} // runs after cleanup: nothing left to do
  static void on_reply(redisAsyncContext*, void* reply, void* p) { self(p).answer(static_cast<redisReply*>(reply)); }

  /// Why the connection failed, while the context still exists.
  std::string reason() const {
    if (!drop_reason.empty())
      return drop_reason;
    if (ac && ac->c.err)
      return ac->c.errstr;
    return "connection closed";
  }

  // ---- the store's thread ---------------------------------------------------

  void run() {
    sigset_t pipe_only; // hiredis writes with write(2): a closed socket must give EPIPE, not kill the process
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);

    connect();
    for (;;) {
      const Steady::time_point now = Steady::now();
      pollfd fds[2] = {{wake_r, POLLIN, 0}, {-1, 0, 0}};
      if (ac)
        fds[1] = {ac->c.fd, static_cast<short>((want_read ? POLLIN : 0) | (want_write ? POLLOUT : 0)), 0};
      const Steady::time_point next = next_timer();
      int timeout = -1;
      if (next != Steady::time_point::max())
        timeout =
            static_cast<int>(std::clamp<std::int64_t>(std::chrono::ceil<milliseconds>(next - now).count(), 0, 60'000));
      if (::poll(fds, 2, timeout) < 0 && errno != EINTR)
        break; // cannot happen with valid descriptors
      if (ac && fds[1].revents) {
        const bool err = fds[1].revents & (POLLERR | POLLHUP | POLLNVAL);
        if (fds[1].revents & POLLIN || (err && (ac->c.flags & REDIS_CONNECTED)))
          redisAsyncHandleRead(ac);
        if (ac && (fds[1].revents & POLLOUT || (err && !(ac->c.flags & REDIS_CONNECTED))))
          redisAsyncHandleWrite(ac); // also how a refused connect is noticed
      }
      if (fds[0].revents) {
        take_incoming();
        if (resolving)
          resolved();
      }
      timers();
      if (drop_requested)
        drop();
      if (closing && finished_closing())
        break;
    }
    shut_down();
  }

  Steady::time_point next_timer() const {
    Steady::time_point t = Steady::time_point::max();
    if (!deadlines.empty())
      t = std::min(t, deadlines.front()->deadline);
    if (phase == Phase::connecting)
      t = std::min(t, connect_deadline);
    if (phase == Phase::up && !inflight.empty())
      t = std::min(t, inflight.front().sent + opt.command_timeout);
    if (phase == Phase::down && !closing)
      t = std::min(t, retry_at);
    if (closing)
      t = std::min(t, stop_deadline);
    return t;
  }

  void take_incoming() {
    char buf[64];
    while (::read(wake_r, buf, sizeof buf) > 0) {
    }
    std::vector<Op> ops;
    bool stop;
    {
      std::lock_guard lock(m);
      ops.swap(incoming);
      signalled = false;
      stop = stopping;
    }
    const std::uint64_t r = rejected.load(std::memory_order_relaxed);
    if (!ops.empty() || r != rejected_seen) {
      outage.used();
      overload.used();
    }
    if (r != rejected_seen) {
      overload.failed(std::to_string(opt.max_pending) + " claims pending");
      for (; rejected_seen < r; ++rejected_seen)
        overload.refused();
    } else if (!ops.empty()) {
      overload.worked();
    }
    for (Op& op : ops)
      dispatch(std::move(op));
    if (stop && !closing) {
      closing = true;
      stop_deadline = Steady::now() + opt.command_timeout;
    }
  }

  void dispatch(Op&& op) {
    if (op.kind == Op::claim) {
      op.state = std::make_shared<Claim>();
      op.state->ticket = std::move(op.ticket);
      op.state->deadline = op.at + opt.command_timeout;
      deadlines.push_back(op.state);
    }
    switch (phase) {
    case Phase::up: send(std::move(op)); break;
    case Phase::connecting: waiting.push_back(std::move(op)); break;
    case Phase::down:
      if (quiet)
        waiting.push_back(std::move(op)); // reconnecting at once
      else
        unsent(std::move(op), reason_down);
      break;
    }
  }

  /// An op that cannot be sent now.
  void unsent(Op&& op, const std::string& why) {
    switch (op.kind) {
    case Op::claim:
      if (!op.state->settled)
        outage.refused();
      settle(*op.state, refusal());
      break;
    case Op::confirm:
      retry.push_back(std::move(op));
      if (retry.size() > opt.max_pending) // a long outage: forget the oldest
        retry.pop_front();
      break;
    case Op::release: break; // its lease lapses
    case Op::get_mark:
    case Op::set_mark: op.mark->finish(std::nullopt, why); break;
    }
  }

  void settle(Claim& c, ClaimResult r) {
    if (c.settled)
      return;
    c.settled = true;
    c.settled_claimed = r == ClaimResult::claimed;
    pending.fetch_sub(1, std::memory_order_relaxed);
    try {
      c.ticket.complete(r);
    } catch (const std::exception& e) {
      report(std::string("a claim's completion threw: ") + e.what());
    } catch (...) {
      report("a claim's completion threw");
    }
    c.ticket = {};
  }

  bool command(Sent&& s, std::initializer_list<std::string_view> args) {
    const char* argv[8];
    std::size_t len[8];
    int n = 0;
    for (std::string_view a : args) {
      argv[n] = a.data();
      len[n++] = a.size();
    }
    if (redisAsyncCommandArgv(ac, on_reply, this, n, argv, len) != REDIS_OK)
      return false;
    inflight.push_back(std::move(s));
    return true;
  }

  void send(Op&& op) {
    if (op.kind == Op::claim && op.state->settled)
      return; // answered by its deadline while waiting: sending it would only claim the key for nobody
    std::string a;
    bool ok = false;
    Sent s{Sent::request, Steady::now(), std::nullopt};
    s.op.emplace(std::move(op));
    Op& o = *s.op;
    switch (o.kind) {
    case Op::claim:
      a = expiry(o.value);
      ok = command(std::move(s), {"EVALSHA", claim_sha, "1", o.key, claim_value, a});
      break;
    case Op::confirm: {
      const auto left = o.value - std::chrono::duration_cast<milliseconds>(Steady::now() - o.at).count();
      if (left <= 0)
        return; // expired while it waited: nothing to remember
      a = expiry(left);
      ok = command(std::move(s), {"SET", o.key, "done", "PX", a});
      break;
    }
    case Op::release: ok = command(std::move(s), {"EVALSHA", release_sha, "1", o.key, claim_value}); break;
    case Op::get_mark: ok = command(std::move(s), {"GET", o.key}); break;
    case Op::set_mark:
      a = std::to_string(o.value);
      ok = command(std::move(s), {"SET", o.key, a});
      break;
    }
    if (!ok) // the context is going away; s was not moved from
      unsent(std::move(*s.op), reason());
  }

  // ---- connection ------------------------------------------------------------

  /// Connects to the host's next address, or starts over: looks the host up again (names may move).
  void connect() {
    reason_down = "not connected";
    drop_reason.clear();
    phase = Phase::connecting;
    connect_deadline = Steady::now() + opt.connect_timeout;
    if (next_address < addresses.size()) {
      connect_to(addresses[next_address++]);
      return;
    }
    addresses.clear();
    next_address = 0;
    if (!resolver) {
      addresses.push_back(opt.host);
      connect_to(addresses[next_address++]);
      return;
    }
    if (!resolving) { // else a lookup is still running: wait for it
      resolving = true;
      resolver->request();
    }
  }

  /// A lookup may have finished.
  void resolved() {
    std::string error;
    if (!resolver->take(addresses, error))
      return;
    resolving = false;
    next_address = 0;
    if (phase != Phase::connecting || ac)
      return; // gave up waiting for it; the next attempt looks up again
    if (addresses.empty())
      failed_attempt(error);
    else
      connect_to(addresses[next_address++]);
  }

  void connect_to(const std::string& address) {
    handshake_refused = false;
    redisAsyncContext* c = redisAsyncConnect(address.c_str(), opt.port);
    if (!c || c->err) {
      const std::string why = c ? c->errstr : "cannot allocate a connection";
      if (c)
        redisAsyncFree(c);
      attempt_failed(why);
      return;
    }
    ::fcntl(c->c.fd, F_SETFD, FD_CLOEXEC); // hiredis 0.14 opens it without: --exec children must not inherit it
    redisEnableKeepAlive(&c->c);
    ac = c;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(ac, on_connect); // asks for the first write event, which completes the connect
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    const Steady::time_point now = Steady::now();
    // Pipelined behind the connect; the last answer opens the store.
    bool ok = true;
    if (!opt.password.empty()) {
      if (opt.username.empty())
        ok = ok && command({Sent::auth, now, std::nullopt}, {"AUTH", opt.password});
      else
        ok = ok && command({Sent::auth, now, std::nullopt}, {"AUTH", opt.username, opt.password});
    }
    const std::string db = std::to_string(opt.db);
    if (opt.db != 0)
      ok = ok && command({Sent::select, now, std::nullopt}, {"SELECT", db});
    ok = ok && command({Sent::load_claim, now, std::nullopt}, {"SCRIPT", "LOAD", claim_script});
    ok = ok && command({Sent::load_release, now, std::nullopt}, {"SCRIPT", "LOAD", release_script});
    if (!ok)
      request_drop("cannot queue commands");
  }

  /// One address failed: the next is tried at once, quietly; after the last, the attempt failed.
  void attempt_failed(const std::string& why) {
    if (next_address < addresses.size() && !closing) {
      phase = Phase::down;
      quiet = true;
      reason_down = why;
      retry_at = Steady::now();
      return;
    }
    failed_attempt(why);
  }

  void failed_attempt(const std::string& why) {
    phase = Phase::down;
    quiet = false;
    next_address = addresses.size(); // the next attempt starts over
    reason_down = why;
    if (!closing)
      outage.failed(why);
    retry_at = Steady::now() + backoff;
    backoff = std::min(backoff * 2, opt.reconnect_max);
    for (Op& op : std::exchange(waiting, {}))
      unsent(std::move(op), why);
  }

  /// The context is being freed (hiredis' cleanup hook): every pending callback already ran.
  void gone() {
    const std::string why = reason();
    const bool was_up = phase == Phase::up;
    ac = nullptr;
    want_read = want_write = false;
    drop_requested = false;
    inflight.clear();
    reloads = 0;
    if (was_up) {
      next_address = addresses.size(); // reconnect from a fresh lookup
      if (drop_reason.empty() && !outage.down() && !closing) {
        // Closed while idle (Redis' `timeout`, a proxy, a restart): nobody was refused, so no outage yet.
        phase = Phase::down;
        quiet = true;
        reason_down = why;
        retry_at = Steady::now();
        return;
      }
      failed_attempt(why);
      return;
    }
    if (handshake_refused)
      failed_attempt(why); // AUTH, SELECT or SCRIPT LOAD refused: the same at every address
    else
      attempt_failed(why); // refused, reset or silent: another address may answer
  }

  void request_drop(std::string why) {
    if (drop_reason.empty())
      drop_reason = std::move(why);
    drop_requested = true;
  }

  void drop() {
    drop_requested = false;
    if (ac)
      redisAsyncFree(ac); // runs every pending callback with no reply, then cleanup → gone()
  }

  /// Connected and set up. The outage (if any) ends with the first command that works, not here: a
  /// replica or a full Redis accepts connections and still refuses claims.
  void opened() {
    phase = Phase::up;
    quiet = false;
    connect_deadline = {};
    for (Op& op : std::exchange(waiting, {}))
      send(std::move(op));
    for (Op& op : std::exchange(retry, {}))
      send(std::move(op));
  }

  void timers() {
    const Steady::time_point now = Steady::now();
    while (!deadlines.empty() && (deadlines.front()->settled || deadlines.front()->deadline <= now)) {
      Claim& c = *deadlines.front();
      if (!c.settled) {
        if (!closing)
          outage.failed((phase == Phase::up ? "no answer within " : "not connected within ") +
                        ms_text(opt.command_timeout));
        outage.refused();
        settle(c, refusal());
      }
      deadlines.pop_front();
    }
    if (phase == Phase::connecting && now >= connect_deadline && ac)
      request_drop("not connected within " + ms_text(opt.connect_timeout));
    else if (phase == Phase::connecting && now >= connect_deadline) // still looking the host up
      failed_attempt(opt.host + " not resolved within " + ms_text(opt.connect_timeout));
    else if (phase == Phase::up && !inflight.empty() && now >= inflight.front().sent + opt.command_timeout)
      request_drop("no answer within " + ms_text(opt.command_timeout));
    else if (phase == Phase::down && !closing && now >= retry_at)
      connect();
  }

  // ---- answers ---------------------------------------------------------------

  void answer(redisReply* r) {
    if (inflight.empty())
      return; // cannot happen: every command with this callback was recorded
    Sent s = std::move(inflight.front());
    inflight.pop_front();
    const bool error = r && r->type == REDIS_REPLY_ERROR;
    const std::string error_text = error ? std::string(r->str, r->len) : std::string();
    switch (s.kind) {
    case Sent::auth:
    case Sent::select:
    case Sent::load_claim:
    case Sent::load_release:
      if (!r)
        return; // the connection is going away: gone() follows
      if (error || (s.kind >= Sent::load_claim && r->type != REDIS_REPLY_STRING)) {
        handshake_refused = true;
        request_drop(std::string(handshake_names[s.kind]) + " failed: " + (error ? error_text : "unexpected answer"));
        return;
      }
      if (s.kind == Sent::load_claim)
        claim_sha.assign(r->str, r->len);
      if (s.kind == Sent::load_release) {
        release_sha.assign(r->str, r->len);
        if (drop_reason.empty())
          opened();
      }
      return;
    case Sent::reload: --reloads; return;
    case Sent::request: break;
    }
    Op& op = *s.op;
    if (!r) { // the connection is going away
      if (!closing)
        outage.failed(reason());
      unsent(std::move(op), reason());
      return;
    }
    if (error) {
      if (!closing)
        outage.failed("Redis answered: " + error_text);
      if (error_text.rfind("NOSCRIPT", 0) == 0)
        reload_scripts();
      // A replica after a failover, or a server still loading: another connection may reach the primary.
      for (std::string_view code : {"READONLY", "LOADING", "MASTERDOWN"})
        if (error_text.rfind(code, 0) == 0)
          request_drop("Redis answered: " + error_text);
      unsent(std::move(op), "Redis answered: " + error_text);
      return;
    }
    if (op.kind != Op::claim)
      worked();
    switch (op.kind) {
    case Op::claim: {
      if (r->type != REDIS_REPLY_INTEGER || r->integer < 0 || r->integer > 2) {
        outage.failed("unexpected answer to a claim");
        unsent(std::move(op), {});
        return;
      }
      worked();
      const ClaimResult result = script_results[r->integer];
      Claim& c = *op.state;
      if (!c.settled)
        settle(c, result);
      else if (result == ClaimResult::claimed && !c.settled_claimed)
        send(Op(Op::release, std::move(op.key), 0)); // answered unavailable already: nobody handles it
      return;
    }
    case Op::confirm:
    case Op::release: return;
    case Op::get_mark: {
      if (r->type == REDIS_REPLY_NIL) {
        op.mark->finish(std::nullopt, {});
        return;
      }
      std::int64_t v = 0;
      const char* end = r->type == REDIS_REPLY_STRING ? r->str + r->len : nullptr;
      if (!end || std::from_chars(r->str, end, v).ptr != end || r->len == 0)
        op.mark->finish(std::nullopt, "the mark at " + op.key + " is not a number of microseconds");
      else
        op.mark->finish(v, {});
      return;
    }
    case Op::set_mark: op.mark->finish(std::nullopt, {}); return;
    }
  }

  /// A command worked: an outage is over, and the confirms kept during it can be written.
  void worked() {
    outage.worked();
    backoff = opt.reconnect_min;
    if (!retry.empty() && phase == Phase::up)
      for (Op& kept : std::exchange(retry, {}))
        send(std::move(kept));
  }

  /// Someone flushed Redis' script cache (SCRIPT FLUSH, a restart behind a proxy): load both again.
  void reload_scripts() {
    if (reloads > 0 || !ac)
      return;
    const Steady::time_point now = Steady::now();
    reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", claim_script});
    reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", release_script});
  }

  // ---- closing ---------------------------------------------------------------

  bool finished_closing() const {
    if (Steady::now() >= stop_deadline || phase == Phase::down)
      return true;
    return phase == Phase::up && inflight.empty();
  }

  void shut_down() {
    if (ac) {
      request_drop("closing");
      drop();
    }
    std::size_t lost = 0;
    for (Op& op : std::exchange(waiting, {}))
      lost += op.kind == Op::confirm;
    for (Op& op : retry)
      lost += op.kind == Op::confirm;
    for (auto& c : deadlines)
      settle(*c, ClaimResult::unavailable);
    deadlines.clear();
    if (lost > 0)
      report(where + ": " + std::to_string(lost) + " confirmed keys could not be written before closing");
  }
};

RedisStore::RedisStore(RedisOptions options) : impl_(std::make_shared<Impl>(*this, std::move(options))) {
  Impl::start(impl_);
}
RedisStore::RedisStore(std::string_view url) : RedisStore(RedisOptions::from_url(url)) {}
RedisStore::~RedisStore() { impl_->stop(); }

std::optional<ClaimResult> RedisStore::claim(std::string_view key, Now, std::chrono::milliseconds lease,
                                             ClaimDeferral& later) {
  return impl_->claim(key, lease, later);
}

void RedisStore::confirm(std::string_view key, Now, std::chrono::milliseconds ttl) {
  impl_->push(Op(Op::confirm, impl_->opt.key_prefix + std::string(key), ttl.count()));
}

void RedisStore::release(std::string_view key, Now) {
  impl_->push(Op(Op::release, impl_->opt.key_prefix + std::string(key), 0));
}

std::optional<std::chrono::sys_time<std::chrono::microseconds>> RedisStore::load_mark(std::string_view name) {
  auto call = impl_->call_mark(Op(Op::get_mark, impl_->opt.key_prefix + "mark:" + std::string(name), 0));
  if (!call->micros)
    return std::nullopt;
  return std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(*call->micros));
}

void RedisStore::save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) {
  impl_->call_mark(Op(Op::set_mark, impl_->opt.key_prefix + "mark:" + std::string(name), t.time_since_epoch().count()));
}

} // namespace topgg
