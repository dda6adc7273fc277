// Helpers for the store tests and the benchmark: waiting for deferred claims,
// collecting error-hook lines, temporary directories.
#pragma once

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "topgg/idempotency.hpp"

namespace ts {

using namespace std::chrono_literals;
using topgg::ClaimResult;
using Steady = std::chrono::steady_clock;

/// A Now whose wall clock is 2023-11-14 plus `ms`; the stores that keep wall time take it from here.
inline topgg::Now at(std::int64_t ms) {
  topgg::Now n;
  n.mono = topgg::Clock::time_point{} + std::chrono::milliseconds(ms);
  n.wall = std::chrono::system_clock::time_point{} + std::chrono::milliseconds(1'700'000'000'000 + ms);
  return n;
}

// The waits below are generous: only a store that never answers makes a test
// wait that long, however busy or slow (sanitizers) the machine.

/// Claims and waits for the answer (deferred or not); nullopt if none came within `wait`.
inline std::optional<ClaimResult> claim(topgg::IdempotencyStore& s, std::string_view key, topgg::Now now,
                                        std::chrono::milliseconds lease = 10'000ms,
                                        std::chrono::milliseconds wait = 30'000ms) {
  auto p = std::make_shared<std::promise<ClaimResult>>();
  auto f = p->get_future();
  topgg::ClaimDeferral later([p](ClaimResult r) { p->set_value(r); });
  if (auto r = s.claim(key, now, lease, later)) {
    if (later.deferred())
      throw std::logic_error("a store deferred and answered at once");
    return r;
  }
  if (!later.deferred())
    throw std::logic_error("a store neither answered nor deferred");
  if (f.wait_for(wait) != std::future_status::ready)
    return std::nullopt;
  return f.get();
}

/// Many claims in flight at once; answers land in `results` by index.
class Batch {
public:
  explicit Batch(std::size_t n) : results_(n) {}

  /// Starts claim `i`; returns true if the store answered at once.
  bool start(topgg::IdempotencyStore& s, std::size_t i, std::string_view key, topgg::Now now,
             std::chrono::milliseconds lease = 10'000ms) {
    topgg::ClaimDeferral later([this, i](ClaimResult r) { set(i, r); });
    if (auto r = s.claim(key, now, lease, later)) {
      set(i, *r);
      return true;
    }
    return false;
  }

  /// True when every claim was answered within `wait`.
  bool wait(std::chrono::milliseconds wait = 60'000ms) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, wait, [&] { return done_ == results_.size(); });
  }

  std::size_t answered() {
    std::lock_guard lock(m_);
    return done_;
  }
  std::vector<std::optional<ClaimResult>> results() {
    std::lock_guard lock(m_);
    return results_;
  }
  std::size_t count(ClaimResult r) {
    std::lock_guard lock(m_);
    std::size_t n = 0;
    for (auto& x : results_)
      n += x == r;
    return n;
  }

private:
  void set(std::size_t i, ClaimResult r) {
    std::lock_guard lock(m_);
    if (results_[i])
      throw std::logic_error("a claim was answered twice");
    results_[i] = r;
    if (++done_ == results_.size())
      cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::optional<ClaimResult>> results_;
  std::size_t done_ = 0;
};

/// What a store told its error hook.
class Reports {
public:
  void attach(topgg::IdempotencyStore& s) {
    s.on_error([this](std::string_view line) {
      std::lock_guard lock(m_);
      lines_.emplace_back(line);
      cv_.notify_all();
    });
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(m_);
    return lines_;
  }
  std::size_t size() {
    std::lock_guard lock(m_);
    return lines_.size();
  }
  /// Waits until at least `n` lines were reported.
  bool wait_for(std::size_t n, std::chrono::milliseconds wait = 30'000ms) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, wait, [&] { return lines_.size() >= n; });
  }
  std::string all() {
    std::lock_guard lock(m_);
    std::string s;
    for (auto& l : lines_)
      s += l + "\n";
    return s;
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/// CPU time this process used while sleeping for `d`: an idle store must not spin.
inline std::chrono::milliseconds cpu_while_sleeping(std::chrono::milliseconds d) {
  auto cpu = [] {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(d);
  return std::chrono::duration_cast<std::chrono::milliseconds>(cpu() - before);
}

class TempDir {
public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "topgg-stores-XXXXXX").string();
    if (!::mkdtemp(t.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const char* name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

} // namespace ts
