// `listen` run as a service: the log's format (--log-format), the client
// behind a proxy (--trust-proxy), systemd's readiness protocol and watchdog,
// socket activation, and SIGHUP (keys and secrets read again from their files
// and credentials, swapped without dropping a connection).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "notify.hpp"
#include "options.hpp"
#include "proxy.hpp"
#include "routes.hpp"
#include "secrets.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// A secret besides the routes' keys (--votes-key, --discord-webhook) that
/// SIGHUP reads again when it comes from a file or a credential.
struct ReloadableSecret {
  std::string option; ///< for lines: "--votes-key"
  FoundSecret found;  ///< the value in use and where it came from
  /// Hands a new value to what uses it (on the main thread): "" once it
  /// did, else why the value cannot be used (the old one stays). Called
  /// by reload() only: it must stay callable until the last reload().
  std::function<std::string(const std::string& value)> swap;
};

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
  /// per route, and so are add_secret()'s; a file that cannot be read keeps the old key. RELOADING=1,
  /// then READY=1 once every swap is made.
  void reload(topgg::ManagerBase& m, Routes& routes);
  /// Adds a secret for reload() to read again. Before the first SIGHUP.
  void add_secret(ReloadableSecret s) { secrets_.push_back(std::move(s)); }
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
  std::vector<ReloadableSecret> secrets_;
};

} // namespace tool
