// Internal to the Redis library: a blocking hiredis connection for the stream
// writer's and reader's own threads (redis_stream_writer.cpp,
// redis_stream_reader.cpp). Connecting includes AUTH and SELECT; every wait is
// bounded by the options' timeouts.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/redis_store.hpp"

namespace topgg::detail::redis {

struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

/// "redis HOST:PORT/DB", never the password: names the server in lines.
std::string where(const RedisOptions& o);
/// Throws std::invalid_argument("<who>: …") for options a connection cannot use.
void check_connection_options(const RedisOptions& o, std::string_view who);

/// One connection, used by one thread at a time.
class SyncConnection {
public:
  explicit SyncConnection(RedisOptions o) : opt_(std::move(o)) {}
  ~SyncConnection() { close(); }
  SyncConnection(const SyncConnection&) = delete;
  SyncConnection& operator=(const SyncConnection&) = delete;

  /// Connects, AUTH, SELECT; on failure false, with why and whether trying
  /// again cannot help (a refused password, a db out of range, an unknown host).
  bool open(std::string& why, bool& lasting);
  bool connected() const noexcept { return c_ != nullptr; }
  void close() noexcept;
  /// Answers to a command wait for `timeout` at most (the connection's
  /// default is command_timeout).
  void set_timeout(std::chrono::milliseconds timeout);

  /// Sends `args` and waits for the answer; nullptr (and the connection
  /// closed) when it cannot be sent or read, with why. An error reply is a
  /// reply: check its type.
  Reply call(const std::vector<std::string_view>& args, std::string& why);
  /// Pipelining: append() several, then reply() once each, in order.
  bool append(const std::vector<std::string_view>& args, std::string& why);
  Reply reply(std::string& why);

  /// Redis answered that it cannot take commands now (a failover, loading):
  /// the connection should be opened again.
  static bool reconnect_error(const redisReply& r);

  const RedisOptions& options() const noexcept { return opt_; }

private:
  RedisOptions opt_;
  redisContext* c_ = nullptr;
  std::string failure(std::string_view what);
};

/// A probe() waiting for the writer's thread; the first finish() answers it.
struct ProbeWait {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  RedisProbe result;
  void finish(RedisProbe::Kind kind, std::string why) {
    std::lock_guard lock(m);
    if (finished)
      return;
    result = {kind, std::move(why)};
    finished = true;
    cv.notify_all();
  }
  RedisProbe wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, timeout, [this] { return finished; }))
      return {RedisProbe::Kind::transient, "no answer within " + std::to_string(timeout.count()) + " ms"};
    return result;
  }
};

/// `line` to `hook`, or to standard error without one; a hook that throws loses its line, nothing more.
inline void tell(const std::function<void(std::string_view)>& hook, std::string_view line) noexcept {
  if (!hook) {
    std::fprintf(stderr, "topgg: %.*s\n", static_cast<int>(line.size()), line.data());
    return;
  }
  try {
    hook(line);
  } catch (...) {
  }
}

/// min(2 * d, max): the next wait before reconnecting.
inline std::chrono::milliseconds doubled(std::chrono::milliseconds d, std::chrono::milliseconds max) {
  return std::min(d * 2, max);
}

} // namespace topgg::detail::redis
