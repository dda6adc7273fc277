// `listen` run as a service: the log's format (--log-format), the client
// behind a proxy (--trust-proxy), systemd's readiness protocol and watchdog,
// socket activation, and SIGHUP (keys and secrets read again from their files
// and credentials, swapped without dropping a connection).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "notify.hpp"
#include "options.hpp"
#include "proxy.hpp"
#include "routes.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// The options this file reads, for the option table.
inline const std::vector<std::string> kServiceOptions = {"trust-proxy"};

class Service {
public:
  /// Reads --trust-proxy (usage_error on a mistake) and systemd's
  /// environment, which it removes so that --exec commands do not inherit
  /// it. Call before any thread starts.
  explicit Service(const Options& o);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  /// Serves the listening socket systemd passed (saying so), else listens on
  /// `host`:`port`. Throws as ManagerBase::run() and run_on() do.
  void listen(topgg::ManagerBase& m, std::uint16_t port, const std::string& host);
  /// Listening: the "listening on http://…" line, READY=1, the watchdog.
  void ready(topgg::ManagerBase& m);
  /// SIGHUP: every key that comes from a file or a credential is read again;
  /// those that changed are swapped (ManagerBase::replace_auth_key), one line
  /// per route; a file that cannot be read keeps the old key. RELOADING=1,
  /// then READY=1 once every swap is made.
  void reload(topgg::ManagerBase& m, Routes& routes);
  /// SIGTERM or SIGINT: STOPPING=1, and the watchdog stops.
  void stopping(int sig);

private:
  const Options& o_;
  Notifier notifier_;
  std::vector<int> fds_;
  std::vector<std::string> fd_names_;
  std::shared_ptr<TrustedProxies> proxies_;
  std::unique_ptr<Watchdog> watchdog_;
  std::string address_;
};

} // namespace tool
