// The standalone Asio adapter: a Top.gg webhook server on the user's
// io_context or executor, or on an io_context it owns on a background thread.
// Link the `topgg-webhook-asio` dependency.
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <memory>
#include <string>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include "topgg/router.hpp"

namespace topgg::asio {

/// The seed's WebhookManager on Asio. Configure it (dbl_webhook, dsl_webhook,
/// route, on_bot_vote, settings, ...) before run(); the configuration is
/// read-only afterwards. All of its work runs on one strand of the executor,
/// so an io_context run by several threads is fine.
class TOPGG_API WebhookManager : public RouterApi<WebhookManager> {
public:
  /// Owns an io_context; run() starts it on a background thread.
  WebhookManager();
  /// Runs on the user's context / executor, which must outlive this object.
  /// The destructor must run while the context is not running, or on one of
  /// its threads outside our handlers; close() may be called from any thread.
  explicit WebhookManager(::asio::io_context& ctx);
  explicit WebhookManager(::asio::any_io_executor ex);
  /// Closes as close() does. With an owned context, waits for the graceful
  /// close (at most Settings::ack_timeout plus writing the last answers);
  /// never call it from a handler. With the user's context, whatever is still
  /// open is closed at once and no handler or hook runs after it returns.
  ~WebhookManager();
  WebhookManager(const WebhookManager&) = delete;
  WebhookManager& operator=(const WebhookManager&) = delete;

  Router& router() noexcept;

  /// Listens on `host` ("0.0.0.0", "127.0.0.1", "::", "::1", ...) and `port`
  /// (0 = any free port); callable from any thread. Returns once bound, with
  /// the bound port. Throws std::system_error if the address is invalid or
  /// cannot be bound, and std::logic_error if called twice.
  std::uint16_t run(std::uint16_t port = 8080, const std::string& host = "0.0.0.0");
  /// The bound port, 0 before run().
  std::uint16_t port() const noexcept;

  /// Graceful close: stops accepting, answers requests already received
  /// (their acknowledgements waited for up to Settings::ack_timeout), then
  /// closes every connection. Idempotent, from any thread. With an owned
  /// context it returns when all is closed (at once if called from a
  /// handler); with the user's context it returns at once, and the context
  /// has no work of ours left when the close is done.
  void close();

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg::asio
