#include "send.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

namespace tool {

namespace {
struct Url {
  std::string host, port = "80", target = "/";
};

bool parse_url(const std::string& url, Url& out) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    return false;
  std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos)
    out.target = rest.substr(slash);
  if (!authority.empty() && authority[0] == '[') { // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string::npos)
      return false;
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = authority.substr(close + 2);
  } else {
    const auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos)
      out.port = authority.substr(colon + 1);
  }
  return !out.host.empty() && !out.port.empty();
}
} // namespace

HttpResult http_post(const std::string& url, const std::string& headers, const std::string& body) {
  HttpResult res;
  Url u;
  if (!parse_url(url, u)) {
    res.error = "URL must look like http://HOST[:PORT]/PATH";
    return res;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (const int rc = getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &list); rc != 0) {
    res.error = std::string("cannot resolve ") + u.host + ": " + gai_strerror(rc);
    return res;
  }
  int fd = -1;
  for (addrinfo* a = list; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      res.error = std::string("cannot connect to ") + u.host + ":" + u.port + ": " + std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(list);
  if (fd < 0)
    return res;
  const std::string request =
      "POST " + u.target + " HTTP/1.1\r\nHost: " + u.host + ":" + u.port +
      "\r\nUser-Agent: topgg-webhook-send\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n" + headers + "\r\n" + body;
  for (std::size_t off = 0; off < request.size();) {
    const ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the server may answer early (401) and close: read what it said
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  // Skip interim 1xx answers; Connection: close means the body runs to EOF.
  std::size_t pos = 0;
  for (;;) {
    if (in.compare(pos, 9, "HTTP/1.1 ") != 0 && in.compare(pos, 9, "HTTP/1.0 ") != 0) {
      res.error = in.empty() ? "connection closed without an answer" : "answer is not HTTP";
      return res;
    }
    res.status = std::atoi(in.c_str() + pos + 9);
    const auto end = in.find("\r\n\r\n", pos);
    if (end == std::string::npos) {
      res.error = "answer cut off";
      return res;
    }
    pos = end + 4;
    if (res.status >= 200)
      break;
  }
  res.body = in.substr(pos);
  return res;
}

} // namespace tool
