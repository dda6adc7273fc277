#include "topgg/manager.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

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

namespace {
// A key change for the loop thread: made by the posted task or, if a close
// drops the task unrun (no request is checked any more then), when its last
// copy goes — never lost, never made twice.
class KeyChange {
public:
  KeyChange(std::function<void()> change, std::function<void()> done)
      : change_(std::move(change)), done_(std::move(done)) {}
  KeyChange(const KeyChange&) = delete;
  KeyChange& operator=(const KeyChange&) = delete;
  ~KeyChange() { run(); }
  void make() noexcept {
    if (std::exchange(made_, true))
      return;
    try {
      change_(); // checked before it was posted: cannot throw but for memory
    } catch (...) {
    }
  }
  void run() noexcept {
    make();
    if (auto done = std::exchange(done_, nullptr)) {
      try {
        done();
      } catch (...) { // like any task posted to the loop: contained
      }
    }
  }

private:
  std::function<void()> change_, done_;
  bool made_ = false;
};
} // namespace

void ManagerBase::change_key(std::function<void()> change, std::function<void()> done) {
  auto c = std::make_shared<KeyChange>(std::move(change), std::move(done));
  {
    std::lock_guard lock(m_); // run() cannot start meanwhile: no loop reads the routes while made here
    if (running_ && post_to_loop([c] { c->run(); }))
      return;
    c->make(); // not running, or a close has no connection left to check a request
  }
  c->run(); // `done`, without the lock: it may ask port() or post()
}

void ManagerBase::replace_auth_key(std::string_view route, std::string key, std::function<void()> done) {
  router_.check_key(route, false, {key});
  change_key([this, r = std::string(route), k = std::move(key)]() mutable { router_.replace_auth_key(r, std::move(k)); },
             std::move(done));
}

void ManagerBase::replace_v1_secrets(std::string_view route, std::vector<std::string> secrets,
                                     std::function<void()> done) {
  router_.check_key(route, true, secrets);
  change_key([this, r = std::string(route), s = std::move(secrets)]() mutable {
    router_.replace_v1_secrets(r, std::move(s));
  },
             std::move(done));
}

} // namespace topgg
