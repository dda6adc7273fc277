// Internal to the adapters: what a server is, whatever its loop — the open
// connections, the accept burst with the connection cap and the pause when
// out of descriptors, graceful close and abort, the owned loop's thread.
#pragma once

#include <cerrno>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>

#include "deadlines.hpp"
#include "socket.hpp"
#include "topgg/driver.hpp"

namespace topgg::sock {

/// `Conn` has `driver` and `deadline` members; `Ptr` is how the set holds it
/// (see ConnectionSet).
template <class Conn, class Ptr = Conn*> struct ServerCore {
  explicit ServerCore(Router& r) : router(r) {}

  /// The read buffer every connection of this server shares: the core copies
  /// whatever it cannot use at once, so an idle connection holds none.
  std::span<char> scratch() noexcept { return {buf.get(), read_buffer_size}; }

  /// Accepts what is pending (a burst at a time, so the loop's other work goes
  /// on); `admit(fd, peer)` takes each one under the cap, others are closed at
  /// once. False when out of descriptors: the connection stays queued and
  /// accepting again at once would spin, so pause for a moment.
  template <class Admit> bool accept_pending(int listener, Admit&& admit) {
    conns.set_cap(router.settings().max_connections);
    for (int i = 0; i < 64 && !stopping; ++i) {
      std::string peer;
      const int fd = accept(listener, peer);
      if (fd < 0)
        return !out_of_resources(errno);
      if (conns.full())
        close(fd);
      else
        admit(fd, peer);
    }
    return true;
  }

  /// A connection's arm_timer hook. Returns when the loop timer must fire
  /// now, if it must move earlier (or start); nullopt: leave it.
  std::optional<Clock::time_point> arm(Conn& c, std::optional<Clock::time_point> at) {
    deadlines.set(c, at);
    const std::optional<Clock::time_point> first = deadlines.earliest();
    if (firing || !first || (timer_at && *timer_at <= *first))
      return std::nullopt;
    return timer_at = first;
  }
  /// The loop timer fired: `due(conn, now)` runs for every connection due
  /// (it calls the driver's on_timer). Returns when to fire next (nullopt:
  /// no deadline left).
  template <class F> std::optional<Clock::time_point> fire(F&& due) {
    struct Firing { // arm() leaves the loop timer alone meanwhile: it is re-armed below
      bool& on;
      explicit Firing(bool& f) : on(f) { on = true; }
      ~Firing() { on = false; }
    } guard(firing);
    const Now now = Now::current();
    deadlines.expire(now.mono, [&](Conn& c) { due(c, now); });
    return timer_at = deadlines.earliest();
  }

  /// A connection's close hook: it is no longer open, and has no deadline.
  void forget(Conn& c) {
    deadlines.remove(c);
    conns.remove(c.id);
  }

  /// Graceful close: every connection answers what it received, then closes.
  void shutdown_all() {
    stopping = true;
    const Now now = Now::current();
    conns.each([now](Conn& c) { c.driver.shutdown(now); });
  }
  /// Immediate close: nothing of the user's runs for these connections again.
  void close_all() {
    stopping = true;
    conns.each([](Conn& c) { c.driver.close(); });
  }
  /// Tells the manager, once, when a close has left nothing open.
  void closed_check() {
    if (stopping && conns.empty() && on_closed)
      std::exchange(on_closed, nullptr)();
  }

  static constexpr std::size_t read_buffer_size = 64 * 1024;
  Router& router;
  Workspace workspace;
  Deadlines<Conn> deadlines;
  std::optional<Clock::time_point> timer_at; // when the loop timer fires, if armed
  bool firing = false;
  ConnectionSet<Conn, Ptr> conns{1024};
  std::function<void()> on_closed; // the manager's; cleared if the manager goes first
  bool stopping = false;
  std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_buffer_size);
};

/// Runs a task posted to the loop; what it throws is told on stderr, never
/// propagated into the loop.
void run_contained(const std::function<void()>& task) noexcept;

/// The thread of an owned loop. Sends use MSG_NOSIGNAL; blocking SIGPIPE
/// here covers anything else that might write to a socket on this thread.
std::thread loop_thread(std::function<void()> run);

/// An owned loop's thread across runs: started by run(), joined by close() —
/// or, when close() ran on that thread (it cannot join itself), by the next
/// run(), once the loop has ended. `ended` runs after each join (libuv closes
/// its loop there).
class OwnedThread {
public:
  void start(std::function<void()> run) { thread_ = loop_thread(std::move(run)); }
  /// close(): joins unless called on the thread itself.
  template <class Ended> void join_unless_self(Ended&& ended) {
    std::lock_guard lock(m_); // two close() calls at once join once
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
      thread_.join();
      ended();
    }
  }
  /// run(): joins a thread left by a close() made on it; refuses to run on it.
  template <class Ended> void join_ended(Ended&& ended) {
    if (thread_.joinable() && thread_.get_id() == std::this_thread::get_id())
      throw std::logic_error("WebhookManager::run() on the loop thread of the run that is ending");
    join_unless_self(std::forward<Ended>(ended));
  }

private:
  std::mutex m_;
  std::thread thread_;
};

} // namespace topgg::sock
