#include "redis_sync.hpp"

#include <sys/time.h>

#include <cerrno>

#include <stdexcept>

namespace topgg::detail::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

std::string error_text(const redisReply& r) { return std::string(r.str ? r.str : "", r.str ? r.len : 0); }

} // namespace

std::string where(const RedisOptions& o) {
  const bool v6 = o.host.find(':') != std::string::npos;
  return "redis " + (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port) + "/" + std::to_string(o.db);
}

void check_connection_options(const RedisOptions& o, std::string_view who) {
  auto refuse = [who](const char* what) { throw std::invalid_argument(std::string(who) + ": " + what); };
  if (o.host.empty())
    refuse("empty host");
  if (o.port == 0)
    refuse("port 0");
  if (o.db < 0)
    refuse("negative db");
  if (o.connect_timeout.count() <= 0 || o.command_timeout.count() <= 0)
    refuse("timeouts must be positive");
  if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min)
    refuse("reconnect_min must be positive and at most reconnect_max");
}

std::string SyncConnection::failure(std::string_view what) {
  std::string why(what);
  if (c_ && c_->err)
    why += std::string(why.empty() ? "" : ": ") + c_->errstr;
  close();
  return why;
}

bool SyncConnection::open(std::string& why, bool& lasting) {
  close();
  lasting = false;
  const timeval tv = to_timeval(opt_.connect_timeout);
  c_ = redisConnectWithTimeout(opt_.host.c_str(), opt_.port, tv);
  if (!c_) {
    why = "cannot allocate a connection";
    return false;
  }
  if (c_->err) {
    why = c_->errstr;
    // hiredis reports getaddrinfo's text: a name that does not exist will not start existing.
    lasting = why.find("Name or service not known") != std::string::npos;
    close();
    return false;
  }
  redisSetTimeout(c_, tv); // AUTH and SELECT count against connect_timeout too
  auto handshake = [&](const std::vector<std::string_view>& args, const char* what) {
    Reply r = call(args, why);
    if (!r)
      return false;
    if (r->type == REDIS_REPLY_ERROR) {
      why = std::string(what) + " refused: " + error_text(*r);
      lasting = !reconnect_error(*r);
      close();
      return false;
    }
    return true;
  };
  if (!opt_.password.empty()) {
    std::vector<std::string_view> auth = {"AUTH"};
    if (!opt_.username.empty())
      auth.push_back(opt_.username);
    auth.push_back(opt_.password);
    if (!handshake(auth, "AUTH"))
      return false;
  }
  if (opt_.db != 0) {
    const std::string db = std::to_string(opt_.db);
    if (!handshake({"SELECT", db}, "SELECT"))
      return false;
  }
  set_timeout(opt_.command_timeout);
  return true;
}

void SyncConnection::close() noexcept {
  if (c_)
    redisFree(c_);
  c_ = nullptr;
}

void SyncConnection::set_timeout(std::chrono::milliseconds timeout) {
  if (c_)
    redisSetTimeout(c_, to_timeval(timeout));
}

bool SyncConnection::append(const std::vector<std::string_view>& args, std::string& why) {
  if (!c_) {
    why = "not connected";
    return false;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(c_, static_cast<int>(args.size()), argv.data(), lens.data()) != REDIS_OK) {
    why = failure("");
    return false;
  }
  return true;
}

Reply SyncConnection::reply(std::string& why) {
  if (!c_) {
    why = "not connected";
    return nullptr;
  }
  void* r = nullptr;
  if (redisGetReply(c_, &r) != REDIS_OK || !r) {
    // A read that timed out is EAGAIN: hiredis says "Resource temporarily unavailable".
    const bool timed_out = c_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    why = failure(timed_out ? "no answer in time" : "");
    if (why.empty())
      why = "connection lost";
    return nullptr;
  }
  return Reply(static_cast<redisReply*>(r));
}

Reply SyncConnection::call(const std::vector<std::string_view>& args, std::string& why) {
  if (!append(args, why))
    return nullptr;
  return reply(why);
}

bool SyncConnection::reconnect_error(const redisReply& r) {
  const std::string_view s(r.str ? r.str : "", r.str ? r.len : 0);
  for (std::string_view p : {"READONLY", "LOADING", "MASTERDOWN", "BUSY ", "TRYAGAIN", "CLUSTERDOWN"})
    if (s.substr(0, p.size()) == p)
      return true;
  return false;
}

} // namespace topgg::detail::redis
