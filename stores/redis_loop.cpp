// The Redis store's thread: one poll(2) loop over the wake pipe and hiredis'
// socket, the timers (claims' deadlines, connect, commands, reconnect), and
// closing.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "redis_impl.hpp"

namespace topgg {

using namespace detail::redis;

void RedisStore::Impl::run() {
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

Steady::time_point RedisStore::Impl::next_timer() const {
  Steady::time_point t = Steady::time_point::max();
  if (!deadlines.empty())
    t = std::min(t, deadlines.front()->deadline);
  if (phase == Phase::connecting)
    t = std::min(t, connect_deadline);
  if (phase == Phase::up && !inflight.empty())
    t = std::min(t, inflight.front().sent + opt.command_timeout);
  if (phase == Phase::up && inflight.empty() && !closing)
    t = std::min(t, health_at);
  if (phase == Phase::down && !closing)
    t = std::min(t, retry_at);
  if (closing)
    t = std::min(t, stop_deadline);
  return t;
}

void RedisStore::Impl::take_incoming() {
  char buf[64];
  while (::read(wake_r, buf, sizeof buf) > 0) {
  }
  std::vector<Op> ops;
  std::vector<std::shared_ptr<ProbeCall>> new_probes;
  bool stop;
  {
    std::lock_guard lock(m);
    ops.swap(incoming);
    new_probes.swap(incoming_probes);
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
  for (auto& p : new_probes)
    probe_arrived(std::move(p));
}

/// Connected: ok now. Else the probe waits for the attempt under way, or for one started now
/// rather than after the back-off (timers() starts it, later in this turn of the loop).
void RedisStore::Impl::probe_arrived(std::shared_ptr<ProbeCall> p) {
  if (closing)
    return p->finish(RedisProbe::Kind::transient, "the store is closing");
  if (phase == Phase::up)
    return p->finish(RedisProbe::Kind::ok, {});
  if (phase == Phase::down)
    retry_at = Steady::now();
  probes.push_back(std::move(p));
}

/// An attempt ended (connected and set up, or failed at every address).
void RedisStore::Impl::answer_probes(RedisProbe::Kind kind, const std::string& why) {
  for (auto& p : std::exchange(probes, {}))
    p->finish(kind, kind == RedisProbe::Kind::ok ? std::string() : why);
}

void RedisStore::Impl::timers() {
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
  else if (phase == Phase::up && inflight.empty() && !closing && !drop_requested && now >= health_at)
    send(Op(Op::health, opt.key_prefix + "health", 2 * opt.health_interval.count()));
}

// ---- closing ---------------------------------------------------------------

bool RedisStore::Impl::finished_closing() const {
  if (Steady::now() >= stop_deadline || phase == Phase::down)
    return true;
  return phase == Phase::up && inflight.empty();
}

void RedisStore::Impl::shut_down() {
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
  answer_probes(RedisProbe::Kind::transient, "the store is closing");
  if (lost > 0)
    report(where + ": " + std::to_string(lost) + " confirmed keys could not be written before closing");
}

} // namespace topgg
