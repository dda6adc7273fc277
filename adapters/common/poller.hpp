// Internal to the adapters: socket readiness for many connections through
// one descriptor (Linux epoll, level-triggered). The Asio adapter waits on
// that descriptor with one async_wait per batch of ready sockets, instead of
// one per socket and request: Asio's epoll reactor re-arms a descriptor with
// epoll_ctl on every async_wait (one system call per request), and keeps
// per-socket state (about 170 bytes) and a pending operation (about 180)
// for every idle connection.
#pragma once

#include <cstdint>

namespace topgg::sock {

class Poller {
public:
  /// Throws std::system_error if the kernel refuses an epoll instance.
  Poller();
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  /// Readable whenever some watched socket is ready (close-on-exec).
  int fd() const noexcept { return fd_; }

  /// What a socket is watched for; kept by the caller, one per socket.
  struct Interest {
    bool read = false, write = false, added = false;
  };
  /// Watches `socket` (named `id` in ready()) for what `want` says; watching
  /// for nothing takes it out (so a hang-up is not reported again and again).
  /// False if the kernel refused (the connection should close).
  bool watch(int socket, std::uint64_t id, Interest& now, Interest want) noexcept;

  struct Ready {
    std::uint64_t id;
    bool readable, writable, failed;
  };
  /// The sockets ready now, without waiting: at most `max` into `out`.
  int ready(Ready* out, int max) noexcept;

private:
  int fd_ = -1;
};

} // namespace topgg::sock
