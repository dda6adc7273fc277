#include "notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>

#include "log.hpp"
#include "options.hpp"

namespace tool {

namespace {

/// A whole decimal number in `text` (digits only), or nullopt.
std::optional<unsigned long long> whole_number(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::strtoull(text.c_str(), nullptr, 10);
}

bool is_this_process(const std::string& pid) {
  const auto n = whole_number(pid);
  return n && *n == static_cast<unsigned long long>(::getpid());
}

} // namespace

Notifier::Notifier() {
  const std::string socket_path = env_or_empty("NOTIFY_SOCKET");
  const std::string usec = env_or_empty("WATCHDOG_USEC"), pid = env_or_empty("WATCHDOG_PID");
  for (const char* name : {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"})
    ::unsetenv(name);
  if (socket_path.empty())
    return;
  // sd_notify(3): an absolute path, or '@' for Linux's abstract namespace.
  if ((socket_path[0] != '/' && socket_path[0] != '@') || socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    log_start(Level::warning, "$NOTIFY_SOCKET is neither a path nor an abstract socket ('@…'): systemd is not told "
                              "when the service is ready");
    return;
  }
  address_ = socket_path;
  if (address_[0] == '@')
    address_[0] = '\0';
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    log_start(Level::warning, std::string("cannot speak to systemd ($NOTIFY_SOCKET): ") + std::strerror(errno));
    return;
  }
  // WATCHDOG_PID, when set, names the process meant (a wrapper may have set
  // it for its child); WATCHDOG_USEC 0 or garbage: no watchdog.
  if (const auto n = whole_number(usec); n && *n > 0 && (pid.empty() || is_this_process(pid)))
    watchdog_ = std::chrono::microseconds(*n);
}

Notifier::~Notifier() {
  if (fd_ >= 0)
    ::close(fd_);
}

void Notifier::send(std::string_view message) {
  if (fd_ < 0)
    return;
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::memcpy(to.sun_path, address_.data(), address_.size());
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                             (address_[0] == '\0' ? 0 : 1)); // a path ends in NUL, an abstract name does not
  ssize_t sent;
  do
    sent = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to), len);
  while (sent < 0 && errno == EINTR);
  if (sent < 0 && !failed_.exchange(true))
    log(Level::warning, std::string("cannot tell systemd (") + std::string(message.substr(0, message.find('\n'))) +
                            "): " + std::strerror(errno) + "; not said again");
}

void Notifier::ready(std::string_view status) { send("READY=1\nSTATUS=" + std::string(status)); }

void Notifier::reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec =
      static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL + static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  send("RELOADING=1\nSTATUS=reloading keys and secrets\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping(std::string_view status) { send("STOPPING=1\nSTATUS=" + std::string(status)); }

Watchdog::Watchdog(Notifier& notifier, std::chrono::microseconds interval,
                   std::function<bool(std::function<void()>)> post)
    : notifier_(notifier), every_(std::max(interval / 2, std::chrono::microseconds(1000))), post_(std::move(post)),
      thread_([this] { run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::run() {
  std::unique_lock lock(m_);
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    if (!waiting_->exchange(true)) {
      // The job holds the flag, not this object: it may run after we are gone.
      const bool posted = post_([waiting = waiting_, n = &notifier_] {
        n->send("WATCHDOG=1");
        waiting->store(false);
      });
      if (!posted) // the loop is closing: no more pings
        waiting_->store(false);
    }
    next += every_;
    if (const auto now = std::chrono::steady_clock::now(); next < now) // this thread was held up: no burst to catch up
      next = now + every_;
    cv_.wait_until(lock, next, [this] { return stop_; });
  }
}

std::vector<int> listen_fds(std::vector<std::string>& names) {
  const std::string pid = env_or_empty("LISTEN_PID"), count = env_or_empty("LISTEN_FDS"),
                    fdnames = env_or_empty("LISTEN_FDNAMES");
  for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"})
    ::unsetenv(name);
  names.clear();
  const auto n = whole_number(count);
  if (pid.empty() || !is_this_process(pid) || !n || *n == 0 || *n > 4096)
    return {};
  constexpr int first = 3; // SD_LISTEN_FDS_START
  std::vector<int> fds;
  std::vector<std::string> given; // "name:name:…"
  for (std::size_t at = 0; !fdnames.empty() && at <= fdnames.size();) {
    const std::size_t colon = std::min(fdnames.find(':', at), fdnames.size());
    given.push_back(fdnames.substr(at, colon - at));
    at = colon + 1;
  }
  for (unsigned long long i = 0; i < *n; ++i) {
    const int fd = first + static_cast<int>(i);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC); // never inherited by --exec commands
    fds.push_back(fd);
    names.push_back(i < given.size() ? given[i] : "unknown");
  }
  return fds;
}

} // namespace tool
