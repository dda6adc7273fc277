// The standalone Asio adapter: a Top.gg webhook server on your io_context or
// executor, or on an io_context it owns on a background thread. Link the
// `topgg-webhook-asio` dependency.
#pragma once

#include "topgg/export.hpp"

#include <memory>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include "topgg/manager.hpp"

namespace topgg::asio {

/// Top.gg's Python SDK `WebhookManager` on Asio: see ManagerBase for run(),
/// close() and the configuration rules, RouterApi for the configuration. Its
/// work runs on the executor one handler at a time (they share a mutex), so
/// an io_context run by several threads is fine.
class TOPGG_API WebhookManager : public BasicWebhookManager<WebhookManager> {
public:
  /// Owns an io_context; run() starts it on a background thread.
  WebhookManager();
  /// Runs on your context, which must outlive this object.
  explicit WebhookManager(::asio::io_context& ctx);
  /// Runs on your executor (e.g. a strand's, or one of a thread pool's),
  /// whose context must outlive this object.
  explicit WebhookManager(::asio::any_io_executor ex);
  /// Closes as close() does. With the owned context, waits for the graceful
  /// close (a request on its way is read within its header and body
  /// timeouts, acknowledgements waited for up to Settings::ack_timeout, then
  /// the last answers written).
  /// With yours, whatever is still open is closed at once and no handler or
  /// hook runs after it returns; it may run while the context runs on other
  /// threads, but never from inside one of this manager's handlers.
  ~WebhookManager();

  struct Impl;

private:
  Bound listen(std::uint16_t port, const std::string& host) override;
  Bound adopt(int fd) override;
  void stop() override;
  bool post_to_loop(std::function<void()> task) override;
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg::asio
