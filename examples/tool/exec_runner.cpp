#include "exec_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace tool {

ExecRunner::ExecRunner(std::string command, std::size_t workers, std::chrono::milliseconds timeout)
    : command_(std::move(command)), timeout_(timeout), max_queue_(workers * 16) {
  for (std::size_t i = 0; i < workers; ++i)
    workers_.emplace_back([this] { work(); });
}

ExecRunner::~ExecRunner() {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void ExecRunner::submit(std::string line, std::function<void(bool)> done) {
  {
    std::lock_guard lock(m_);
    if (queue_.size() < max_queue_ && !stopping_) {
      queue_.push_back({std::move(line), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(false);
}

void ExecRunner::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job.done(run_one(job.line));
  }
}

bool ExecRunner::run_one(const std::string& line) const {
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, 2, 1); // our stdout carries only event lines
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP); // own group: a timeout kills its children too
  posix_spawnattr_setpgroup(&attr, 0);
  const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  if (rc != 0) {
    close(in[1]);
    return false;
  }
  const std::string data = line + "\n";
  for (std::size_t off = 0; off < data.size();) {
    const ssize_t n = write(in[1], data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // the command does not read stdin: its exit status decides
    off += static_cast<std::size_t>(n);
  }
  close(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (r < 0 && errno != EINTR)
      return false;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace tool
