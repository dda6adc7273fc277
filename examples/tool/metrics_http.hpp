// `listen --metrics HOST:PORT`: the library's Metrics, counted by the public
// listener and served by a second one — never the public port — with the
// health checks a supervisor or a load balancer asks:
//   GET /metrics   Prometheus text (topgg_webhook_*)
//   GET /healthz   200 "ok" while the process serves
//   GET /readyz    200 "ready" while the public listener runs and the
//                  de-duplication store answers; 503 and why otherwise
// (HEAD too; other paths 404, other methods 405).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "options.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// Where --metrics listens.
struct MetricsAddress {
  std::string host; ///< as given, without brackets
  std::uint16_t port = 0;
};

/// --metrics, checked before anything listens: HOST:PORT (an IPv6 address
/// in brackets), never the public --host/--port (usage_error otherwise).
/// nullopt without --metrics.
std::optional<MetricsAddress> check_metrics_option(const Options& o, const std::string& public_host,
                                                   std::uint16_t public_port);

/// With --metrics: counts the public listener's requests (timed on
/// steady_clock). Before run().
void count_metrics(const std::optional<MetricsAddress>& at, topgg::ManagerBase& public_server);

/// The second listener; closes when destroyed.
class MetricsServer {
public:
  virtual ~MetricsServer() = default;
  /// Shutting down: /readyz answers 503 from now on, while the public
  /// listener answers what it received.
  virtual void stopping() = 0;
};

/// With --metrics, after the public listener runs: the second listener, its
/// address said on stderr ("metrics on http://127.0.0.1:9464 …"). nullptr
/// without --metrics. Throws std::runtime_error (a whole line) if it cannot
/// listen. `Manager` is the public listener's loop kind. `more`, when set,
/// appends further Prometheus text to each /metrics page (a sink's counters).
template <class Manager>
std::unique_ptr<MetricsServer> serve_metrics(const std::optional<MetricsAddress>& at,
                                             topgg::ManagerBase& public_server,
                                             std::function<void(std::string&)> more = {});

} // namespace tool
