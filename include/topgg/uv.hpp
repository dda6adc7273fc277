// The libuv adapter: a Top.gg webhook server on a uv_loop_t, yours or one it
// owns on a background thread. Link the `topgg-webhook-uv` dependency.
#pragma once

#include "topgg/export.hpp"

#include <memory>

#include "topgg/manager.hpp"

// libuv's own spelling of its loop type, so this header need not include <uv.h>.
struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t; // NOLINT(modernize-use-using): must match uv.h

namespace topgg::uv {

/// Top.gg's Python SDK `WebhookManager` on libuv: see ManagerBase for run(),
/// close() and the configuration rules, RouterApi for the configuration.
class TOPGG_API WebhookManager : public BasicWebhookManager<WebhookManager> {
public:
  /// Owns a loop; run() starts it on a background thread.
  WebhookManager();
  /// Runs on `loop`, which must outlive this object. run() and the destructor
  /// must be called on the loop's thread (a handler included) or while the
  /// loop is not running (libuv handles are not thread-safe); close() may be
  /// called from any thread.
  explicit WebhookManager(uv_loop_t* loop);
  /// Closes as close() does. With the owned loop, waits for the graceful
  /// close (a request on its way is read within its header and body
  /// timeouts, acknowledgements waited for up to Settings::ack_timeout, then
  /// the last answers written);
  /// never call it from a handler then. With your loop, whatever is still
  /// open is closed at once and no handler or hook runs after it returns —
  /// also when called from inside a handler; the last memory is freed by the
  /// loop's close callbacks (run the loop before uv_loop_close).
  ~WebhookManager();

  struct Impl;

private:
  Bound listen(std::uint16_t port, const std::string& host) override;
  Bound adopt(int fd) override;
  void stop() override;
  bool post_to_loop(std::function<void()> task) override;
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg::uv
