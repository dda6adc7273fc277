// A real redis-server for the Redis store tests and the benchmark: on a free
// loopback port, in a temporary directory, without persistence.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "support.hpp"
#include "topgg/redis_store.hpp"

namespace ts {

/// A RedisStore on 127.0.0.1:`port` that waits up to `timeout` for each answer and reconnects at
/// once (20-100 ms): the ledger and connection tests' store.
inline topgg::RedisOptions quick_options(int port,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  topgg::RedisOptions o;
  o.port = static_cast<std::uint16_t>(port);
  o.command_timeout = timeout;
  o.connect_timeout = timeout;
  o.reconnect_min = std::chrono::milliseconds(20);
  o.reconnect_max = std::chrono::milliseconds(100);
  return o;
}

/// The redis-server program: $REDIS_SERVER (set by meson), else the first on $PATH; empty if none.
inline std::string redis_server_program() {
  if (const char* p = std::getenv("REDIS_SERVER"); p && *p && ::access(p, X_OK) == 0)
    return p;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/redis-server";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  return {};
}

/// A port nobody listens on now (the kernel's choice of an ephemeral one).
inline int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot find a free port");
  ::close(s);
  return ntohs(a.sin_port);
}

/// Timeouts that cannot run out while Redis answers, however busy or slow
/// (ThreadSanitizer) the machine: what a case checks must not depend on a
/// deadline. Redis stopped, refusing or answering with an error is seen at
/// once anyway. Quick reconnections, so that outages are left quickly.
inline topgg::RedisOptions patient(int port) {
  topgg::RedisOptions o;
  o.port = static_cast<std::uint16_t>(port);
  o.command_timeout = std::chrono::milliseconds(60'000);
  o.connect_timeout = std::chrono::milliseconds(60'000);
  o.reconnect_min = std::chrono::milliseconds(20);
  o.reconnect_max = std::chrono::milliseconds(100);
  return o;
}

/// A real redis-server on 127.0.0.1, in a temporary directory, without
/// persistence. Killed when this object goes, and by the kernel if the test
/// process dies first (PR_SET_PDEATHSIG).
class RedisServer {
public:
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (start_once())
        return;
    }
    throw std::runtime_error("redis-server did not start; its log:\n" + log());
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  /// Stops it (SIGTERM: it closes every connection) and waits for the process.
  void stop() {
    if (pid_ <= 0)
      return;
    if (paused_)
      resume();
    ::kill(pid_, SIGTERM);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  /// Starts it again on the same port.
  void start() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (start_once())
        return;
      std::this_thread::sleep_for(100ms);
    }
    throw std::runtime_error("redis-server did not restart; its log:\n" + log());
  }
  /// SIGSTOP: connections stay open, nothing is answered.
  void pause() {
    ::kill(pid_, SIGSTOP);
    paused_ = true;
  }
  void resume() {
    ::kill(pid_, SIGCONT);
    paused_ = false;
  }

  /// A blocking connection for checking what the store wrote.
  struct Client {
    redisContext* c;
    explicit Client(int port) : c(redisConnectWithTimeout("127.0.0.1", port, {30, 0})) {
      if (!c || c->err)
        throw std::runtime_error("cannot connect to redis-server");
      redisSetTimeout(c, {30, 0});
    }
    ~Client() { redisFree(c); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    /// The reply as text: a string, an integer, "(nil)", "ERR …" or "OK".
    std::string command(const std::vector<std::string>& args) {
      std::vector<const char*> argv;
      std::vector<std::size_t> len;
      for (auto& a : args)
        argv.push_back(a.data()), len.push_back(a.size());
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), len.data()));
      if (!r)
        throw std::runtime_error("redis-server did not answer");
      std::string out;
      switch (r->type) {
      case REDIS_REPLY_STRING:
      case REDIS_REPLY_STATUS:
      case REDIS_REPLY_ERROR: out.assign(r->str, r->len); break;
      case REDIS_REPLY_INTEGER: out = std::to_string(r->integer); break;
      case REDIS_REPLY_NIL: out = "(nil)"; break;
      default: out = "(other)";
      }
      freeReplyObject(r);
      return out;
    }
  };

  std::string log() const {
    std::string s;
    if (FILE* f = std::fopen(dir_.file("redis.log").c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        s.append(buf, n);
      std::fclose(f);
    }
    return s;
  }

private:
  bool start_once() {
    const std::string program = redis_server_program();
    if (program.empty())
      throw std::runtime_error("redis-server is not installed");
    std::vector<std::string> args = {
        program, "--port", std::to_string(port_), "--bind",      "127.0.0.1", "--save",    "", "--appendonly",
        "no",    "--dir",  dir_.path(),           "--daemonize", "no",        "--logfile", ""};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const int log = ::open(dir_.file("redis.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) { // only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent)
        ::_exit(127);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log);
    if (pid < 0)
      throw std::runtime_error("fork failed");
    pid_ = pid;
    const auto until = Steady::now() + 30s; // its start, on a busy machine
    while (Steady::now() < until) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) { // exited: port taken, or bad arguments
        pid_ = -1;
        return false;
      }
      if (answers())
        return true;
      std::this_thread::sleep_for(10ms);
    }
    stop();
    return false;
  }

  bool answers() const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, {0, 200'000});
    bool ok = false;
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      // PONG, or NOAUTH when a password is set: either way it is serving.
      ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR);
      if (r)
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
  }

  TempDir dir_;
  std::vector<std::string> extra_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

} // namespace ts
