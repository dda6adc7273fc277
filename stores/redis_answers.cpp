// The Redis store's claims, confirms, releases and marks on its thread: sent
// when connected (kept or refused when not), and their answers read.
#include <algorithm>
#include <charconv>

#include "redis_impl.hpp"

namespace topgg {

using namespace detail::redis;

namespace {

// Redis refuses expiry times that overflow its clock; a lease or TTL this long means "never" anyway.
constexpr std::int64_t longest_ms = 1'000'000'000'000; // about 31 years

std::string expiry(std::int64_t ms) { return std::to_string(std::clamp<std::int64_t>(ms, 1, longest_ms)); }

constexpr const char* handshake_names[] = {"AUTH",        "SELECT",      "SCRIPT LOAD", "SCRIPT LOAD",
                                           "SCRIPT LOAD", "SCRIPT LOAD", "SCRIPT LOAD"}; // by Sent::Kind
constexpr ClaimResult script_results[] = {ClaimResult::claimed, ClaimResult::done, ClaimResult::in_progress};

/// An error answer to the hand-shake that asking again will not change (a wrong or missing password,
/// a db out of range, an ACL that forbids SCRIPT LOAD): all but the ones Redis gives while it cannot
/// serve for now — loading its data, a script running, a replica without its primary, no free client slot.
bool lasting_refusal(std::string_view error) {
  for (std::string_view code : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"})
    if (error.substr(0, code.size()) == code && (error.size() == code.size() || error[code.size()] == ' '))
      return false;
  return error.find("max number of clients reached") == std::string_view::npos;
}

} // namespace

/// Redis quotes a command's arguments in some errors ("ERR unknown command 'AUTH', with args beginning
/// with: 'secret'" where AUTH is renamed), a proxy may too: such a quote goes, and the password if left.
std::string RedisStore::Impl::without_password(std::string text) const {
  if (const auto quote = text.find(" with args beginning with"); quote != std::string::npos) {
    text.erase(quote);
    while (!text.empty() && (text.back() == ',' || text.back() == ' '))
      text.pop_back();
  }
  const std::string& pw = opt.password;
  for (auto at = pw.empty() ? std::string::npos : text.find(pw); at != std::string::npos; at = text.find(pw, at + 3))
    text.replace(at, pw.size(), "***");
  return text;
}

void RedisStore::Impl::dispatch(Op&& op) {
  if (op.kind == Op::claim) {
    op.state = std::make_shared<Claim>();
    op.state->ticket = std::move(op.ticket);
    op.state->deadline = op.at + opt.command_timeout;
    deadlines.push_back(op.state);
  }
  switch (phase) {
  case Phase::up: send(std::move(op)); break;
  case Phase::connecting: waiting.push_back(std::move(op)); break;
  case Phase::down:
    if (quiet)
      waiting.push_back(std::move(op)); // reconnecting at once
    else
      unsent(std::move(op), reason_down);
    break;
  }
}

/// An op that cannot be sent now.
void RedisStore::Impl::unsent(Op&& op, const std::string& why) {
  switch (op.kind) {
  case Op::claim:
    if (!op.state->settled)
      outage.refused();
    settle(*op.state, refusal());
    break;
  case Op::confirm:
    retry.push_back(std::move(op));
    if (retry.size() > opt.max_pending) // a long outage: forget the oldest
      retry.pop_front();
    break;
  case Op::release:
  case Op::health: break; // its lease lapses; the next check is due later
  case Op::get_mark:
  case Op::set_mark:
  case Op::call: op.mark->finish(std::nullopt, why); break;
  default: vote_unsent(std::move(op), why); break;
  }
}

void RedisStore::Impl::settle(Claim& c, ClaimResult r) {
  if (c.settled)
    return;
  c.settled = true;
  c.settled_claimed = r == ClaimResult::claimed;
  pending.fetch_sub(1, std::memory_order_relaxed);
  try {
    c.ticket.complete(r);
  } catch (const std::exception& e) {
    report(std::string("a claim's completion threw: ") + e.what());
  } catch (...) {
    report("a claim's completion threw");
  }
  c.ticket = {};
}

void RedisStore::Impl::send(Op&& op) {
  if (op.kind == Op::claim && op.state->settled)
    return; // answered by its deadline while waiting: sending it would only claim the key for nobody
  std::string a;
  bool ok = false;
  Sent s{Sent::request, Steady::now(), std::nullopt};
  s.op.emplace(std::move(op));
  Op& o = *s.op;
  switch (o.kind) {
  case Op::claim:
    a = expiry(o.value);
    ok = command(std::move(s), {"EVALSHA", claim_sha, "1", o.key, claim_value, a});
    break;
  case Op::confirm: {
    const auto left = o.value - std::chrono::duration_cast<milliseconds>(Steady::now() - o.at).count();
    if (left <= 0)
      return; // expired while it waited: nothing to remember
    a = expiry(left);
    ok = command(std::move(s), {"SET", o.key, "done", "PX", a});
    break;
  }
  case Op::release: ok = command(std::move(s), {"EVALSHA", release_sha, "1", o.key, claim_value}); break;
  case Op::get_mark: ok = command(std::move(s), {"GET", o.key}); break;
  case Op::set_mark:
    a = std::to_string(o.value);
    ok = command(std::move(s), {"SET", o.key, a});
    break;
  case Op::health:
    a = expiry(o.value);
    ok = command(std::move(s), {"SET", o.key, "1", "PX", a});
    break;
  case Op::call: ok = command_argv(std::move(s), o.request->args); break;
  default: ok = send_vote(std::move(s), o); break;
  }
  if (!ok) // the context is going away; s was not moved from
    unsent(std::move(*s.op), reason());
}

// ---- answers ---------------------------------------------------------------

void RedisStore::Impl::answer(redisReply* r) {
  if (inflight.empty())
    return; // cannot happen: every command with this callback was recorded
  Sent s = std::move(inflight.front());
  inflight.pop_front();
  const bool error = r && r->type == REDIS_REPLY_ERROR;
  const std::string error_text = error ? std::string(r->str, r->len) : std::string();
  switch (s.kind) {
  case Sent::auth:
  case Sent::select:
  case Sent::load_claim:
  case Sent::load_release:
  case Sent::load_record:
  case Sent::load_take:
  case Sent::load_finish:
    if (r) // else the connection is going away: gone() follows
      handshake_answer(s.kind, *r, error, error_text);
    return;
  case Sent::reload:
    // Loaded again: the writes kept meanwhile (a vote record after NOSCRIPT) go now.
    if (--reloads == 0 && r && !error && phase == Phase::up && !retry.empty())
      for (Op& kept : std::exchange(retry, {}))
        send(std::move(kept));
    return;
  case Sent::request: break;
  }
  Op& op = *s.op;
  if (!r) { // the connection is going away
    if (!closing)
      outage.failed(reason());
    unsent(std::move(op), reason());
    return;
  }
  if (error) {
    if (!closing)
      outage.failed("Redis answered: " + error_text);
    if (error_text.rfind("NOSCRIPT", 0) == 0)
      reload_scripts();
    // A replica after a failover, or a server still loading: another connection may reach the primary.
    for (std::string_view code : {"READONLY", "LOADING", "MASTERDOWN"})
      if (error_text.rfind(code, 0) == 0)
        request_drop("Redis answered: " + error_text);
    unsent(std::move(op), "Redis answered: " + error_text);
    return;
  }
  if (op.kind != Op::claim)
    worked();
  switch (op.kind) {
  case Op::claim: claim_answer(op, *r); return;
  case Op::confirm:
  case Op::release:
  case Op::health: return;
  case Op::get_mark: mark_answer(op, *r); return;
  case Op::set_mark: op.mark->finish(std::nullopt, {}); return;
  case Op::call: op.mark->finish(std::nullopt, op.request->answer(*r)); return;
  default: vote_answer(op, *r); return;
  }
}

/// AUTH, SELECT or SCRIPT LOAD, pipelined behind the connect: the last answer opens the store.
void RedisStore::Impl::handshake_answer(Sent::Kind kind, const redisReply& r, bool error,
                                        const std::string& error_text) {
  if (error || (kind >= Sent::load_claim && r.type != REDIS_REPLY_STRING)) {
    handshake_refused = true;
    handshake_lasting = !error || lasting_refusal(error_text);
    request_drop(std::string(handshake_names[kind]) +
                 " failed: " + (error ? without_password(error_text) : "unexpected answer"));
    return;
  }
  if (kind == Sent::load_claim)
    claim_sha.assign(r.str, r.len);
  if (kind == Sent::load_release)
    release_sha.assign(r.str, r.len);
  if (kind == Sent::load_record)
    record_sha.assign(r.str, r.len);
  if (kind == Sent::load_take)
    take_sha.assign(r.str, r.len);
  if (kind == Sent::load_finish) { // the last of the hand-shake
    finish_sha.assign(r.str, r.len);
    if (drop_reason.empty())
      opened();
  }
}

void RedisStore::Impl::claim_answer(Op& op, const redisReply& r) {
  if (r.type != REDIS_REPLY_INTEGER || r.integer < 0 || r.integer > 2) {
    outage.failed("unexpected answer to a claim");
    unsent(std::move(op), {});
    return;
  }
  worked();
  const ClaimResult result = script_results[r.integer];
  Claim& c = *op.state;
  if (!c.settled)
    settle(c, result);
  else if (result == ClaimResult::claimed && !c.settled_claimed)
    send(Op(Op::release, std::move(op.key), 0)); // answered unavailable already: nobody handles it
}

void RedisStore::Impl::mark_answer(Op& op, const redisReply& r) {
  if (r.type == REDIS_REPLY_NIL) {
    op.mark->finish(std::nullopt, {});
    return;
  }
  std::int64_t v = 0;
  const char* end = r.type == REDIS_REPLY_STRING ? r.str + r.len : nullptr;
  if (!end || std::from_chars(r.str, end, v).ptr != end || r.len == 0)
    op.mark->finish(std::nullopt, "the mark at " + op.key + " is not a number of microseconds");
  else
    op.mark->finish(v, {});
}

/// A command worked: an outage is over, and the confirms kept during it can be written.
void RedisStore::Impl::worked() {
  outage.worked();
  backoff = opt.reconnect_min;
  if (!retry.empty() && phase == Phase::up)
    for (Op& kept : std::exchange(retry, {}))
      send(std::move(kept));
}

/// Someone flushed Redis' script cache (SCRIPT FLUSH, a restart behind a proxy): load both again.
void RedisStore::Impl::reload_scripts() {
  if (reloads > 0 || !ac)
    return;
  const Steady::time_point now = Steady::now();
  reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", claim_script});
  reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", release_script});
  reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", record_script});
  reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", take_script});
  reloads += command({Sent::reload, now, std::nullopt}, {"SCRIPT", "LOAD", finish_script});
}

} // namespace topgg
