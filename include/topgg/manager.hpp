// What the libuv and Asio adapters' WebhookManager have in common, written
// (and documented) once: Top.gg's Python SDK `WebhookManager` in C++.
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/router.hpp"

namespace topgg {

/// The server half of a WebhookManager. Configure routes and handlers
/// (RouterApi: dbl_webhook, dsl_webhook, v1_webhook, route, on_bot_vote, …),
/// then run(port). While it runs the configuration is frozen: configuring
/// throws std::logic_error (other threads read it); after close() it may be
/// changed and run() called again.
///
/// Threads: handlers and hooks run on the loop thread (the adapter's own, or
/// yours), or through executor(). Ack completions may come from any thread.
/// The full contract (threads, lifetimes, answers): RouterApi.
class TOPGG_API ManagerBase {
public:
  ManagerBase(const ManagerBase&) = delete;
  ManagerBase& operator=(const ManagerBase&) = delete;

  /// The configuration this manager serves.
  Router& router() noexcept { return router_; }

  /// Listens on `host` — a numeric IPv4/IPv6 address or a name such as
  /// "localhost"; "::" accepts IPv6 and IPv4 — and `port` (0 = any free
  /// port). A name listens on one address: the first of its addresses that
  /// can be bound, in getaddrinfo's order (address() says which; for both
  /// families use "::"). Returns once bound, with the bound port. Throws std::system_error
  /// if it cannot listen (nothing is left running: run() may be tried
  /// again), std::logic_error if already running.
  std::uint16_t run(std::uint16_t port = 8080, const std::string& host = "0.0.0.0");
  /// Serves `fd`, a TCP (IPv4 or IPv6) socket already bound and listening —
  /// one inherited from systemd's socket activation (LISTEN_FDS), or made by
  /// the caller — instead of binding one; returns its port. The manager takes
  /// the descriptor over: it is made non-blocking and close-on-exec, and
  /// close() closes it. The socket itself lives on while another descriptor
  /// of it is open (systemd keeps one): the connections waiting in its
  /// backlog then go to whoever accepts next, such as the process started
  /// after this one. Throws std::invalid_argument if `fd` is not a listening
  /// TCP stream socket, std::system_error if it cannot be used (EBADF, …) —
  /// then `fd` stays open and the caller's — std::logic_error if already
  /// running.
  std::uint16_t run_on(int fd);
  /// The bound port, 0 when not running.
  std::uint16_t port() const noexcept;
  /// What run() bound, printable: "0.0.0.0:8080", "[::]:8080"; "" when not running.
  std::string address() const;
  /// True from a successful run() until the close it started is complete.
  bool running() const noexcept;

  /// Runs `task` on the loop thread (where handlers run), from any thread;
  /// false (and `task` dropped) when not running. True means queued: a task
  /// queued while a close is finishing may be dropped instead of run. For
  /// work that must not race the handlers, such as delivering caught-up votes
  /// (Router::deliver).
  bool post(std::function<void()> task);

  /// Replaces the key of the dbl_webhook / dsl_webhook route at `route`
  /// (key rotation), from any thread, running or not, without closing a
  /// connection and at no cost per request. Checked here: throws
  /// std::invalid_argument as Router::replace_auth_key does, and nothing
  /// changes. While running, the change is posted to the loop thread, where
  /// every request is checked; `done` (if any) runs there once it is made:
  /// requests checked from then on use `key`, one already past its check
  /// keeps the old. Not running (or closing), both happen before this returns.
  void replace_auth_key(std::string_view route, std::string key, std::function<void()> done = {});
  /// The same for the v1_webhook route at `route`: `secrets` replace its
  /// secrets (any may sign: keep the old one beside the new while Top.gg
  /// switches). Throws std::invalid_argument as Router::replace_v1_secrets.
  void replace_v1_secrets(std::string_view route, std::vector<std::string> secrets,
                          std::function<void()> done = {});

  /// Graceful close: stops accepting (connections still in the listening
  /// socket's backlog stay there for whoever accepts next, with run_on()),
  /// then lets every connection finish: requests already received are
  /// answered (their acknowledgements waited for up to Settings::ack_timeout),
  /// the last answer of each connection with `Connection: close` where it is
  /// still waiting; a request partly received, or the first one of a
  /// connection accepted but silent so far, is read within its header and
  /// body timeouts and answered (Connection::shutdown); connections between
  /// two requests close at once. Idempotent, from any thread. With the
  /// adapter's own loop it returns when all is closed (at once when called
  /// on the loop thread); with yours it returns at once, and the loop has
  /// nothing of ours left when the close is done.
  void close();

protected:
  ManagerBase();
  ~ManagerBase();

  /// What listen() bound.
  struct Bound {
    std::uint16_t port = 0; ///< the port (useful after port 0)
    std::string address;    ///< numeric, printable: "0.0.0.0:8080", "[::1]:8080"
  };
  /// Adapter: bind and start serving; throws std::system_error (having left
  /// nothing behind) if it cannot.
  virtual Bound listen(std::uint16_t port, const std::string& host) = 0;
  /// Adapter: start serving the listening socket `fd` (run_on()); throws as
  /// run_on() does, leaving `fd` open.
  virtual Bound adopt(int fd) = 0;
  /// Adapter: begin the graceful close (any thread, idempotent); with an owned
  /// loop, wait for it unless called on that loop.
  virtual void stop() = 0;
  /// Adapter: queue `task` on the loop thread; false when no server runs.
  virtual bool post_to_loop(std::function<void()> task) = 0;
  /// Adapter, any thread: the server started by listen() is fully closed.
  void stopped() noexcept;

private:
  std::uint16_t start(const std::function<Bound()>& listen);
  void change_key(std::function<void()> change, std::function<void()> done);

  Router router_;
  mutable std::mutex m_;
  bool running_ = false;
  Bound bound_;
};

/// ManagerBase plus the chainable configuration API returning `Self&`.
template <class Self> class BasicWebhookManager : public ManagerBase, public RouterApi<Self> {
public:
  /// The configuration this manager serves.
  using ManagerBase::router;
};

} // namespace topgg
