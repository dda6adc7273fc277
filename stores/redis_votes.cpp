// The Redis store's vote ledger: callers queue an Op, the store's thread sends
// it on the store's one connection. Recording a vote, handing out due expiries
// and ending a claim are one Lua script each (atomic): a vote is recorded with
// its key's confirm, and only if that key was not done already, so a retry or
// a twin confirmed by two receivers is recorded once.
#include <charconv>
#include <cmath>

#include "redis_impl.hpp"

namespace topgg {

using namespace detail::redis;

namespace detail::redis {

// KEYS: the delivery key, the record's hash, the expiry index, the subjects' set.
// ARGV: TTL (ms), member, route, voted_at, expires_at, weight, grace (µs), keyed ("1"/"0"), subject.
// record_vote()'s rules (vote_ledger.cpp), in Lua. 0: the key was done already, nothing recorded.
const std::string_view record_script = R"lua(
if ARGV[8] == '1' then
  local was = redis.call('GET', KEYS[1])
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[1])
  if was == 'done' then return 0 end
end
local p = redis.call('HMGET', KEYS[2], 'voted_at', 'expires_at', 'streak', 'count')
local streak, count = 1, 1
if p[1] then
  count = tonumber(p[4]) + 1
  if tonumber(ARGV[4]) < tonumber(p[1]) then
    redis.call('HSET', KEYS[2], 'count', count)
    return 1
  end
  if tonumber(ARGV[4]) <= tonumber(p[2]) + tonumber(ARGV[7]) then streak = tonumber(p[3]) + 1 end
else
  redis.call('SADD', KEYS[4], ARGV[9])
end
redis.call('HSET', KEYS[2], 'route', ARGV[3], 'voted_at', ARGV[4], 'expires_at', ARGV[5], 'weight', ARGV[6],
  'streak', streak, 'count', count, 'attempts', 0, 'pending', 1)
redis.call('HDEL', KEYS[2], 'token')
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
return 1
)lua";

// KEYS: the expiry index. ARGV: now (µs), limit, lease end (µs), token, the records' key prefix.
// Claims the owed expiries due by now, earliest first: each due again at the lease's end.
const std::string_view take_script = R"lua(
local out = {}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(members) do
  local h = ARGV[5] .. m
  local f = redis.call('HMGET', h, 'pending', 'route', 'voted_at', 'expires_at', 'weight', 'streak', 'count', 'attempts')
  if f[1] == '1' then
    redis.call('HSET', h, 'token', ARGV[4])
    redis.call('ZADD', KEYS[1], ARGV[3], m)
    out[#out + 1] = {m, f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
)lua";

// KEYS: the expiry index, the record's hash. ARGV: member, token, expires_at, delivered ("1"/"0"),
// retry at (µs). Only the claim's holder, and only for the vote it claimed.
const std::string_view finish_script = R"lua(
local f = redis.call('HMGET', KEYS[2], 'token', 'expires_at', 'attempts')
if f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[2], 'token')
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], 'pending', 0, 'attempts', 0)
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], 'attempts', (tonumber(f[3]) or 0) + 1)
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
end
return 1
)lua";

} // namespace detail::redis

namespace {

constexpr std::string_view records = "vote:", index_key = "vote-expiries", subjects_key = "vote-subjects";

std::int64_t micros(v1::Timestamp t) noexcept { return t.time_since_epoch().count(); }
v1::Timestamp timestamp(std::int64_t us) noexcept { return v1::Timestamp(std::chrono::microseconds(us)); }

std::shared_ptr<VoteOp> vote_op(Op& op) {
  op.vote = std::make_shared<VoteOp>();
  return op.vote;
}

/// A reply element as text ("" for nil or anything else).
std::string_view text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string_view(r->str, r->len)
                                                                               : std::string_view();
}

/// A reply element as a whole number (Redis may write a score as "1.7e+15").
bool number(const redisReply* r, std::int64_t& out) {
  if (r && r->type == REDIS_REPLY_INTEGER) {
    out = r->integer;
    return true;
  }
  const std::string_view t = text(r);
  if (t.empty())
    return false;
  if (std::from_chars(t.data(), t.data() + t.size(), out).ptr == t.data() + t.size())
    return true;
  double d = 0;
  if (std::from_chars(t.data(), t.data() + t.size(), d).ptr != t.data() + t.size() || !std::isfinite(d))
    return false;
  out = static_cast<std::int64_t>(std::llround(d));
  return true;
}

/// HMGET route voted_at expires_at weight streak count (from `at`) as a record.
bool read_record(redisReply* const* e, VoteRecord& out) {
  std::int64_t voted = 0, expires = 0, weight = 0, streak = 0, count = 0;
  if (!number(e[1], voted) || !number(e[2], expires) || !number(e[3], weight) || !number(e[4], streak) ||
      !number(e[5], count))
    return false;
  out = {std::string(text(e[0])),
         timestamp(voted),
         timestamp(expires),
         weight,
         static_cast<std::uint32_t>(streak),
         static_cast<std::uint64_t>(count)};
  return true;
}

/// An error that says nothing about the command itself (the script cache was flushed, a failover,
/// a server that cannot write now): the write is kept and sent again.
bool passing(std::string_view why) {
  constexpr std::string_view answered = "Redis answered: ";
  if (why.substr(0, answered.size()) != answered)
    return true; // not sent, or the connection went
  why.remove_prefix(answered.size());
  for (std::string_view code : {"NOSCRIPT", "READONLY", "LOADING", "MASTERDOWN", "BUSY", "OOM", "TRYAGAIN"})
    if (why.substr(0, code.size()) == code)
      return true;
  return false;
}

} // namespace

// ---- callers' side ---------------------------------------------------------

void RedisStore::Votes::record(std::string_view key, Now, std::chrono::milliseconds ttl, const VoteEntry& vote,
                               std::chrono::seconds grace) {
  Op op(Op::record, key.empty() ? std::string() : impl->opt.key_prefix + std::string(key), ttl.count());
  auto v = vote_op(op);
  v->member = detail::vote_member(vote.subject, vote.user);
  v->hash = impl->vote_key(records) + v->member;
  v->entry = vote;
  v->grace_us = std::chrono::duration_cast<std::chrono::microseconds>(grace).count();
  v->keyed = !key.empty();
  impl->push(std::move(op));
}

void RedisStore::Votes::find(const VoteSubject& subject, std::string_view user,
                             std::function<void(std::optional<VoteRecord>, bool)> done) {
  Op op(Op::find, {}, 0);
  auto v = vote_op(op);
  v->hash = impl->vote_key(records) + detail::vote_member(subject, user);
  v->found = std::move(done);
  impl->push(std::move(op));
}

void RedisStore::Votes::subjects(std::function<void(std::vector<VoteSubject>, bool)> done) {
  Op op(Op::subjects, impl->vote_key(subjects_key), 0);
  vote_op(op)->listed = std::move(done);
  impl->push(std::move(op));
}

std::vector<DueExpiry> RedisStore::Votes::take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                                   std::string_view token) {
  Op op(Op::take_due, impl->vote_key(index_key), 0);
  auto v = vote_op(op);
  v->limit = limit;
  v->now = micros(now);
  v->lease_until = std::max(micros(lease_until), v->now + 1); // off `now`, whatever the lease
  v->token.assign(token);
  impl->call_mark(std::move(op)); // throws when Redis could not be asked
  return std::move(v->due);
}

std::optional<v1::Timestamp> RedisStore::Votes::next_due() {
  Op op(Op::next_due, impl->vote_key(index_key), 0);
  vote_op(op); // every ledger Op carries one: send_vote() and the answers read it whatever the kind
  auto call = impl->call_mark(std::move(op));
  if (!call->micros)
    return std::nullopt;
  return timestamp(*call->micros);
}

void RedisStore::Votes::finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) {
  Op op(Op::finish, impl->vote_key(index_key), 0);
  auto v = vote_op(op);
  v->member = detail::vote_member(e.subject, e.user);
  v->hash = impl->vote_key(records) + v->member;
  v->token.assign(token);
  v->delivered = delivered;
  v->expires_at = micros(e.record.expires_at);
  v->retry_at = micros(retry_at);
  impl->push(std::move(op));
}

// ---- the store's thread ----------------------------------------------------

bool RedisStore::Impl::send_vote(Sent&& s, Op& o) {
  VoteOp& v = *o.vote;
  switch (o.kind) {
  case Op::record: {
    // The key's TTL runs from the call, as a confirm's: what is left of it after a wait.
    const auto left = o.value - std::chrono::duration_cast<milliseconds>(Steady::now() - o.at).count();
    const std::string ttl = std::to_string(std::max<std::int64_t>(left, 1));
    const std::string voted = std::to_string(micros(v.entry.voted_at));
    const std::string expires = std::to_string(micros(v.entry.expires_at));
    const std::string weight = std::to_string(v.entry.weight), grace = std::to_string(v.grace_us);
    const std::string subject = detail::subject_text(v.entry.subject);
    const std::string index = vote_key(index_key), known = vote_key(subjects_key);
    return command(std::move(s),
                   {"EVALSHA", record_sha, "4", v.keyed ? std::string_view(o.key) : v.hash, v.hash, index, known, ttl,
                    v.member, v.entry.route, voted, expires, weight, grace, v.keyed ? "1" : "0", subject});
  }
  case Op::find:
    return command(std::move(s), {"HMGET", v.hash, "route", "voted_at", "expires_at", "weight", "streak", "count"});
  case Op::subjects: return command(std::move(s), {"SMEMBERS", o.key});
  case Op::take_due: {
    const std::string now = std::to_string(v.now), limit = std::to_string(v.limit);
    const std::string lease = std::to_string(v.lease_until), prefix = vote_key(records);
    return command(std::move(s), {"EVALSHA", take_sha, "1", o.key, now, limit, lease, v.token, prefix});
  }
  case Op::next_due: return command(std::move(s), {"ZRANGE", o.key, "0", "0", "WITHSCORES"});
  case Op::finish: {
    const std::string expires = std::to_string(v.expires_at), retry_at = std::to_string(v.retry_at);
    return command(std::move(s), {"EVALSHA", finish_sha, "2", o.key, v.hash, v.member, v.token, expires,
                                  v.delivered ? "1" : "0", retry_at});
  }
  default: return false;
  }
}

/// Not sent, or answered with an error: writes are kept (as confirms are) unless Redis refused the
/// command itself; reads are answered as unavailable.
void RedisStore::Impl::vote_unsent(Op&& op, const std::string& why) {
  VoteOp& v = *op.vote;
  switch (op.kind) {
  case Op::record:
  case Op::finish:
    if (!passing(why)) {
      report(where + ": a vote book write was refused (" + why + "); dropped");
      return;
    }
    retry.push_back(std::move(op));
    if (retry.size() > opt.max_pending)
      retry.pop_front();
    return;
  case Op::find: try { v.found(std::nullopt, false);
    } catch (...) {
    }
    return;
  case Op::subjects: try { v.listed({}, false);
    } catch (...) {
    }
    return;
  case Op::take_due:
  case Op::next_due: op.mark->finish(std::nullopt, why.empty() ? "no answer" : why); return;
  default: return;
  }
}

void RedisStore::Impl::vote_answer(Op& op, const redisReply& r) {
  VoteOp& v = *op.vote;
  switch (op.kind) {
  case Op::record:
  case Op::finish: return;
  case Op::find: {
    std::optional<VoteRecord> found;
    bool ok = r.type == REDIS_REPLY_ARRAY && r.elements == 6;
    if (ok && r.element[1]->type != REDIS_REPLY_NIL) {
      VoteRecord rec;
      ok = read_record(r.element, rec);
      if (ok)
        found = std::move(rec);
    }
    try {
      v.found(std::move(found), ok);
    } catch (const std::exception& e) {
      report(std::string("a vote book answer threw: ") + e.what());
    } catch (...) {
      report("a vote book answer threw");
    }
    return;
  }
  case Op::subjects: {
    std::vector<VoteSubject> list;
    const bool ok = r.type == REDIS_REPLY_ARRAY;
    for (std::size_t i = 0; ok && i < r.elements; ++i) {
      VoteSubject s;
      if (detail::parse_subject_text(text(r.element[i]), s))
        list.push_back(std::move(s));
    }
    try {
      v.listed(std::move(list), ok);
    } catch (...) {
      report("a vote book answer threw");
    }
    return;
  }
  case Op::take_due: {
    if (r.type != REDIS_REPLY_ARRAY)
      return op.mark->finish(std::nullopt, "unexpected answer to a vote book claim");
    for (std::size_t i = 0; i < r.elements; ++i) {
      const redisReply* e = r.element[i];
      DueExpiry d;
      std::int64_t attempts = 0;
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 7 ||
          !detail::parse_vote_member(text(e->element[0]), d.subject, d.user) || !read_record(e->element + 1, d.record))
        continue; // not written by this library: its claim lapses
      if (e->elements > 7)
        number(e->element[7], attempts);
      d.attempts = static_cast<std::uint32_t>(attempts);
      v.due.push_back(std::move(d));
    }
    return op.mark->finish(std::nullopt, {});
  }
  case Op::next_due: {
    std::int64_t due = 0;
    if (r.type != REDIS_REPLY_ARRAY)
      return op.mark->finish(std::nullopt, "unexpected answer to ZRANGE");
    if (r.elements < 2)
      return op.mark->finish(std::nullopt, {});
    if (!number(r.element[1], due))
      return op.mark->finish(std::nullopt, "the expiry index " + op.key + " holds a score that is not a time");
    return op.mark->finish(due, {});
  }
  default: return;
  }
}

} // namespace topgg
