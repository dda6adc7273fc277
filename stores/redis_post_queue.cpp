// The Discord poster's queue in Redis (topgg/redis_post_queue.hpp): one blocking connection
// (redis_sync.hpp), each step one script so that the capacity check and the seq, the lease and the
// head, are read and written in one round trip that no other replica can cut in two.
#include "topgg/redis_post_queue.hpp"

#include <mutex>
#include <stdexcept>

#include "common.hpp"
#include "redis_sync.hpp"

namespace topgg {

namespace {

// KEYS[1] posts, KEYS[2] seq; ARGV[1] capacity, ARGV[2] body. 0 when full, else the seq given.
constexpr const char* kPush = R"(
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], seq, seq .. ':' .. ARGV[2])
return seq)";

// KEYS[1] lease, KEYS[2] posts; ARGV[1] token, ARGV[2] ttl (ms). {} when another holds the lease,
// {1} when this one holds it and nothing is queued, else {1, member}.
constexpr const char* kFront = R"(
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
elseif holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return {}
end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)
if #head == 0 then return {1} end
return {1, head[1]})";

// KEYS[1] lease; ARGV[1] token.
constexpr const char* kRelease = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0)";

} // namespace

struct __attribute__((visibility("hidden"))) RedisPostQueue::Impl {
  detail::redis::SyncConnection conn;
  std::string posts, seq, lease, token, ttl;
  std::size_t capacity = 0;
  std::mutex m;

  explicit Impl(RedisOptions o) : conn(std::move(o)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("the Discord queue in " + detail::redis::where(conn.options()) + ": " + what);
  }
  /// The answer to `args` (connecting first when needed); throws for no answer or an error reply.
  detail::redis::Reply call(const std::vector<std::string_view>& args) {
    std::string why;
    if (!conn.connected()) {
      bool lasting = false;
      if (!conn.open(why, lasting))
        fail(why);
    }
    detail::redis::Reply r = conn.call(args, why);
    if (!r)
      fail(why);
    if (r->type == REDIS_REPLY_ERROR) {
      if (detail::redis::SyncConnection::reconnect_error(*r))
        conn.close();
      fail(std::string(r->str, r->len));
    }
    return r;
  }
  long long integer(const std::vector<std::string_view>& args) {
    detail::redis::Reply r = call(args);
    if (r->type != REDIS_REPLY_INTEGER)
      fail("unexpected answer to " + std::string(args[0]));
    return r->integer;
  }
};

RedisPostQueue::RedisPostQueue(RedisOptions redis, std::size_t capacity, std::chrono::milliseconds lease_ttl) {
  detail::redis::check_connection_options(redis, "RedisPostQueue");
  if (capacity == 0)
    throw std::invalid_argument("RedisPostQueue: capacity 0");
  if (lease_ttl < std::chrono::milliseconds(100))
    throw std::invalid_argument("RedisPostQueue: lease_ttl under 100 ms");
  const std::string prefix = redis.key_prefix;
  impl_ = std::make_unique<Impl>(std::move(redis));
  impl_->posts = prefix + "discord-posts";
  impl_->seq = prefix + "discord-seq";
  impl_->lease = prefix + "discord-lease";
  impl_->token = detail::random_token(); // the lease holder's name: 128 random bits
  impl_->ttl = std::to_string(lease_ttl.count());
  impl_->capacity = capacity;
}

RedisPostQueue::~RedisPostQueue() {
  Impl& i = *impl_;
  if (!i.conn.connected())
    return; // never connected, or lost: nothing to release that it could reach
  std::string why;
  i.conn.call({"EVAL", kRelease, "1", i.lease, i.token}, why);
}

bool RedisPostQueue::push(std::string_view body) {
  std::lock_guard lock(impl_->m);
  const std::string cap = std::to_string(impl_->capacity);
  return impl_->integer({"EVAL", kPush, "2", impl_->posts, impl_->seq, cap, body}) > 0;
}

std::optional<QueuedPost> RedisPostQueue::front() {
  std::lock_guard lock(impl_->m);
  Impl& i = *impl_;
  detail::redis::Reply r = i.call({"EVAL", kFront, "2", i.lease, i.posts, i.token, i.ttl});
  if (r->type != REDIS_REPLY_ARRAY)
    i.fail("unexpected answer to the head's script");
  if (r->elements < 2)
    return std::nullopt; // another replica posts, or nothing is queued
  const redisReply* member = r->element[1];
  if (member->type != REDIS_REPLY_STRING)
    i.fail("unexpected answer to the head's script");
  const std::string_view m(member->str, member->len);
  const std::size_t colon = m.find(':');
  if (colon == std::string_view::npos || colon == 0)
    i.fail("a queued message without its seq");
  QueuedPost p;
  for (char c : m.substr(0, colon)) {
    if (c < '0' || c > '9')
      i.fail("a queued message without its seq");
    p.seq = p.seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  p.body.assign(m.substr(colon + 1));
  return p;
}

void RedisPostQueue::pop(std::uint64_t seq) {
  std::lock_guard lock(impl_->m);
  const std::string s = std::to_string(seq);
  impl_->integer({"ZREMRANGEBYSCORE", impl_->posts, s, s});
}

std::size_t RedisPostQueue::size() {
  std::lock_guard lock(impl_->m);
  return static_cast<std::size_t>(impl_->integer({"ZCARD", impl_->posts}));
}

} // namespace topgg
