#include "redis_resolver.hpp"

#include <arpa/inet.h>
#include <netdb.h>

namespace topgg::detail {

Resolver::Resolver(std::string host, std::function<void()> done) : host_(std::move(host)), done_(std::move(done)) {
  thread_ = std::thread([this] { run(); });
}

Resolver::~Resolver() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Resolver::request() {
  {
    std::lock_guard lock(m_);
    wanted_ = true;
  }
  cv_.notify_one();
}

bool Resolver::take(std::vector<std::string>& addresses, std::string& error, bool& no_such_host) {
  std::lock_guard lock(m_);
  if (!ready_)
    return false;
  ready_ = false;
  addresses = std::move(addresses_);
  error = std::move(error_);
  no_such_host = no_such_host_;
  return true;
}

void Resolver::run() {
  std::unique_lock lock(m_);
  for (;;) {
    cv_.wait(lock, [&] { return wanted_ || stop_; });
    if (stop_)
      return;
    wanted_ = false;
    lock.unlock();
    std::vector<std::string> found;
    std::string error;
    bool no_such_host = false;
    look_up(found, error, no_such_host);
    lock.lock();
    addresses_ = std::move(found);
    error_ = std::move(error);
    no_such_host_ = no_such_host;
    ready_ = true;
    lock.unlock();
    done_();
    lock.lock();
  }
}

void Resolver::look_up(std::vector<std::string>& found, std::string& error, bool& no_such_host) const {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (const int rc = ::getaddrinfo(host_.c_str(), nullptr, &hints, &list); rc != 0) {
    error = "cannot resolve " + host_ + ": " + ::gai_strerror(rc);
#ifdef EAI_NODATA
    no_such_host = rc == EAI_NONAME || rc == EAI_NODATA;
#else
    no_such_host = rc == EAI_NONAME;
#endif
    return;
  }
  for (const addrinfo* a = list; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* where = a->ai_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
    if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) && ::inet_ntop(a->ai_family, where, text, sizeof text))
      found.emplace_back(text);
  }
  ::freeaddrinfo(list);
  if (found.empty())
    error = "cannot resolve " + host_ + ": no address";
}

bool numeric_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace topgg::detail
