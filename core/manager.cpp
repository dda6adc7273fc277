#include "topgg/manager.hpp"

#include <stdexcept>

namespace topgg {

ManagerBase::ManagerBase() = default;
ManagerBase::~ManagerBase() = default;

std::uint16_t ManagerBase::start(const std::function<Bound()>& listen) {
  std::lock_guard lock(m_);
  if (running_)
    throw std::logic_error("topgg: WebhookManager::run called while it runs (close() first)");
  router_.warn_once();
  router_.freeze(true); // the loop thread reads the configuration from now on
  try {
    bound_ = listen();
  } catch (...) {
    router_.freeze(false); // nothing runs: configurable and runnable again
    throw;
  }
  running_ = true;
  return bound_.port;
}

std::uint16_t ManagerBase::run(std::uint16_t port, const std::string& host) {
  return start([&] { return listen(port, host); });
}

std::uint16_t ManagerBase::run_on(int fd) {
  return start([&] { return adopt(fd); });
}

void ManagerBase::stopped() noexcept {
  std::lock_guard lock(m_);
  running_ = false;
  bound_ = {};
  router_.freeze(false);
}

std::uint16_t ManagerBase::port() const noexcept {
  std::lock_guard lock(m_);
  return bound_.port;
}

std::string ManagerBase::address() const {
  std::lock_guard lock(m_);
  return bound_.address;
}

bool ManagerBase::running() const noexcept {
  std::lock_guard lock(m_);
  return running_;
}

void ManagerBase::close() { stop(); }

bool ManagerBase::post(std::function<void()> task) { return post_to_loop(std::move(task)); }

} // namespace topgg
