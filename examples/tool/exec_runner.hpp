// Runs `--exec CMD` once per event: the event's JSON line on CMD's stdin,
// success only when CMD exits 0 within the timeout. Bounded: a fixed number
// of workers, a bounded queue (full → failure at once, so Top.gg retries).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tool {

class ExecRunner {
public:
  /// `command` is the user's own, run by /bin/sh -c; event data never
  /// reaches the command line, only stdin.
  ExecRunner(std::string command, std::size_t workers, std::chrono::milliseconds timeout);
  ~ExecRunner(); // finishes queued jobs, then joins
  ExecRunner(const ExecRunner&) = delete;
  ExecRunner& operator=(const ExecRunner&) = delete;

  /// `done(ok)` runs on a worker thread (or here, with false, when full).
  void submit(std::string line, std::function<void(bool ok)> done);

private:
  struct Job {
    std::string line;
    std::function<void(bool)> done;
  };
  void work();
  bool run_one(const std::string& line) const;

  std::string command_;
  std::chrono::milliseconds timeout_;
  std::size_t max_queue_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

} // namespace tool
