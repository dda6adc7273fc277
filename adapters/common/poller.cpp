#include "poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace topgg::sock {

Poller::Poller() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

Poller::~Poller() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool Poller::watch(int socket, std::uint64_t id, Interest& now, Interest want) noexcept {
  if (want.read == now.read && want.write == now.write && (now.added || (!want.read && !want.write)))
    return true;
  if (!want.read && !want.write) {
    ::epoll_ctl(fd_, EPOLL_CTL_DEL, socket, nullptr);
    now = {};
    return true;
  }
  epoll_event ev{};
  ev.events = (want.read ? EPOLLIN | EPOLLRDHUP : 0u) | (want.write ? EPOLLOUT : 0u);
  ev.data.u64 = id;
  if (::epoll_ctl(fd_, now.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &ev) != 0)
    return false;
  now = {want.read, want.write, true};
  return true;
}

int Poller::ready(Ready* out, int max) noexcept {
  epoll_event events[64];
  int n;
  do
    n = ::epoll_wait(fd_, events, max < 64 ? max : 64, 0);
  while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    const std::uint32_t e = events[i].events;
    out[i] = {events[i].data.u64, (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0, (e & EPOLLOUT) != 0,
              (e & EPOLLERR) != 0};
  }
  return n < 0 ? 0 : n;
}

} // namespace topgg::sock
