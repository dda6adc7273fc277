// One HTTP/1.1 connection, sans I/O: bytes in, bytes out, events to the
// Router's handlers. Most embedders never call it directly: topgg::Driver
// (driver.hpp) runs it over a socket given six small hooks.
//
// Call order, all on one thread (the loop's):
//   Connection c(router, now);          arm the timer at c.deadline()
//   on readable:  c.receive(bytes, now)      — or c.receive_eof(now) at EOF
//   on writable:  write c.output(), then c.consume(written)
//   on timer:     c.on_timer(now)
//   on wake:      c.resume(now)              — after set_waker()'s function ran (any thread)
//   after each of these: write output(); read only while want_read();
//   re-arm the timer at deadline(); close the socket once done().
// Only Ack completion and the waker may happen on other threads.
#pragma once

#include "topgg/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "topgg/http.hpp"
#include "topgg/router.hpp"

namespace topgg {

/// Scratch space for decoding requests, shared by the connections that run
/// on one thread (an adapter keeps one per loop). Not thread-safe.
class TOPGG_API Workspace {
public:
  Workspace();
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  /// \cond INTERNAL
  struct Impl;
  Impl& impl() noexcept { return *impl_; }
  /// \endcond

private:
  std::unique_ptr<Impl> impl_;
};

/// One HTTP/1.1 connection, sans I/O: bytes in (receive()), bytes out
/// (output()), events to the Router's handlers. Call order at the top of
/// this file; most embedders use topgg::Driver instead.
class TOPGG_API Connection {
public:
  /// `router` (and `workspace`, if given) must outlive the connection. `now`
  /// starts the header timeout. Without a workspace the connection makes its
  /// own at its first request.
  Connection(Router& router, Now now, Workspace* workspace = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Feeds bytes read from the socket. All of `bytes` is taken (copied if it
  /// cannot be processed yet); read only while want_read() is true.
  void receive(std::string_view bytes, Now now);
  /// The peer shut down its sending side (read returned EOF).
  void receive_eof(Now now);

  /// Bytes to write; valid until the next non-const call. Empty if none.
  std::string_view output() const noexcept;
  /// `n` bytes of output() were written. Input held back while the output
  /// was full goes on by itself.
  void consume(std::size_t n);

  /// False while answers are outstanding past the limits (back-pressure),
  /// after EOF, and once the connection is closing.
  bool want_read() const noexcept;
  /// True when nothing more will be written and output() is empty: close
  /// the socket now.
  bool done() const noexcept;
  /// True when nothing more will be produced (output() may still hold bytes).
  [[deprecated("use done(), which also waits for output() to be written")]] bool finished() const noexcept;

  /// When on_timer() must run next, or nullopt for never.
  std::optional<Clock::time_point> deadline() const noexcept;
  /// Applies timeouts due at `now` (408 / quiet close / 503 for acks).
  void on_timer(Now now);

  /// `wake` is called from any thread when an Ack (or a deferred claim) of
  /// this connection completes; the caller must then call resume() on the
  /// loop thread. Never called after the Connection is destroyed.
  void set_waker(std::function<void()> wake);
  /// Picks up completed acknowledgements and continues with held input.
  void resume(Now now);

  /// Graceful close: requests already received are answered (acks waited
  /// for up to their deadline), the last one with `Connection: close` where
  /// it is still waiting; then done(). A request partly received, or the
  /// first one of a connection that has sent nothing yet (it may be on its
  /// way: closing would reset its client), is still read to its end within
  /// its header and body timeouts, answered with `Connection: close`, and is
  /// the last. A connection between two requests reads nothing more.
  void shutdown(Now now);

  /// The client's address, for the error hook ("203.0.113.7:51234").
  void set_peer(std::string_view peer);

  /// Requests read on this connection so far (a limit: max_requests_per_connection).
  std::uint64_t requests_seen() const noexcept;
  /// Heap bytes held for the request being read (its head and body buffers):
  /// at most about twice max_header_bytes + max_body_bytes, whatever the
  /// peer sends. For tests and monitoring.
  std::size_t buffered_input() const noexcept;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg
