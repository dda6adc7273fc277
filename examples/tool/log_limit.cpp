#include "log_limit.hpp"

namespace tool {

LineLimiter::LineLimiter(Limits limits, std::function<void(const std::string&)> summary)
    : limits_(limits), summary_(std::move(summary)), thread_([this] { run(); }) {}

LineLimiter::~LineLimiter() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  flush();
}

bool LineLimiter::allow(const std::string& reason, const std::string& client, const std::string& what,
                        Clock::time_point now) {
  std::lock_guard lock(m_);
  std::string key = reason + "|" + client;
  auto it = periods_.find(key);
  if (it == periods_.end()) {
    if (periods_.size() >= limits_.most_keys) // a crowd of clients: counted together
      key = reason + "|*";
    it = periods_.try_emplace(key, Period{now, 0, 0, {}}).first;
  }
  Period& p = it->second;
  if (p.written < limits_.lines_per_period) {
    ++p.written;
    return true;
  }
  if (p.held++ == 0)
    p.what = key.ends_with("|*") ? what + " (and other clients)" : what;
  return false;
}

void LineLimiter::flush() { summaries(Clock::now(), true); }

// Ends the periods that are over (all of them when `all`): a summary for
// those that held lines back; a quiet one is simply forgotten.
void LineLimiter::summaries(Clock::time_point now, bool all) {
  std::vector<std::string> lines;
  {
    std::lock_guard lock(m_);
    for (auto it = periods_.begin(); it != periods_.end();) {
      const Period& p = it->second;
      if (!all && now - p.start < limits_.period) {
        ++it;
        continue;
      }
      if (p.held > 0) {
        const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - p.start).count();
        lines.push_back(std::to_string(p.held) + " more like \"" + p.what + "\" in " + std::to_string(secs) +
                        " s were not logged one by one");
      }
      it = periods_.erase(it);
    }
  }
  for (const std::string& line : lines)
    summary_(line);
}

void LineLimiter::run() {
  std::unique_lock lock(m_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_)
      break;
    lock.unlock();
    summaries(Clock::now(), false);
    lock.lock();
  }
}

} // namespace tool
