// Rate limits for the refusal log: anyone can send requests that are refused,
// and each was one stderr line (800,000 lines, 234 MB, in 5 s from one
// client). Per reason and client address, the first few lines of each period
// are written; the rest are counted, and one summary line per period says how
// many were not written. Nothing is lost from the counts.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tool {

class LineLimiter {
public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::size_t lines_per_period = 5;
    std::chrono::seconds period{10};
    std::size_t most_keys = 1024; ///< beyond this, new clients share one key per reason
  };

  /// `summary(text)` writes a summary line ("N more ... not logged"); it runs
  /// on the limiter's thread or in flush().
  LineLimiter(Limits limits, std::function<void(const std::string&)> summary);
  /// flush().
  ~LineLimiter();
  LineLimiter(const LineLimiter&) = delete;
  LineLimiter& operator=(const LineLimiter&) = delete;

  /// True if the line for (`reason`, `client`) may be written now; false if it
  /// is counted instead. `what` describes the line for the summary
  /// ("refused 401 POST /dbl from 203.0.113.7").
  bool allow(const std::string& reason, const std::string& client, const std::string& what, Clock::time_point now);
  /// Writes the summaries of every period with lines held back, now.
  void flush();

private:
  struct Period {
    Clock::time_point start;
    std::size_t written = 0;
    std::uint64_t held = 0;
    std::string what; ///< the first line held back, described
  };
  void summaries(Clock::time_point now, bool all);
  void run();

  Limits limits_;
  std::function<void(const std::string&)> summary_;
  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::string, Period> periods_; // "reason|client"
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace tool
