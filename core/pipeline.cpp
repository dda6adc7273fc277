// The delivery pipeline: admit (route, credentials) and deliver (verify,
// decode, claim, run the handler, answer). See pipeline.hpp.
#include "pipeline.hpp"

#include <array>
#include <exception>
#include <optional>
#include <type_traits>

#include "auth.hpp"
#include "dispatch.hpp"
#include "json.hpp"
#include "keys.hpp"
#include "timeouts.hpp"

namespace topgg::detail {

namespace {

std::string_view padded_copy(std::string& buf, std::string_view body) {
  buf.assign(body);
  reserve_padding(buf);
  return buf;
}

// Whether a payload is for what the route serves (only_for); a route that
// declared nothing takes any. Writes why not into `why`.
bool names_target(const BotVote& v, const Route& r, std::string& why) {
  if (r.target.empty() || v.bot == r.target_id)
    return true;
  why.assign("the vote is for bot ").append(v.bot.to_string()).append("; ").append(r.path);
  why.append(" serves bot ").append(r.target);
  return false;
}
bool names_target(const ServerVote& v, const Route& r, std::string& why) {
  if (r.target.empty() || v.guild == r.target_id)
    return true;
  why.assign("the vote is for server ").append(v.guild.to_string()).append("; ").append(r.path);
  why.append(" serves server ").append(r.target);
  return false;
}
template <class Event> bool names_target(const Event& e, const Route& r, std::string& why) {
  if constexpr (requires { e.project; }) {
    const std::string_view served = r.served();
    if (served.empty() || e.project.id == served || e.project.platform_id == served)
      return true;
    why.assign("the delivery is for project ").append(e.project.id).append("; ").append(r.path);
    why.append(" serves project ").append(served);
    return false;
  } else {
    return true; // integration.delete names no project
  }
}

// Counts each answer by route and status (Metrics) on its way to `to`; a
// delivery that waits is counted when its Pending is answered.
class MeteredOutlet final : public Outlet {
public:
  MeteredOutlet(Outlet& to, MetricsState* m, RouteMeter* route) noexcept : to_(to), m_(m), route_(route) {}
  void answer(const Answer& a) override {
    m_->answered(route_, a.status);
    to_.answer(a);
  }
  void wait(std::shared_ptr<Pending> p) override {
    p->meter(route_);
    to_.wait(std::move(p));
  }
  const std::shared_ptr<WakeCell>& waker() override { return to_.waker(); }
  std::string_view peer() const override { return to_.peer(); }
  bool timed() const noexcept override { return to_.timed(); }

private:
  Outlet& to_;
  MetricsState* m_;
  RouteMeter* route_;
};

// The time a handled delivery's key is kept, by kind: see KeyLife.
template <class Event> constexpr KeyLife key_life() noexcept {
  if constexpr (std::is_same_v<Event, v1::VoteCreate>)
    return KeyLife::v1_vote;
  else if constexpr (std::is_same_v<Event, BotVote> || std::is_same_v<Event, ServerVote>)
    return KeyLife::legacy_vote;
  else
    return KeyLife::other;
}

// What a handled vote records in the vote book (a VoteBook attached): its
// subject, voter, time, expiry and weight; false for other events. A legacy
// vote carries no time: it counts from `now` (handled) for the rules' duration.
void legacy_vote(VoteSubject::Kind kind, Snowflake target, Snowflake user, const std::string& route, Now now,
                 const Config& c, VoteEntry& out) {
  std::array<char, 20> buf;
  out.subject.kind = kind;
  out.subject.id.assign(target.format(buf));
  out.user.assign(user.format(buf));
  out.route.assign(route);
  out.voted_at = std::chrono::floor<std::chrono::microseconds>(now.wall);
  out.expires_at = out.voted_at + c.vote_rules->legacy_duration;
}
bool vote_of(const BotVote& v, const Config& c, Now now, VoteEntry& out) {
  legacy_vote(VoteSubject::Kind::bot, v.bot, v.user, v.route, now, c, out);
  out.weight = v.is_weekend ? 2 : 1;
  return true;
}
bool vote_of(const ServerVote& v, const Config& c, Now now, VoteEntry& out) {
  legacy_vote(VoteSubject::Kind::guild, v.guild, v.user, v.route, now, c, out);
  out.weight = 1;
  return true;
}
bool vote_of(const v1::VoteCreate& v, const Config&, Now, VoteEntry& out) {
  out.subject.kind = VoteSubject::Kind::project;
  out.subject.id.assign(v.project.id);
  out.user.assign(v.user.platform_id.empty() ? v.user.id : v.user.platform_id); // the Discord ID
  out.route.assign(v.route);
  out.voted_at = v.created_at;
  out.expires_at = v.expires_at;
  out.weight = v.weight;
  return true;
}
template <class Event> bool vote_of(const Event&, const Config&, Now, VoteEntry&) { return false; }

} // namespace

// ---- admit -----------------------------------------------------------------

void Pipeline::admit(const Head& head, Admission& out) const {
  out.refusal = Error::ok;
  out.detail = {};
  out.allow = {};
  bool known = false;
  out.route = config_->find(head.path, head.method, known);
  if (!out.route) {
    out.refusal = known ? Error::method_not_allowed : Error::not_found;
    out.detail = describe(out.refusal);
    out.allow = known ? config_->allow(head.path) : std::string_view{};
    return;
  }
  const Route& r = *out.route;
  if (r.kind == route_v1) {
    // Refuse what no body can make right before reading the body; the
    // timestamp and the MAC are checked once the body is here.
    if (head.signature.count == 0 || (head.signature.count == 1 && head.signature.value.empty())) {
      out.refusal = Error::signature_missing;
      out.detail = head.signature.count == 0 ? "x-topgg-signature header missing" : "x-topgg-signature header empty";
    } else if (head.signature.count > 1) {
      out.refusal = Error::signature_malformed;
      out.detail = "x-topgg-signature header repeated";
    } else if (v1::parse_signature(head.signature.value, out.signature.emplace()) != Error::ok) {
      out.refusal = Error::signature_malformed;
      out.detail = "x-topgg-signature header malformed (expected t=<unix seconds>,v1=<64 hex digits>)";
    }
  } else if (r.kind != route_custom && !r.auth_key.empty()) {
    if (head.authorization.count == 0)
      out.detail = authorization_missing;
    else if (head.authorization.count > 1)
      out.detail = "Authorization header repeated";
    else if (!r.auth.matches(head.authorization.value))
      out.detail = "Authorization header does not match the route's key";
    if (!out.detail.empty())
      out.refusal = Error::unauthorized;
  }
}

// ---- deliver ---------------------------------------------------------------

void Pipeline::refuse(Error e, std::string_view detail, const Head& head, std::string_view allow, Outlet& out) const {
  config_->reject(rejection_of(e, http_status(e), detail, head, out.peer()));
  const bool private_detail = http_status(e) >= 500; // a failure's detail is for the operator only
  out.answer({http_status(e), private_detail || detail.empty() ? describe(e) : detail, nullptr, allow, e});
}

void Pipeline::deliver(const Admission& a, const Head& head, std::string_view body, bool padded, Now now, Scratch& s,
                       Outlet& to) const {
  // Made whether used or not: cheaper than a branch and a call more per request.
  MeteredOutlet metered(to, config_->meter, a.route ? a.route->meter : nullptr);
  Outlet& out = config_->meter ? static_cast<Outlet&>(metered) : to;
  if (a.refusal != Error::ok)
    return refuse(a.refusal, a.detail, head, a.allow, out);
  const Route& route = *a.route;
  switch (route.kind) {
  case route_custom: return deliver_custom(route, head, now, out);
  case route_v1: return deliver_v1(route, a, head, body, padded, now, s, out);
  case route_bot_vote:
  case route_server_vote: break;
  }
  if (!padded)
    body = padded_copy(s.padded, body);
  if (route.kind == route_bot_vote) {
    if (const DecodeStatus st = decode_padded(body, s.bot); !st)
      return refuse(st.error, st.detail, head, {}, out);
    if (s.bot.route != route.path) // the same route as last time, mostly: nothing to copy
      s.bot.route.assign(route.path);
    return dispatch(s.bot, route, head, 200, now, s, out);
  }
  if (const DecodeStatus st = decode_padded(body, s.server); !st)
    return refuse(st.error, st.detail, head, {}, out);
  if (s.server.route != route.path)
    s.server.route.assign(route.path);
  dispatch(s.server, route, head, 200, now, s, out);
}

void Pipeline::deliver_custom(const Route& route, const Head& head, Now now, Outlet& out) const {
  if (route.ack_handler) {
    // Answered through an Ack, as a vote handler is (on the loop thread here).
    auto state = std::make_shared<AckState>();
    std::shared_ptr<AckCell> cell = state->cell;
    cell->wake = out.waker();
    cell->deadline = out.timed() ? later(now.mono, config_->settings.ack_timeout) : Clock::time_point::max();
    try {
      route.ack_handler(head.full->request(), Ack(state));
    } catch (const std::exception& e) {
      cell->complete(AckCell::failed, std::nullopt, std::string("route handler threw: ") + e.what());
    } catch (...) {
      cell->complete(AckCell::failed, std::nullopt, "route handler threw a non-std exception");
    }
    state.reset(); // an Ack the handler did not keep expires now
    if (!cell->ready()) {
      auto p = std::make_shared<Pending>();
      p->config_ = config_;
      p->path_.assign(head.path);
      p->method_.assign(head.method);
      p->peer_.assign(out.peer());
      p->deadline_ = later(now.mono, config_->settings.ack_timeout);
      p->ack_ = std::move(cell);
      return out.wait(std::move(p));
    }
    const Outcome o = outcome_of(*cell);
    if (o.error != Error::ok)
      config_->reject(Rejection{o.error, http_status(o.error), head.path, o.why, head.method, out.peer()});
    return out.answer(outcome_answer(o.error, o.reply, 200));
  }
  Response res;
  try {
    res = route.handler(head.full->request());
  } catch (const std::exception& e) {
    return refuse(Error::handler_failed, std::string("route handler threw: ") + e.what(), head, {}, out);
  } catch (...) {
    return refuse(Error::handler_failed, "route handler threw a non-std exception", head, {}, out);
  }
  if (!final_status(res.status)) // written out, it would not be HTTP
    return refuse(Error::handler_failed,
                  "route handler answered status " + std::to_string(res.status) + " (200-599 only)", head, {}, out);
  out.answer({res.status, res.body, &res, {}});
}

void Pipeline::deliver_v1(const Route& route, const Admission& a, const Head& head, std::string_view body, bool padded,
                          Now now, Scratch& s, Outlet& out) const {
  std::span<const std::string> secrets = route.secrets;
  if (config_->resolver) {
    s.secrets.assign(route.secrets.begin(), route.secrets.end());
    // The resolver runs before the signature is checked: whatever it throws,
    // for whatever request, is contained here.
    try {
      config_->resolver(head.full->request(), s.secrets);
    } catch (const std::exception& e) {
      return refuse(Error::handler_failed, std::string("secret resolver threw: ") + e.what(), head, {}, out);
    } catch (...) {
      return refuse(Error::handler_failed, "secret resolver threw a non-std exception", head, {}, out);
    }
    secrets = s.secrets;
  }
  if (const Error e = v1::verify(*a.signature, secrets, body, now.wall, config_->settings.v1_window); e != Error::ok)
    return refuse(e, describe(e), head, {}, out);
  if (!padded)
    body = padded_copy(s.padded, body);
  const DecodeStatus st = v1::decode_padded(body, s.v1);
  if (!st || s.v1.type == v1::EventType::unknown) {
    // Signed by Top.gg but not understood: 204, so it is not retried forever.
    config_->reject(rejection_of(st ? Error::invalid_payload : st.error, 204, st ? "unknown event type" : st.detail,
                                 head, out.peer()));
    return out.answer({204, {}, nullptr, {}});
  }
  s.v1.set_trace(head.trace.value);
  s.v1.set_route(route.path);
  // Under a v1 route "/a/*" the rest of the path names an integration's connection.
  s.v1.set_connection(route.prefix ? head.path.substr(route.path.size() - 1) : std::string_view());
  s.v1.visit([&](const auto& ev) { dispatch(ev, route, head, 204, now, s, out); });
}

// A delivery that must wait (for its claim or its Ack): what answering it later needs.
template <class Event>
std::shared_ptr<Pending> Pipeline::pending(const Event& ev, const Head& head, int success, Now now, const Outlet& out,
                                           std::string_view key) const {
  auto p = std::make_shared<Pending>();
  p->config_ = config_;
  p->path_.assign(head.path);
  p->method_.assign(head.method);
  p->peer_.assign(out.peer());
  p->forwarded_for_.assign(once(head.forwarded_for));
  p->forwarded_.assign(once(head.forwarded));
  p->trace_.assign(head.trace.value);
  p->success_ = success;
  p->caught_up_ = head.caught_up;
  p->key_.assign(key);
  p->life_ = key_life<Event>();
  if constexpr (std::is_same_v<Event, v1::VoteCreate>) {
    p->vote_time_ = ev.created_at;
    p->vote_project_ = ev.project.id;
  }
  if (!key.empty() && config_->vote_ledger()) {
    VoteEntry v;
    if (vote_of(ev, *config_, now, v))
      p->vote_ = std::move(v);
  }
  if (config_->meter && config_->handlers_for<Event>())
    p->event_ = static_cast<int>(event_index<Event>());
  p->deadline_ = later(now.mono, config_->settings.ack_timeout);
  return p;
}

// Claims the delivery's key (if it has one), then runs the handler.
template <class Event>
void Pipeline::dispatch(const Event& ev, const Route& route, const Head& head, int success, Now now, Scratch& s,
                        Outlet& out) const {
  if (!names_target(ev, route, s.why))
    return refuse(Error::wrong_target, s.why, head, {}, out);
  IdempotencyStore* store = config_->idempotency();
  if (!store || !dedup_key(ev, route.path, s.key))
    return run(ev, head, success, now, s, out, false);
  ClaimDeferral::Internal in{[&out] { return out.waker(); }, nullptr};
  std::optional<ClaimResult> r;
  {
    ClaimDeferral deferral(in);
    try {
      r = store->claim(s.key, now, claim_lease(config_->settings), deferral);
    } catch (...) {
      r = ClaimResult::unavailable;
    }
    if (!r && !deferral.deferred())
      r = ClaimResult::unavailable; // "later" without a ticket: nobody will ever answer
  }
  if (!r && in.cell->ready())
    r = in.cell->get(); // answered meanwhile, from the store's thread
  if (!r) {
    auto p = pending(ev, head, success, now, out, s.key);
    p->stage_ = Pending::Stage::claiming;
    p->claim_ = std::move(in.cell);
    const Clock::time_point deadline = out.timed() ? p->deadline_ : Clock::time_point::max();
    p->start_ = [cfg = config_, e = ev, wake = out.waker(), deadline](Error& now_err, std::string& why) {
      return run_handlers(
          e, cfg->handlers_for<Event>(), cfg->executor, [&wake] { return wake; }, now_err, why,
          [deadline] { return deadline; });
    };
    return out.wait(std::move(p));
  }
  switch (*r) {
  case ClaimResult::done:
    if (!head.caught_up)
      tell_duplicate(*config_, success, rejection_of(Error::duplicate, success, {}, head, out.peer()));
    return out.answer({success, success_body(success), nullptr, {}, Error::duplicate});
  case ClaimResult::in_progress:
    return refuse(Error::duplicate_in_progress, "the same delivery is being handled now; Top.gg will retry", head, {},
                  out);
  case ClaimResult::unavailable:
    return refuse(Error::store_unavailable, "idempotency store unavailable: answered 503 so Top.gg retries", head, {},
                  out);
  case ClaimResult::claimed: break;
  }
  run(ev, head, success, now, s, out, true);
}

template <class Event>
void Pipeline::run(const Event& ev, const Head& head, int success, Now now, Scratch& s, Outlet& out, bool keyed) const {
  Error e = Error::ok;
  MetricsState* const meter = config_->meter;
  const bool timed = meter && config_->handlers_for<Event>();
  Clock::time_point started{};
  if (timed) {
    meter->event(event_index<Event>());
    started = meter->stamp(now);
  }
  std::shared_ptr<AckCell> cell = run_handlers(
      ev, config_->handlers_for<Event>(), config_->executor, [&out] { return out.waker(); }, e, s.why,
      [&] { return out.timed() ? later(now.mono, config_->settings.ack_timeout) : Clock::time_point::max(); });
  if (cell && !cell->ready()) {
    auto p = pending(ev, head, success, now, out, keyed ? std::string_view(s.key) : std::string_view{});
    p->ack_ = std::move(cell);
    p->handler_started_ = timed;
    p->started_ = started;
    return out.wait(std::move(p));
  }
  if (timed)
    meter->handler_time(started, meter->stamp(now));
  std::string_view why = s.why;
  const Response* reply = nullptr;
  if (cell) { // completed inside the handler: answered now, no waiting
    const Outcome o = outcome_of(*cell);
    e = o.error;
    why = o.why;
    reply = o.reply;
  }
  const VoteEntry* vote = nullptr;
  if (keyed && e == Error::ok && config_->vote_ledger() && vote_of(ev, *config_, now, s.vote))
    vote = &s.vote;
  settle_key(*config_, keyed ? std::string_view(s.key) : std::string_view{}, e == Error::ok, now, key_life<Event>(),
             vote);
  if constexpr (std::is_same_v<Event, v1::VoteCreate>)
    if (e == Error::ok)
      config_->newest_votes.note(ev.project.id, ev.created_at, now.wall);
  if (e != Error::ok)
    config_->reject(rejection_of(e, http_status(e), why, head, out.peer()));
  out.answer(outcome_answer(e, reply, success));
}

// Router::deliver (request.cpp) dispatches a vote.create from outside HTTP.
template void Pipeline::dispatch<v1::VoteCreate>(const v1::VoteCreate&, const Route&, const Head&, int, Now, Scratch&,
                                                 Outlet&) const;
// Router::deliver (request.cpp) runs a vote.expired's handlers.
template void Pipeline::run<VoteExpired>(const VoteExpired&, const Head&, int, Now, Scratch&, Outlet&, bool) const;

} // namespace topgg::detail
