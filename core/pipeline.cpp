#include "pipeline.hpp"

#include <exception>
#include <optional>

#include "auth.hpp"
#include "dispatch.hpp"
#include "json.hpp"
#include "keys.hpp"
#include "timeouts.hpp"

namespace topgg::detail {

namespace {

constexpr std::string_view success_body(int status) noexcept { return status == 204 ? "" : "OK"; }

// A claim outlives the handler's deadline a little, so that a release after
// an ack timeout still finds it; a crashed receiver's claim lapses after it.
std::chrono::milliseconds claim_lease(const Settings& s) noexcept {
  constexpr std::chrono::milliseconds margin{5000};
  return s.ack_timeout >= std::chrono::milliseconds::max() - margin ? std::chrono::milliseconds::max()
                                                                     : std::max(s.ack_timeout, {}) + margin;
}

std::chrono::milliseconds confirm_ttl(const Settings& s) noexcept {
  constexpr auto most = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds::max());
  return s.dedup_ttl >= most ? std::chrono::milliseconds::max() : std::chrono::milliseconds(s.dedup_ttl);
}

std::string_view padded_copy(std::string& buf, std::string_view body) {
  buf.assign(body);
  reserve_padding(buf);
  return buf;
}

void tell_duplicate(const Config& c, int status, std::string_view path, std::string_view method,
                    std::string_view peer) {
  c.reject(Rejection{Error::duplicate, status, path, describe(Error::duplicate), method, peer});
}

// Confirms or releases a claimed key; a store that throws is told about, not fatal.
void settle_key(Config& c, std::string_view key, bool handled, Now now) {
  IdempotencyStore* store = c.idempotency();
  if (key.empty() || !store)
    return;
  try {
    if (handled)
      store->confirm(key, now, confirm_ttl(c.settings));
    else
      store->release(key, now);
  } catch (const std::exception& e) {
    c.warn(std::string("idempotency store threw on ") + (handled ? "confirm: " : "release: ") + e.what());
  } catch (...) {
    c.warn("idempotency store threw a non-std exception");
  }
}

// The answer to a finished handler: success (or its own reply), or the error
// table's status and text — never the handler's own words, which go to the
// error hook only (they may hold a database URL, a password).
Answer outcome_answer(Error e, const Response* reply, int success) {
  if (e != Error::ok)
    return {http_status(e), describe(e), nullptr, {}};
  if (reply)
    return {reply->status, reply->body, reply, {}};
  return {success, success_body(success), nullptr, {}};
}

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
    } else if (v1::parse_signature(head.signature.value, out.signature) != Error::ok) {
      out.refusal = Error::signature_malformed;
      out.detail = "x-topgg-signature header malformed (expected t=<unix seconds>,v1=<64 hex digits>)";
    }
  } else if (r.kind != route_custom && !r.auth_key.empty()) {
    if (head.authorization.count == 0)
      out.detail = "Authorization header missing";
    else if (head.authorization.count > 1)
      out.detail = "Authorization header repeated";
    else if (!key_matches(head.authorization.value, r.auth_key))
      out.detail = "Authorization header does not match the route's key";
    if (!out.detail.empty())
      out.refusal = Error::unauthorized;
  }
}

// ---- deliver ---------------------------------------------------------------

void Pipeline::refuse(Error e, std::string_view detail, const Head& head, std::string_view allow, Outlet& out) const {
  config_->reject(Rejection{e, http_status(e), head.path, detail, head.method, out.peer()});
  const bool private_detail = http_status(e) >= 500; // a failure's detail is for the operator only
  out.answer({http_status(e), private_detail || detail.empty() ? describe(e) : detail, nullptr, allow});
}

void Pipeline::deliver(const Admission& a, const Head& head, std::string_view body, bool padded, Now now,
                       Scratch& s, Outlet& out) const {
  if (a.refusal != Error::ok)
    return refuse(a.refusal, a.detail, head, a.allow, out);
  const Route& route = *a.route;
  switch (route.kind) {
  case route_custom: return deliver_custom(route, head, out);
  case route_v1: return deliver_v1(route, a, head, body, padded, now, s, out);
  case route_bot_vote:
  case route_server_vote: break;
  }
  if (!padded)
    body = padded_copy(s.padded, body);
  if (route.kind == route_bot_vote) {
    if (const DecodeStatus st = decode_padded(body, s.bot); !st)
      return refuse(st.error, st.detail, head, {}, out);
    return dispatch(s.bot, route, head, 200, now, s, out);
  }
  if (const DecodeStatus st = decode_padded(body, s.server); !st)
    return refuse(st.error, st.detail, head, {}, out);
  dispatch(s.server, route, head, 200, now, s, out);
}

void Pipeline::deliver_custom(const Route& route, const Head& head, Outlet& out) const {
  Response res;
  try {
    res = route.handler(head.full->request());
  } catch (const std::exception& e) {
    return refuse(Error::handler_failed, std::string("route handler threw: ") + e.what(), head, {}, out);
  } catch (...) {
    return refuse(Error::handler_failed, "route handler threw a non-std exception", head, {}, out);
  }
  out.answer({res.status, res.body, &res, {}});
}

void Pipeline::deliver_v1(const Route& route, const Admission& a, const Head& head, std::string_view body,
                          bool padded, Now now, Scratch& s, Outlet& out) const {
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
  if (const Error e = v1::verify(a.signature, secrets, body, now.wall, config_->settings.v1_window); e != Error::ok)
    return refuse(e, describe(e), head, {}, out);
  if (!padded)
    body = padded_copy(s.padded, body);
  const DecodeStatus st = v1::decode_padded(body, s.v1);
  if (!st || s.v1.type == v1::EventType::unknown) {
    // Signed by Top.gg but not understood: 204, so it is not retried forever.
    config_->reject(Rejection{st ? Error::invalid_payload : st.error, 204, head.path,
                              st ? "unknown event type" : st.detail, head.method, out.peer()});
    return out.answer({204, {}, nullptr, {}});
  }
  s.v1.set_trace(head.trace.value);
  s.v1.visit([&](const auto& ev) { dispatch(ev, route, head, 204, now, s, out); });
}

// Claims the delivery's key (if it has one), then runs the handler.
template <class Event>
void Pipeline::dispatch(const Event& ev, const Route& route, const Head& head, int success, Now now, Scratch& s,
                        Outlet& out) const {
  IdempotencyStore* store = config_->idempotency();
  if (!store || !dedup_key(ev, route.path, s.key))
    return run(ev, head, success, now, s, out, false);
  ClaimDeferral::Internal in{out.waker(), nullptr};
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
    auto p = std::make_shared<Pending>();
    p->config_ = config_;
    p->path_.assign(head.path);
    p->method_.assign(head.method);
    p->peer_.assign(out.peer());
    p->success_ = success;
    p->key_ = s.key;
    p->deadline_ = later(now.mono, config_->settings.ack_timeout);
    p->stage_ = Pending::Stage::claiming;
    p->claim_ = std::move(in.cell);
    p->start_ = [cfg = config_, e = ev, wake = out.waker()](Error& now_err, std::string& why) {
      return run_handlers(e, cfg->handlers_for<Event>(), cfg->executor, wake, now_err, why);
    };
    return out.wait(std::move(p));
  }
  switch (*r) {
  case ClaimResult::done:
    tell_duplicate(*config_, success, head.path, head.method, out.peer());
    return out.answer({success, success_body(success), nullptr, {}});
  case ClaimResult::in_progress:
    return refuse(Error::duplicate_in_progress, "the same delivery is being handled now; Top.gg will retry", head,
                  {}, out);
  case ClaimResult::unavailable:
    return refuse(Error::store_unavailable, "idempotency store unavailable: answered 503 so Top.gg retries", head,
                  {}, out);
  case ClaimResult::claimed: break;
  }
  run(ev, head, success, now, s, out, true);
}

template <class Event>
void Pipeline::run(const Event& ev, const Head& head, int success, Now now, Scratch& s, Outlet& out,
                   bool keyed) const {
  Error e = Error::ok;
  std::shared_ptr<AckCell> cell =
      run_handlers(ev, config_->handlers_for<Event>(), config_->executor, out.waker(), e, s.why);
  if (cell && !cell->ready()) {
    auto p = std::make_shared<Pending>();
    p->config_ = config_;
    p->path_.assign(head.path);
    p->method_.assign(head.method);
    p->peer_.assign(out.peer());
    p->success_ = success;
    if (keyed)
      p->key_ = s.key;
    p->deadline_ = later(now.mono, config_->settings.ack_timeout);
    p->ack_ = std::move(cell);
    return out.wait(std::move(p));
  }
  std::string_view why = s.why;
  const Response* reply = nullptr;
  if (cell) { // completed inside the handler: answered now, no waiting
    const Outcome o = outcome_of(*cell);
    e = o.error;
    why = o.why;
    reply = o.reply;
  }
  settle_key(*config_, keyed ? std::string_view(s.key) : std::string_view{}, e == Error::ok, now);
  if (e != Error::ok)
    config_->reject(Rejection{e, http_status(e), head.path, why, head.method, out.peer()});
  out.answer(outcome_answer(e, reply, success));
}

// ---- Pending ---------------------------------------------------------------

void Pending::expire() {
  expired_ = true;
  if (ack_)
    ack_->expire();
}

void Pending::abandon(Now now) noexcept {
  if (stage_ == Stage::handling) {
    ack_->expire(); // a late ack.ok() now returns false: the delivery will come again
    try {
      settle_key(*config_, key_, ack_->result() == AckCell::ok, now);
    } catch (...) {
    }
  }
  stage_ = Stage::done;
  start_ = nullptr;
}

void Pending::finish(Error e, std::string_view why, const Response* reply, Now now) {
  settle_key(*config_, key_, e == Error::ok, now);
  if (e != Error::ok)
    config_->reject(Rejection{e, http_status(e), path_, why.empty() ? describe(e) : why, method_, peer_});
  answer_ = outcome_answer(e, reply, success_);
  stage_ = Stage::done;
  start_ = nullptr;
}

bool Pending::advance(Now now) {
  if (stage_ == Stage::claiming) {
    if (!claim_->ready()) {
      if (!expired_)
        return false;
      key_.clear(); // never claimed by us: nothing to confirm or release
      finish(Error::store_unavailable, "idempotency store did not answer in time", nullptr, now);
      return true;
    }
    const ClaimResult r = claim_->get();
    if (r != ClaimResult::claimed)
      key_.clear();
    switch (r) {
    case ClaimResult::done:
      tell_duplicate(*config_, success_, path_, method_, peer_);
      answer_ = {success_, success_body(success_), nullptr, {}};
      stage_ = Stage::done;
      start_ = nullptr;
      return true;
    case ClaimResult::in_progress:
      finish(Error::duplicate_in_progress, "the same delivery is being handled now; Top.gg will retry", nullptr, now);
      return true;
    case ClaimResult::unavailable:
      finish(Error::store_unavailable, "idempotency store unavailable: answered 503 so Top.gg retries", nullptr, now);
      return true;
    case ClaimResult::claimed: break;
    }
    Error e = Error::ok;
    std::string why;
    ack_ = start_(e, why);
    start_ = nullptr; // the event copy is not needed any more
    if (!ack_) {
      finish(e, why, nullptr, now);
      return true;
    }
    stage_ = Stage::handling;
    if (expired_)
      ack_->expire();
  }
  if (stage_ == Stage::handling) {
    if (!ack_->ready())
      return false;
    const Outcome o = outcome_of(*ack_);
    finish(o.error, o.why, o.reply, now);
  }
  return true;
}

// ---- Router::handle --------------------------------------------------------

namespace {

Response to_response(const Answer& a) {
  Response r;
  if (a.reply) {
    r = *a.reply;
  } else {
    r.status = a.status;
    r.body.assign(a.body);
  }
  if (!a.allow.empty())
    r.headers.emplace_back("Allow", std::string(a.allow));
  return r;
}

void send(const std::function<void(Response)>& reply, const Answer& a) noexcept {
  try {
    reply(to_response(a));
  } catch (...) {
    std::fputs("topgg-webhook: a Router::handle reply callback threw; ignored\n", stderr);
  }
}

// Advances one pending delivery from whichever thread wakes it; runs are
// serialised (a wake during a run makes the runner go round once more).
struct Kicker {
  std::shared_ptr<Pending> pending;
  std::function<void(Response)> reply;
  Now now;
  std::atomic<int> runs{0};

  void kick() {
    if (runs.fetch_add(1, std::memory_order_acq_rel) > 0)
      return;
    do {
      if (pending && pending->advance(now)) {
        send(reply, pending->answer());
        pending.reset(); // breaks the cycle wake cell → this → pending → its cells → wake cell
        reply = nullptr;
      }
    } while (runs.fetch_sub(1, std::memory_order_acq_rel) > 1);
  }
};

class HandleOutlet final : public Outlet {
public:
  HandleOutlet(std::function<void(Response)>& reply, Now now) : reply_(reply), now_(now) {}
  void answer(const Answer& a) override { send(reply_, a); }
  void wait(std::shared_ptr<Pending> p) override {
    auto k = std::make_shared<Kicker>();
    k->pending = std::move(p);
    k->reply = std::move(reply_);
    k->now = now_;
    waker()->set([k] { k->kick(); });
    k->kick(); // whatever completed before the waker was set
  }
  const std::shared_ptr<WakeCell>& waker() override {
    if (!wake_)
      wake_ = std::make_shared<WakeCell>();
    return wake_;
  }

private:
  std::function<void(Response)>& reply_;
  Now now_;
  std::shared_ptr<WakeCell> wake_;
};

class WholeRequest final : public RequestSource {
public:
  explicit WholeRequest(const Request& r) : r_(r) {}
  const Request& request() override { return r_; }

private:
  const Request& r_;
};

} // namespace

void Pipeline::handle(const Request& req, Now now, std::function<void(Response)> reply) const {
  // A cache for this stateless entry point; a nested call (a handler calling
  // handle()) gets its own.
  thread_local Scratch cached;
  thread_local int depth = 0;
  std::optional<Scratch> nested;
  Scratch& s = depth == 0 ? cached : nested.emplace();
  struct Depth {
    int& d;
    explicit Depth(int& x) : d(++x) {}
    ~Depth() { --d; }
  } guard(depth);

  WholeRequest whole(req);
  Head head;
  head.method = req.method;
  head.target = req.target;
  head.path = req.path.empty() ? path_of(req.target) : req.path;
  head.full = &whole;
  for (const Header& h : req.headers) {
    if (iequals(h.name, "authorization"))
      head.authorization.see(h.value);
    else if (iequals(h.name, "x-topgg-signature"))
      head.signature.see(h.value);
    else if (iequals(h.name, "x-topgg-trace"))
      head.trace.see(h.value);
  }
  HandleOutlet out(reply, now);
  Admission a;
  admit(head, a);
  if (a.refusal == Error::ok && req.body.size() > config_->settings.max_body_bytes)
    return refuse(Error::payload_too_large, describe(Error::payload_too_large), head, {}, out);
  deliver(a, head, req.body, false, now, s, out);
}

} // namespace topgg::detail
