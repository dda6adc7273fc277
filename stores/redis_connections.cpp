// The Redis store's integration connections: one hash (field: connection id,
// value: detail::encode_connection()) and one counter bumped with every
// change, so that receivers sharing Redis notice changes by polling a GET.
// Each change is one script (hash and counter together); rare, so sent with
// EVAL rather than loaded like the claim scripts.
#include <charconv>
#include <memory>
#include <stdexcept>

#include "redis_impl.hpp"

namespace topgg {

using namespace detail::redis;

namespace {

constexpr std::string_view hash_name = "integrations", version_name = "integrations-version";

constexpr const char* put_script = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return redis.call('INCR', KEYS[2])";
constexpr const char* erase_script =
    "local n = redis.call('HDEL', KEYS[1], ARGV[1]) if n == 1 then redis.call('INCR', KEYS[2]) end return n";
constexpr const char* load_script = "return {redis.call('GET', KEYS[2]) or '0', redis.call('HGETALL', KEYS[1])}";

std::string_view text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string_view(r->str, r->len)
                                                                               : std::string_view();
}

bool counter(const redisReply* r, std::uint64_t& out) {
  if (r && r->type == REDIS_REPLY_INTEGER) {
    out = static_cast<std::uint64_t>(r->integer);
    return true;
  }
  if (r && r->type == REDIS_REPLY_NIL) {
    out = 0;
    return true;
  }
  const std::string_view t = text(r);
  return !t.empty() && std::from_chars(t.data(), t.data() + t.size(), out).ptr == t.data() + t.size();
}

} // namespace

void RedisStore::Connections::call(std::vector<std::string> args,
                                   std::function<std::string(const redisReply&)> answer) {
  Op op(Op::call, {}, 0);
  op.request = std::make_shared<CallOp>(CallOp{std::move(args), std::move(answer)});
  impl->call_mark(std::move(op)); // throws when Redis could not be asked
}

void RedisStore::Connections::put(const IntegrationConnection& c) {
  call({"EVAL", put_script, "2", impl->vote_key(hash_name), impl->vote_key(version_name), c.connection_id,
        detail::encode_connection(c)},
       [](const redisReply& r) {
         return r.type == REDIS_REPLY_INTEGER ? "" : "unexpected answer to a connection write";
       });
}

bool RedisStore::Connections::erase(std::string_view connection_id) {
  auto gone = std::make_shared<bool>(false); // the answer may come after a caller that gave up
  call({"EVAL", erase_script, "2", impl->vote_key(hash_name), impl->vote_key(version_name), std::string(connection_id)},
       [gone](const redisReply& r) {
         if (r.type != REDIS_REPLY_INTEGER)
           return "unexpected answer to a connection delete";
         *gone = r.integer == 1;
         return "";
       });
  return *gone;
}

ConnectionSnapshot RedisStore::Connections::load() {
  auto out = std::make_shared<ConnectionSnapshot>();
  call({"EVAL", load_script, "2", impl->vote_key(hash_name), impl->vote_key(version_name)},
       [out](const redisReply& r) -> std::string {
         if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || !counter(r.element[0], out->version) ||
             r.element[1]->type != REDIS_REPLY_ARRAY)
           return "unexpected answer to a connection load";
         const redisReply& all = *r.element[1];
         for (std::size_t i = 0; i + 1 < all.elements; i += 2) {
           IntegrationConnection c;
           c.connection_id.assign(text(all.element[i]));
           if (detail::decode_connection(text(all.element[i + 1]), c)) // else not this library's: skipped
             out->connections.push_back(std::move(c));
         }
         return "";
       });
  return std::move(*out);
}

std::uint64_t RedisStore::Connections::version() {
  auto v = std::make_shared<std::uint64_t>(0);
  call({"GET", impl->vote_key(version_name)}, [v](const redisReply& r) -> std::string {
    return counter(&r, *v) ? "" : "the connection version is not a number";
  });
  return *v;
}

} // namespace topgg
