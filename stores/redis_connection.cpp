// The Redis store's connection: hiredis' context on the store's thread, the
// host's addresses tried in turn, the hand-shake pipelined behind the connect
// (AUTH, SELECT, SCRIPT LOAD), and what happens when it goes.
#include <fcntl.h>

#include "redis_impl.hpp"

namespace topgg {

using namespace detail::redis;

/// Why the connection failed, while the context still exists.
std::string RedisStore::Impl::reason() const {
  if (!drop_reason.empty())
    return drop_reason;
  if (ac && ac->c.err)
    return ac->c.errstr;
  return "connection closed";
}

bool RedisStore::Impl::command(Sent&& s, std::initializer_list<std::string_view> args) {
  const char* argv[20];
  std::size_t len[20];
  int n = 0;
  if (args.size() > 20)
    return false;
  for (std::string_view a : args) {
    argv[n] = a.data();
    len[n++] = a.size();
  }
  if (redisAsyncCommandArgv(ac, on_reply, this, n, argv, len) != REDIS_OK)
    return false;
  health_at = Steady::now() + opt.health_interval; // this command tells as much
  inflight.push_back(std::move(s));
  return true;
}

bool RedisStore::Impl::command_argv(Sent&& s, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> len;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    len.push_back(a.size());
  }
  if (redisAsyncCommandArgv(ac, on_reply, this, static_cast<int>(args.size()), argv.data(), len.data()) != REDIS_OK)
    return false;
  health_at = Steady::now() + opt.health_interval;
  inflight.push_back(std::move(s));
  return true;
}

/// Connects to the host's next address, or starts over: looks the host up again (names may move).
void RedisStore::Impl::connect() {
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
void RedisStore::Impl::resolved() {
  std::string error;
  bool no_such_host = false;
  if (!resolver->take(addresses, error, no_such_host))
    return;
  resolving = false;
  next_address = 0;
  if (phase != Phase::connecting || ac)
    return; // gave up waiting for it; the next attempt looks up again
  if (addresses.empty())
    failed_attempt(error, no_such_host);
  else
    connect_to(addresses[next_address++]);
}

void RedisStore::Impl::connect_to(const std::string& address) {
  handshake_refused = handshake_lasting = false;
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
  ok = ok && command({Sent::load_record, now, std::nullopt}, {"SCRIPT", "LOAD", record_script});
  ok = ok && command({Sent::load_take, now, std::nullopt}, {"SCRIPT", "LOAD", take_script});
  ok = ok && command({Sent::load_finish, now, std::nullopt}, {"SCRIPT", "LOAD", finish_script});
  if (!ok)
    request_drop("cannot queue commands");
}

/// One address failed: the next is tried at once, quietly; after the last, the attempt failed.
void RedisStore::Impl::attempt_failed(const std::string& why) {
  if (next_address < addresses.size() && !closing) {
    reconnect_at_once(why);
    return;
  }
  failed_attempt(why);
}

/// Down, but nobody is refused meanwhile: the next attempt starts at once.
void RedisStore::Impl::reconnect_at_once(const std::string& why) {
  phase = Phase::down;
  quiet = true;
  reason_down = why;
  retry_at = Steady::now();
}

/// `lasting`: the same will happen at every attempt until the configuration changes (a probe says so).
void RedisStore::Impl::failed_attempt(const std::string& why, bool lasting) {
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
  answer_probes(lasting ? RedisProbe::Kind::permanent : RedisProbe::Kind::transient, why);
}

/// The context is being freed (hiredis' cleanup hook): every pending callback already ran.
void RedisStore::Impl::gone() {
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
      reconnect_at_once(why);
      return;
    }
    failed_attempt(why);
    return;
  }
  if (handshake_refused)
    failed_attempt(why, handshake_lasting); // AUTH, SELECT or SCRIPT LOAD refused: the same at every address
  else
    attempt_failed(why); // refused, reset or silent: another address may answer
}

void RedisStore::Impl::request_drop(std::string why) {
  if (drop_reason.empty())
    drop_reason = std::move(why);
  drop_requested = true;
}

void RedisStore::Impl::drop() {
  drop_requested = false;
  if (ac)
    redisAsyncFree(ac); // runs every pending callback with no reply, then cleanup → gone()
}

/// Connected and set up. The outage (if any) ends with the first command that works, not here: a
/// replica or a full Redis accepts connections and still refuses claims.
void RedisStore::Impl::opened() {
  phase = Phase::up;
  quiet = false;
  connect_deadline = {};
  for (Op& op : std::exchange(waiting, {}))
    send(std::move(op));
  for (Op& op : std::exchange(retry, {}))
    send(std::move(op));
  if (outage.down()) // find out now whether it takes writes again, not at the next delivery
    health_at = Steady::now();
  answer_probes(RedisProbe::Kind::ok, {});
}

} // namespace topgg
