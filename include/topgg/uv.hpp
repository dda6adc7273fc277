// The libuv adapter: a Top.gg webhook server on a uv_loop_t, the user's or
// one it owns on a background thread. Link the `topgg-webhook-uv` dependency.
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <memory>
#include <string>

#include <uv.h>

#include "topgg/router.hpp"

namespace topgg::uv {

/// The seed's WebhookManager on libuv. Configure it (dbl_webhook, dsl_webhook,
/// route, on_bot_vote, settings, ...) before run(); the configuration is
/// read-only afterwards.
class TOPGG_API WebhookManager : public RouterApi<WebhookManager> {
public:
  /// Owns a loop; run() starts it on a background thread.
  WebhookManager();
  /// Runs on the user's `loop`, which must outlive this object. run() and the
  /// destructor must be called on the loop's thread or while the loop is not
  /// running (libuv handles are not thread-safe); close() may be called from
  /// any thread.
  explicit WebhookManager(uv_loop_t* loop);
  /// Closes as close() does. With an owned loop, waits for the graceful close
  /// (at most Settings::ack_timeout plus writing the last answers); never call
  /// it from a handler on the loop thread. With the user's loop, whatever is
  /// still open is closed at once, no handler or hook runs after it returns,
  /// and the last memory is freed by the loop's close callbacks (run the loop
  /// before uv_loop_close).
  ~WebhookManager();
  WebhookManager(const WebhookManager&) = delete;
  WebhookManager& operator=(const WebhookManager&) = delete;

  Router& router() noexcept;

  /// Listens on `host` ("0.0.0.0", "127.0.0.1", "::", "::1", ...) and `port`
  /// (0 = any free port). Returns once bound, with the bound port. Throws
  /// std::system_error if the address is invalid or cannot be bound, and
  /// std::logic_error if called twice.
  std::uint16_t run(std::uint16_t port = 8080, const std::string& host = "0.0.0.0");
  /// The bound port, 0 before run().
  std::uint16_t port() const noexcept;

  /// Graceful close: stops accepting, answers requests already received
  /// (their acknowledgements waited for up to Settings::ack_timeout), then
  /// closes every connection and frees everything. Idempotent, from any
  /// thread. With an owned loop it returns when all is closed (or at once
  /// when called on the loop thread); with the user's loop it returns at once
  /// and the loop has nothing of ours left when the close is done.
  void close();

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg::uv
