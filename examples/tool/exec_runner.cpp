#include "exec_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <cstring>

extern char** environ;

namespace tool {
namespace {

using Clock = std::chrono::steady_clock;

/// A descriptor that turns readable when `pid` exits (always close-on-exec),
/// or -1 where the kernel has none (before Linux 5.3): the wait then polls.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

/// The dispositions a command starts with at SIG_DFL: those the tool changes
/// for itself (SIGPIPE ignored; SIGINT, SIGTERM blocked for sigwait), plus
/// glibc's two internal signals, which its posix_spawn otherwise leaves
/// ignored in every child (sigaddset refuses them, hence the raw bits).
sigset_t reset_to_default() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM})
    sigaddset(&set, sig);
#if defined(__GLIBC__) && defined(__linux__)
  constexpr int word_bits = 8 * sizeof set.__val[0];
  for (int sig : {__SIGRTMIN, __SIGRTMIN + 1}) // SIGCANCEL, SIGSETXID
    set.__val[(sig - 1) / word_bits] |= 1UL << ((sig - 1) % word_bits);
#endif
  return set;
}

std::string describe(int status) {
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 127) // what sh answers when it finds no such command
      return "command not found (exit 127)";
    if (code == 126)
      return "command not executable (exit 126)";
    return "exit status " + std::to_string(code);
  }
  if (WIFSIGNALED(status)) {
    std::string why = "killed by signal " + std::to_string(WTERMSIG(status));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
    if (const char* name = sigabbrev_np(WTERMSIG(status)))
      why += std::string(" (SIG") + name + ")";
#endif
    return why;
  }
  return "ended with wait status " + std::to_string(status);
}

} // namespace

ExecRunner::ExecRunner(std::string command, std::size_t workers, std::chrono::milliseconds timeout,
                       const std::vector<std::string>& pass_env, const std::vector<std::string>& more_secrets,
                       std::function<void(std::string_view)> output)
    : command_(std::move(command)), output_(std::move(output)), timeout_(timeout), workers_count_(workers),
      max_queue_(workers * kQueuePerWorker) {
  // Commands are the user's, but they log, crash-report and start other
  // programs: a secret in their environment travels with all of that.
  for (char** e = environ; e && *e; ++e) {
    const std::string_view var(*e);
    const std::string_view name = var.substr(0, var.find('='));
    const bool secret = std::find(kSecretEnv.begin(), kSecretEnv.end(), name) != kSecretEnv.end() ||
                        std::find(more_secrets.begin(), more_secrets.end(), name) != more_secrets.end();
    if (!secret || std::find(pass_env.begin(), pass_env.end(), name) != pass_env.end())
      env_.emplace_back(var);
  }
  for (auto& var : env_)
    envp_.push_back(var.data());
  envp_.push_back(nullptr);
  for (std::size_t i = 0; i < workers; ++i)
    workers_.emplace_back([this] { work(); });
  watcher_ = std::thread([this] { watch_queue(); });
}

ExecRunner::~ExecRunner() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(m_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  watch_cv_.notify_all();
  // Shutdown waits for running commands (each bounded by its timeout), not
  // for a queue of them one after another.
  for (auto& job : dropped)
    job.done({false, "not run: shutting down", false});
  for (auto& t : workers_)
    t.join();
  watcher_.join();
}

void ExecRunner::submit(std::string line, Clock::time_point latest_start, std::function<bool()> wanted,
                        std::function<void(const ExecResult&)> done) {
  ExecResult refused{false, {}, false};
  {
    std::lock_guard lock(m_);
    if (stopping_ || (draining_ && busy_ + queue_.size() >= workers_count_)) {
      refused.why = "not run: shutting down";
    } else if (queue_.size() >= max_queue_) {
      refused.why =
          "queue full (" + std::to_string(queue_.size()) + " events waiting for a command; raise --exec-jobs)";
    } else {
      queue_.push_back({std::move(line), Clock::now(), latest_start, std::move(wanted), std::move(done)});
      cv_.notify_one();
      if (queue_.size() == 1)
        watch_cv_.notify_one(); // a new front: the clock's next time
      return;
    }
  }
  done(refused);
}

void ExecRunner::refuse_waiting() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(m_);
    draining_ = true;
    dropped.swap(queue_);
  }
  for (auto& job : dropped)
    job.done({false, "not run: shutting down", false});
}

ExecResult ExecRunner::not_started(const Job& job, Clock::time_point now) const {
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - job.queued_at).count();
  return {false,
          "still queued after " + std::to_string(waited) + " ms, every one of the " + std::to_string(workers_count_) +
              " commands busy: not run, since it could no longer end within --ack-timeout (raise --exec-jobs, or "
              "lower --exec-timeout)",
          false};
}

void ExecRunner::watch_queue() {
  std::unique_lock lock(m_);
  while (!stopping_) {
    if (queue_.empty()) {
      watch_cv_.wait(lock);
      continue;
    }
    const auto now = Clock::now();
    // A copy: wait_until reads it again after waking, when a worker may have taken (and freed) that job.
    const Clock::time_point front_latest = queue_.front().latest_start;
    if (now < front_latest) {
      watch_cv_.wait_until(lock, front_latest);
      continue;
    }
    // Deadlines follow arrival order: the late ones are at the front.
    std::vector<Job> late;
    while (!queue_.empty() && queue_.front().latest_start <= now) {
      late.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    for (Job& job : late)
      job.done(not_started(job, now));
    late.clear(); // the callbacks' captures go before the lock is taken again
    lock.lock();
  }
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
      ++busy_;
    }
    const auto now = Clock::now();
    if (!job.wanted())
      job.done({false, "not run: its delivery was answered while it waited in the queue", false});
    else if (now > job.latest_start)
      job.done(not_started(job, now));
    else
      job.done(run_one(job.line));
    std::lock_guard lock(m_);
    --busy_;
  }
}

namespace {
/// What a command writes, cut into lines for ExecRunner's `output`.
class Lines {
public:
  static constexpr std::size_t kMost = 8192;
  explicit Lines(const std::function<void(std::string_view)>& out) : out_(out) {}
  /// Reads what `fd` has now (non-blocking); false at its end or on an error.
  bool read_from(int fd) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        add({buf, static_cast<std::size_t>(n)});
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  /// The last line, even without its newline.
  void flush() {
    if (!partial_.empty())
      out_(std::exchange(partial_, {}));
  }

private:
  void add(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n') {
        out_(partial_);
        partial_.clear();
      } else if (partial_.push_back(c); partial_.size() >= kMost) {
        flush();
      }
    }
  }
  const std::function<void(std::string_view)>& out_;
  std::string partial_;
};
} // namespace

ExecResult ExecRunner::run_one(const std::string& line) const {
  const auto deadline = Clock::now() + timeout_;
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return {false, std::string("could not start: pipe: ") + std::strerror(errno)};
  int out[2] = {-1, -1}; // the command's stdout and stderr, with `output_`
  if (output_ && pipe2(out, O_CLOEXEC) != 0) {
    const int err = errno;
    close(in[0]);
    close(in[1]);
    return {false, std::string("could not start: pipe: ") + std::strerror(err)};
  }
  // Our end does not block, so a command that never reads its stdin cannot
  // hold this thread past the deadline; the command's end stays blocking, as
  // programs expect of stdin.
  fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
  if (out[0] >= 0)
    fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  if (out[1] >= 0) {
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  } else {
    posix_spawn_file_actions_adddup2(&fa, 2, 1); // our stdout carries only event lines
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  // Everything the server opens is close-on-exec; this keeps a descriptor
  // that some library opened without the flag from reaching the command too.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own group: a timeout kills what the command started too. Signals: a
  // command must not inherit the tool's blocked SIGTERM (it could not be
  // stopped) nor its ignored SIGPIPE (pipelines would not end).
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  const sigset_t dfl = reset_to_default();
  posix_spawnattr_setsigdefault(&attr, &dfl);
  const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char**>(argv), envp_.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  if (out[1] >= 0)
    close(out[1]);
  if (rc != 0) {
    close(in[1]);
    if (out[0] >= 0)
      close(out[0]);
    return {false, std::string("could not start /bin/sh: ") + std::strerror(rc)};
  }

  const int pidfd = open_pidfd(pid);
  const std::string data = line + "\n";
  std::size_t off = 0;
  int to_child = in[1];
  int from_child = out[0];
  Lines lines(output_);
  ExecResult result;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result = {status == 0, status == 0 ? std::string() : describe(status)};
      break;
    }
    const auto now = Clock::now();
    if (r < 0 && errno != EINTR) { // not ours to wait for any more: make sure nothing of it runs on
      kill(-pid, SIGKILL);
      result = {false, std::string("lost track of the command: ") + std::strerror(errno)};
      break;
    }
    if (now >= deadline) {
      kill(-pid, SIGKILL); // the whole group: what the shell started dies with it
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result = {false, "timed out after " + std::to_string(timeout_.count()) + " ms"};
      break;
    }
    auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    pollfd fds[3];
    nfds_t n = 0;
    if (to_child >= 0)
      fds[n++] = {to_child, POLLOUT, 0};
    if (from_child >= 0)
      fds[n++] = {from_child, POLLIN, 0};
    if (pidfd >= 0)
      fds[n++] = {pidfd, POLLIN, 0};
    else
      wait_ms = std::min<decltype(wait_ms)>(wait_ms, 5); // no exit notification: look again soon
    if (poll(fds, n, static_cast<int>(wait_ms)) <= 0)
      continue;
    if (from_child >= 0 && fds[to_child >= 0 ? 1 : 0].revents != 0 && !lines.read_from(from_child)) {
      close(from_child); // its end: every writer (the command and what it started) closed it
      from_child = -1;
    }
    if (to_child < 0 || fds[0].revents == 0)
      continue;
    const ssize_t w = write(to_child, data.data() + off, data.size() - off);
    if (w > 0)
      off += static_cast<std::size_t>(w);
    const bool again = w < 0 && (errno == EAGAIN || errno == EINTR);
    // All written: end of file for the command. Or it closed its stdin
    // (EPIPE): then its exit status decides.
    if (off == data.size() || (w <= 0 && !again)) {
      close(to_child);
      to_child = -1;
    }
  }
  if (to_child >= 0)
    close(to_child);
  if (pidfd >= 0)
    close(pidfd);
  if (from_child >= 0) { // what it wrote before it ended; not what a process it left behind writes later
    lines.read_from(from_child);
    close(from_child);
  }
  lines.flush();
  return result;
}

} // namespace tool
