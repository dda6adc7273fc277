// Loopback test helpers: a blocking HTTP/1.1 client with receive timeouts,
// request builders, and a thread-safe recorder of handler events.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace it {

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
  bool closes() const { return head.find("Connection: close") != std::string::npos; }
};

/// Generous: only a server that never answers waits this long, however busy
/// or slow (sanitizers) the machine is. Waits that expect nothing to come set
/// their own, shorter timeout.
inline constexpr int patient_ms = 30'000;

/// One blocking TCP connection. Every receive gives up after `timeout_ms`, so
/// a server that never answers fails the test instead of hanging it.
/// `rcvbuf` > 0 fixes the receive buffer (before connecting, which also stops
/// the kernel from growing it): how much a server can send that is not read.
class Client {
public:
  explicit Client(std::uint16_t port, const char* host = "127.0.0.1", int timeout_ms = patient_ms, int rcvbuf = 0) {
    const bool v6 = std::strchr(host, ':') != nullptr;
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = -1;
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      ::inet_pton(AF_INET6, host, &a.sin6_addr);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      ::inet_pton(AF_INET, host, &a.sin_addr);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    connected_ = rc == 0;
  }
  ~Client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Next complete response, or nullopt on EOF, reset or timeout.
  std::optional<Reply> read() {
    for (;;) {
      const std::size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        Reply r;
        r.head = buf_.substr(0, end + 2);
        r.status = std::atoi(r.head.c_str() + 9);
        std::size_t len = 0;
        const std::size_t cl = r.head.find("Content-Length: ");
        if (cl != std::string::npos)
          len = std::strtoul(r.head.c_str() + cl + 16, nullptr, 10);
        if (buf_.size() >= end + 4 + len) {
          r.body = buf_.substr(end + 4, len);
          buf_.erase(0, end + 4 + len);
          return r;
        }
      }
      if (!fill())
        return std::nullopt;
    }
  }

  /// True if the peer closes (EOF or reset) within the receive timeout with
  /// no further bytes; false on data or timeout.
  bool closed_by_peer() {
    if (!buf_.empty())
      return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0)
      return true;
    if (n < 0)
      return errno == ECONNRESET || errno == EPIPE;
    buf_.push_back(c);
    return false;
  }

  /// Closes with a reset (SO_LINGER 0), as a crashed peer would.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  int fd() const { return fd_; }

private:
  bool fill() {
    char tmp[4096];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

inline std::string post(std::string_view path, std::string_view auth, std::string_view body) {
  std::string r = "POST " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!auth.empty())
    r += "Authorization: " + std::string(auth) + "\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

inline std::string user_id(int n) { return std::to_string(160105994217586689ULL + static_cast<unsigned>(n)); }

inline std::string bot_body(int user) {
  return R"({"bot":"264811613708746752","user":")" + user_id(user) +
         R"(","type":"upvote","isWeekend":false,"query":"?ref=home"})";
}
inline std::string server_body(int user) {
  return R"({"guild":"5678","user":")" + user_id(user) + R"(","type":"test"})";
}

inline const std::string bot_key = "bot-key";
inline const std::string server_key = "server-key";
inline std::string bot_vote(int user, std::string_view key = bot_key) { return post("/dbl", key, bot_body(user)); }
inline std::string server_vote(int user, std::string_view key = server_key) {
  return post("/dsl", key, server_body(user));
}

/// Handler events, recorded from any thread and awaited from the test's.
class Recorder {
public:
  void add(std::string e) {
    std::lock_guard lock(m_);
    events_.push_back(std::move(e));
    cv_.notify_all();
  }
  bool wait_count(std::size_t n, int timeout_ms = patient_ms) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return events_.size() >= n; });
  }
  std::vector<std::string> events() {
    std::lock_guard lock(m_);
    return events_;
  }
  std::size_t size() {
    std::lock_guard lock(m_);
    return events_.size();
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
};

} // namespace it
