// Runs `--exec CMD` once per event: the event's JSON line on CMD's stdin,
// success only when CMD exits 0 within the timeout. Bounded: a fixed number
// of workers, a bounded queue (full → failure at once, so Top.gg retries).
// An event never starts once its delivery was answered, nor so late that its
// command could still be running when the delivery must be answered: such a
// delivery is answered 503 and comes again, and the command would run twice.
//
// What a command gets: stdin = the line, stdout and stderr = the tool's
// stderr (or a pipe whose lines go to `output`, see the constructor), no
// other descriptor; no blocked signal, SIGINT, SIGTERM and SIGPIPE
// at their defaults; the tool's environment minus the secrets (kSecretEnv)
// not named in `pass_env`. It runs in its own process group, all of which is
// killed when the timeout expires. The tool's process must ignore SIGPIPE
// (it does): a command may close its stdin before reading it all.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace tool {

/// Environment variables that hold the tool's secrets: never inherited by a
/// command unless passed deliberately (--exec-env NAME).
/// (Their _FILE variants hold a path, not the secret: inherited.)
inline constexpr std::array<std::string_view, 6> kSecretEnv = {"TOPGG_V1_SECRET", "TOPGG_DBL_AUTH",
                                                               "TOPGG_DSL_AUTH",  "TOPGG_TOKEN",
                                                               "TOPGG_REDIS_URL", "TOPGG_INTEGRATION_SECRET"};

/// How one run ended. `why` is empty on success, else one short phrase such
/// as "exit status 3" or "timed out after 1000 ms"; it never carries event data.
/// `started` is false for an event whose command never ran (queue full, still
/// queued when its time ran out, shutting down, its delivery answered already).
struct ExecResult {
  bool ok = false;
  std::string why;
  bool started = true;
};

class ExecRunner {
public:
  using Clock = std::chrono::steady_clock;
  /// Events waiting per worker before submit() refuses ("queue full").
  static constexpr std::size_t kQueuePerWorker = 16;

  /// `command` is the user's own, run by /bin/sh -c; event data never
  /// reaches the command line, only stdin. `timeout` counts from the start
  /// of the command to its exit, writing its stdin included. The environment
  /// is read here, once, without kSecretEnv and `more_secrets` (the variables
  /// named by --dbl ROUTE=VAR); `pass_env` names secrets to hand on all the same.
  /// With `output`, what the command writes on its stdout and stderr is read
  /// through a pipe and given to it line by line (on the worker's thread;
  /// lines over 8 KiB in pieces), until the command exits — the tool's JSON
  /// log then stays JSON; without, both are the tool's stderr.
  ExecRunner(std::string command, std::size_t workers, std::chrono::milliseconds timeout,
             const std::vector<std::string>& pass_env, const std::vector<std::string>& more_secrets = {},
             std::function<void(std::string_view line)> output = {});
  /// Queued events that have not started fail at once ("not run: shutting
  /// down"); running commands finish or time out; then the workers are joined.
  ~ExecRunner();
  ExecRunner(const ExecRunner&) = delete;
  ExecRunner& operator=(const ExecRunner&) = delete;

  /// Queues one event. Its command starts only if `wanted()` still holds
  /// then and the time is not past `latest_start` (so that the command, given
  /// its whole timeout, ends before its delivery must be answered); an event
  /// still queued at `latest_start` fails then, not run ("still queued").
  /// `done(result)` runs once, on a worker thread, the queue's clock thread,
  /// or here (queue full, shutting down).
  void submit(std::string line, Clock::time_point latest_start, std::function<bool()> wanted,
              std::function<void(const ExecResult&)> done);
  /// SIGTERM: events still waiting fail now ("not run: shutting down"), and
  /// from now on an event is accepted only while a worker is free to start it.
  void refuse_waiting();

private:
  struct Job {
    std::string line;
    Clock::time_point queued_at, latest_start;
    std::function<bool()> wanted;
    std::function<void(const ExecResult&)> done;
  };
  void work();
  void watch_queue(); // fails the events whose latest start passed while queued
  ExecResult not_started(const Job& job, Clock::time_point now) const;
  ExecResult run_one(const std::string& line) const;

  std::string command_;
  std::function<void(std::string_view)> output_;
  std::chrono::milliseconds timeout_;
  std::size_t workers_count_;
  std::size_t max_queue_;
  std::vector<std::string> env_; // "NAME=value", secrets removed
  std::vector<char*> envp_;      // points into env_, null-terminated
  std::mutex m_;
  std::condition_variable cv_;       // workers: a job or stop
  std::condition_variable watch_cv_; // the queue's clock: the front changed, or stop
  std::deque<Job> queue_;
  std::size_t busy_ = 0; // workers running a command
  bool stopping_ = false, draining_ = false;
  std::vector<std::thread> workers_;
  std::thread watcher_;
};

} // namespace tool
