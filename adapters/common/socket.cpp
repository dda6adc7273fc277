#include "socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace topgg::sock {

// Built with append(): GCC 12 at -O3 warns (-Wrestrict) inside "[" + std::string(…).
std::string format(const void* p) {
  const auto* sa = static_cast<const sockaddr*>(p);
  char text[INET6_ADDRSTRLEN] = "?";
  std::string out;
  std::uint16_t port = 0;
  if (sa->sa_family == AF_INET6) {
    const auto* a = static_cast<const sockaddr_in6*>(p);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    out.append("[").append(text).append("]");
    port = ntohs(a->sin6_port);
  } else {
    const auto* a = static_cast<const sockaddr_in*>(p);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    out.append(text);
    port = ntohs(a->sin_port);
  }
  return out.append(":").append(std::to_string(port));
}

namespace {
// getaddrinfo's own codes, so that what() reads "cannot listen on h:p: Name or
// service not known" (not a generic errno text after it).
class ResolverCategory final : public std::error_category {
public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int rc) const override { return gai_strerror(rc); }
};
const std::error_category& resolver_category() {
  static const ResolverCategory c;
  return c;
}
} // namespace

Listener listen(const std::string& host, std::uint16_t port, int backlog) {
  std::string where = host.find(':') != std::string::npos ? std::string("[").append(host).append("]") : host;
  where.append(":").append(std::to_string(port));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
    throw std::system_error(rc, resolver_category(), "cannot listen on " + where);
  int err = 0;
  Listener l;
  for (addrinfo* ai = found; ai && l.fd < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int on = 1, off = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ai->ai_family == AF_INET6) // "::" takes IPv4 too, whatever net.ipv6.bindv6only says
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      err = errno;
      ::close(fd);
      continue;
    }
    l.fd = fd;
  }
  freeaddrinfo(found);
  if (l.fd < 0)
    throw std::system_error(err, std::generic_category(), "cannot listen on " + where);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&bound), &len);
  l.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  l.address = format(&bound);
  return l;
}

Listener adopt(int fd) {
  const std::string which = "descriptor " + std::to_string(fd);
  int type = 0, listening = 0, domain = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    if (errno == ENOTSOCK)
      throw std::invalid_argument("topgg: cannot serve " + which + ": not a socket");
    throw std::system_error(errno, std::generic_category(), "cannot serve " + which);
  }
  len = sizeof listening;
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  len = sizeof domain;
  ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  if (type != SOCK_STREAM || (domain != AF_INET && domain != AF_INET6) || !listening)
    throw std::invalid_argument("topgg: cannot serve " + which + ": not a listening TCP socket (" +
                                (type != SOCK_STREAM                            ? "not a stream socket"
                                 : domain != AF_INET && domain != AF_INET6 ? "not IPv4 or IPv6"
                                                                                : "listen() was not called") +
                                ")");
  sockaddr_storage bound{};
  len = sizeof bound;
  const int flags = ::fcntl(fd, F_GETFL);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0 || flags < 0 ||
      ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot serve " + which);
  Listener l;
  l.fd = fd;
  l.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  l.address = format(&bound);
  l.adopted = true;
  return l;
}

int accept(int listener, std::string& peer) {
  sockaddr_storage from{};
  socklen_t len = sizeof from;
  int fd;
  do
    fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -1;
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  peer = format(&from);
  return fd;
}

bool out_of_resources(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

IoResult read(int fd, std::span<char> into) noexcept {
  for (;;) {
    const ssize_t n = ::recv(fd, into.data(), into.size(), 0);
    if (n > 0)
      return {IoResult::done, static_cast<std::size_t>(n)};
    if (n == 0)
      return {IoResult::eof, 0};
    if (errno == EINTR)
      continue;
    return {errno == EAGAIN || errno == EWOULDBLOCK ? IoResult::would_block : IoResult::failed, 0};
  }
}

IoResult write(int fd, std::string_view out) noexcept {
  // MSG_NOSIGNAL: a peer that reset the connection gives EPIPE here, never a
  // SIGPIPE that would kill a process which did not ignore it. One call sends
  // at most SSIZE_MAX bytes; the rest goes on the next.
  const std::size_t n = std::min<std::size_t>(out.size(), SSIZE_MAX);
  for (;;) {
    const ssize_t sent = ::send(fd, out.data(), n, MSG_NOSIGNAL);
    if (sent >= 0)
      return {sent > 0 ? IoResult::done : IoResult::would_block, static_cast<std::size_t>(sent)};
    if (errno == EINTR)
      continue;
    return {errno == EAGAIN || errno == EWOULDBLOCK ? IoResult::would_block : IoResult::failed, 0};
  }
}

void close(int fd) noexcept {
  if (fd >= 0)
    ::close(fd);
}

} // namespace topgg::sock

#include "server.hpp"

#include <signal.h>

#include <cstdio>
#include <exception>

namespace topgg::sock {

void run_contained(const std::function<void()>& task) noexcept {
  try {
    task();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topgg-webhook: a task posted to the loop threw: %s\n", e.what());
  } catch (...) {
    std::fputs("topgg-webhook: a task posted to the loop threw\n", stderr);
  }
}

std::thread loop_thread(std::function<void()> run) {
  return std::thread([run = std::move(run)] {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    run();
  });
}

} // namespace topgg::sock
