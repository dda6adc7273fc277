// systemd's side of `listen`: the readiness protocol of sd_notify(3)
// (READY=1, STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1) and socket
// activation (sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES).
//
// The documented datagram protocol is spoken directly — one AF_UNIX datagram
// per message to $NOTIFY_SOCKET ('@' for the abstract namespace) — rather than
// through libsystemd: it is a few lines, stable since systemd 1, and keeps the
// tool free of a library (and its D-Bus, journal and compression
// dependencies) that would be linked for one sendmsg. Outside systemd (no
// $NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tool {

class Notifier {
public:
  /// Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID, then removes
  /// them from the environment: --exec commands must not speak to systemd as
  /// this service. Call before any thread starts (the environment changes).
  Notifier();
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  /// Whether systemd listens ($NOTIFY_SOCKET was set and usable).
  bool enabled() const noexcept { return fd_ >= 0; }
  /// Sends `message` ("READY=1\nSTATUS=…"), any thread; a failure is said once.
  void send(std::string_view message);
  /// READY=1 and STATUS=`status`.
  void ready(std::string_view status);
  /// RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload wants; a plain
  /// Type=notify unit shows "reloading" until the next READY=1).
  void reloading();
  /// STOPPING=1 and STATUS=`status`.
  void stopping(std::string_view status);
  /// How often systemd wants WATCHDOG=1 ($WATCHDOG_USEC, for this process per
  /// $WATCHDOG_PID), if it does.
  std::optional<std::chrono::microseconds> watchdog() const noexcept { return watchdog_; }

private:
  int fd_ = -1;
  std::string address_; // sockaddr_un path bytes ('\0' first for the abstract namespace)
  std::optional<std::chrono::microseconds> watchdog_;
  std::atomic<bool> failed_{false};
};

/// Sends WATCHDOG=1 every half of the watchdog interval from a job posted to
/// the loop: a loop that no longer runs its jobs (stuck in a handler, a
/// deadlock) stops the pings, and systemd restarts the service. A job not run
/// yet is not posted again, so a stuck loop does not pile them up.
class Watchdog {
public:
  /// `post` runs a job on the loop thread (WebhookManager::post).
  Watchdog(Notifier& notifier, std::chrono::microseconds interval, std::function<bool(std::function<void()>)> post);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

private:
  void run();

  Notifier& notifier_;
  std::chrono::microseconds every_;
  std::function<bool(std::function<void()>)> post_;
  std::shared_ptr<std::atomic<bool>> waiting_ = std::make_shared<std::atomic<bool>>(false); // a ping job is queued
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

/// The listening sockets systemd passed (socket activation), in its order:
/// descriptors 3 … 3 + $LISTEN_FDS - 1 when $LISTEN_PID is this process;
/// none otherwise. `names` gets $LISTEN_FDNAMES' (or "unknown" each). Removes
/// the three variables from the environment (they are this process's only).
/// Call before any thread starts.
std::vector<int> listen_fds(std::vector<std::string>& names);

} // namespace tool
