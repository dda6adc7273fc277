// The connection driver: the one place that decides, after every event, what
// to write, whether to read, when the timer fires and when to close. An
// event loop (the libuv and Asio adapters, the byte-level example, the test
// harness) provides a Transport of six non-blocking hooks and calls the
// Driver's on_* functions from its events; it makes no decision of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "topgg/connection.hpp"

namespace topgg {

/// What one non-blocking read or write did.
struct IoResult {
  /// The outcomes a transport reports.
  enum Kind : unsigned char {
    done,        ///< `bytes` were read or written (a read of 0 bytes is never `done`)
    would_block, ///< nothing now: wait for readiness
    eof,         ///< reads only: the peer shut down its sending side
    failed,      ///< the connection is broken (reset, …): close it
  } kind = done;          ///< how the call ended
  std::size_t bytes = 0; ///< bytes read or written when `done`; 0 otherwise
};

/// The hooks a transport provides (a concept; no virtual call):
///
///   IoResult read(std::span<char> into);   // recv, non-blocking
///   IoResult write(std::string_view out);  // send, non-blocking, never raising SIGPIPE
///   void want_read(bool on);               // call Driver::on_readable() while readable (or stop)
///   void want_write(bool on);              // call Driver::on_writable() once writable (or stop)
///   void arm_timer(std::optional<Clock::time_point> at); // call Driver::on_timer() at `at`, replacing any earlier
///   void close();                          // release the socket; the Driver calls nothing after it
///
/// The Driver calls want_read, want_write and arm_timer only when their
/// value changes. All calls happen on the loop thread.
template <class Transport>
concept DriverTransport = requires(Transport t, std::span<char> in, std::string_view out,
                                   std::optional<Clock::time_point> at) {
  { t.read(in) } -> std::same_as<IoResult>;
  { t.write(out) } -> std::same_as<IoResult>;
  t.want_read(true);
  t.want_write(true);
  t.arm_timer(at);
  t.close();
};

/// Drives one Connection over `Transport`. Not thread-safe: the loop thread
/// calls everything; only the waker given to Connection::set_waker runs
/// elsewhere, and it must post on_wake() to the loop.
template <DriverTransport Transport> class Driver {
public:
  /// `router` and `transport` must outlive the driver; `workspace` (optional)
  /// too. Call start() once the transport is ready for the hooks.
  Driver(Router& router, Transport& transport, Now now, Workspace* workspace = nullptr)
      : conn_(router, now, workspace), t_(transport) {}

  /// The connection driven: set its waker and peer before start().
  Connection& connection() noexcept { return conn_; }
  /// True once the transport was closed: destroy the driver (and transport).
  bool closed() const noexcept { return closed_; }

  /// Once, when the transport can take the hooks' calls: asks for reading and arms the first timer.
  void start(Now now) { settle(now); }
  /// The socket is readable: one read into `scratch` (a buffer shared by the
  /// loop's connections; the core copies whatever it cannot use at once).
  void on_readable(Now now, std::span<char> scratch) {
    if (closed_ || !conn_.want_read())
      return settle(now);
    const IoResult r = t_.read(scratch);
    switch (r.kind) {
    case IoResult::done: conn_.receive({scratch.data(), r.bytes}, now); break;
    case IoResult::eof:
      eof_ = true;
      conn_.receive_eof(now);
      break;
    case IoResult::failed: return close(); // ECONNRESET and friends
    case IoResult::would_block: break;
    }
    settle(now);
  }
  /// The socket became writable after want_write(true): writes what waits.
  void on_writable(Now now) {
    writable_wanted_ = false; // one-shot: asked again by settle() if still needed
    settle(now);
  }
  /// The time given to arm_timer() came: the connection's timeouts are checked.
  void on_timer(Now now) {
    armed_ = unarmed;
    if (!closed_)
      conn_.on_timer(now);
    settle(now);
  }
  /// An Ack or a deferred claim completed (the waker fired): on the loop thread.
  void on_wake(Now now) {
    if (!closed_)
      conn_.resume(now);
    settle(now);
  }
  /// Graceful close: answers what was received (and a request on its way,
  /// see Connection::shutdown), then closes.
  void shutdown(Now now) {
    if (!closed_)
      conn_.shutdown(now);
    settle(now);
  }
  /// Immediate close (the server stops, or the transport failed).
  void close() {
    if (closed_)
      return;
    closed_ = true;
    t_.close();
  }

private:
  // After every event: write, close when done, read on/off, write-readiness
  // on/off, re-arm the timer. The only place these are decided.
  void settle(Now now) {
    if (closed_)
      return;
    for (std::string_view out = conn_.output(); !out.empty(); out = conn_.output()) {
      const IoResult r = t_.write(out);
      if (r.kind == IoResult::failed)
        return close();
      if (r.kind != IoResult::done || r.bytes == 0)
        break;
      conn_.consume(r.bytes); // may go on with held input, producing more output
    }
    if (conn_.done())
      return close();
    const bool write = !conn_.output().empty();
    if (write != writable_wanted_)
      t_.want_write(writable_wanted_ = write);
    const bool read = conn_.want_read() && !eof_;
    if (read != reading_)
      t_.want_read(reading_ = read);
    const std::optional<Clock::time_point> d = conn_.deadline();
    if (d.value_or(unarmed) != armed_) {
      armed_ = d.value_or(unarmed);
      t_.arm_timer(d);
    }
    (void)now;
  }

  Connection conn_;
  Transport& t_;
  // What the timer is armed at; no deadline is ever this early. (Not an
  // optional: a driver per connection, 8 bytes less each.)
  static constexpr Clock::time_point unarmed = Clock::time_point::min();
  Clock::time_point armed_ = unarmed;
  bool reading_ = false, writable_wanted_ = false, eof_ = false, closed_ = false;
};

/// The connections of one server: ids, the connection cap, graceful-close
/// fan-out. `Ptr` is how the set holds a connection: a raw pointer where the
/// loop frees it later (libuv's close callbacks), a shared_ptr where the set's
/// reference keeps it alive. Loop thread only.
template <class C, class Ptr = C*> class ConnectionSet {
public:
  /// At most `cap` connections (Settings::max_connections); full() says when to stop accepting.
  explicit ConnectionSet(std::size_t cap) : cap_(cap) {}
  /// True when the cap is reached: accept no more until one is removed.
  bool full() const noexcept { return open_.size() >= cap_; }
  /// True when no connection is open (a graceful close may finish).
  bool empty() const noexcept { return open_.empty(); }
  /// Connections open now.
  std::size_t size() const noexcept { return open_.size(); }
  /// A new cap; connections above it stay open.
  void set_cap(std::size_t cap) noexcept { cap_ = cap; }
  /// Registers `c`; returns its id (never 0, never reused).
  std::uint64_t add(Ptr c) {
    const std::uint64_t id = next_++;
    open_.emplace(id, std::move(c));
    return id;
  }
  /// Forgets connection `id` (closed); an unknown id is ignored.
  void remove(std::uint64_t id) noexcept { open_.erase(id); }
  /// The open connection `id`, or nullptr if it was removed (a late wake).
  C* find(std::uint64_t id) const noexcept {
    auto it = open_.find(id);
    return it == open_.end() ? nullptr : &*it->second;
  }
  /// Calls f(c) on every open connection; f may close (and remove) any: each
  /// stays alive until f returns.
  template <class F> void each(F&& f) {
    std::vector<Ptr> now;
    now.reserve(open_.size());
    for (auto& [id, c] : open_)
      now.push_back(c);
    for (auto& c : now)
      f(*c);
  }

private:
  std::size_t cap_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, Ptr> open_;
};

/// For loops without a cross-thread post (libuv): wakes collected from any
/// thread, drained on the loop thread. `notify` (e.g. uv_async_send) runs
/// under the lock, so it is never called after close().
class WakeQueue {
public:
  /// `notify` is called, on the thread that queued something, whenever wake(), post() or
  /// request_close() queued it; it must make the loop call drain() soon.
  explicit WakeQueue(std::function<void()> notify) : notify_(std::move(notify)) {}
  /// Any thread: connection `id` has something to pick up.
  void wake(std::uint64_t id) {
    std::lock_guard lock(m_);
    if (!notify_)
      return;
    ids_.push_back(id);
    notify_();
  }
  /// Any thread: run `task` on the loop thread.
  bool post(std::function<void()> task) {
    std::lock_guard lock(m_);
    if (!notify_)
      return false;
    tasks_.push_back(std::move(task));
    notify_();
    return true;
  }
  /// Any thread: the server should close gracefully.
  void request_close() {
    std::lock_guard lock(m_);
    if (!notify_)
      return;
    close_ = true;
    notify_();
  }
  /// Loop thread: takes what arrived. Returns whether a close was requested.
  bool drain(std::vector<std::uint64_t>& ids, std::vector<std::function<void()>>* tasks = nullptr) {
    std::lock_guard lock(m_);
    ids.swap(ids_);
    ids_.clear();
    if (tasks) {
      tasks->swap(tasks_);
      tasks_.clear();
    }
    return std::exchange(close_, false);
  }
  /// No further notify (the loop's handle is closing).
  void close() {
    std::lock_guard lock(m_);
    notify_ = nullptr;
  }

private:
  std::mutex m_;
  std::function<void()> notify_;
  std::vector<std::uint64_t> ids_;
  std::vector<std::function<void()>> tasks_;
  bool close_ = false;
};

} // namespace topgg
