#include "topgg/router.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "dispatch.hpp"
#include "json.hpp"

namespace topgg {

namespace detail {

// Time is a·key.size() + b·given.size(): the guess is copied whole into a
// zeroed key-sized scratch and CRYPTO_memcmp compares key-sized buffers, so
// neither how much of a guess is right nor how its length relates to the
// key's shows in timing (no early exit, no length-dependent branch).
bool key_matches(std::string_view given, std::string_view key) {
  thread_local std::vector<unsigned char> scratch;
  const std::size_t need = std::max(given.size(), key.size());
  if (scratch.size() < need)
    scratch.resize(need); // grows once per thread, then reused
  std::memset(scratch.data(), 0, key.size());
  if (!given.empty())
    std::memcpy(scratch.data(), given.data(), given.size());
  const int diff = CRYPTO_memcmp(scratch.data(), key.data(), key.size());
  return (diff == 0) & (given.size() == key.size());
}

} // namespace detail

/// Bounded memory of answered v1 deliveries: a set for lookup, a FIFO for
/// eviction. Shared by every connection, touched from the loop thread and
/// from threads completing Acks, hence the mutex.
struct Router::Dedup {
  std::mutex m;
  std::unordered_set<std::string> keys;
  std::deque<std::string> order;
  // Acks of Router::handle may complete after the Router is gone: their
  // completions hold this block and use `owner` only while it is set.
  // Recursive: a reply callback may complete another Ack on the same thread.
  std::recursive_mutex life;
  const Router* owner = nullptr;
};

Router::Router() : dedup_(std::make_shared<Dedup>()) { dedup_->owner = this; }
Router::~Router() {
  std::lock_guard lock(dedup_->life); // waits for completions running now
  dedup_->owner = nullptr;
}

void Router::add_route(RouteKind kind, std::string method, std::string path, std::string key, RouteHandler h,
                       std::vector<std::string> secrets) {
  // Reconfiguring a legacy vote route replaces it (dbl_webhook called twice
  // moves it); v1 and custom routes are replaced per path.
  std::erase_if(routes_, [&](const Route& r) {
    if (kind == RouteKind::bot_vote || kind == RouteKind::server_vote)
      return r.kind == kind;
    return r.kind == kind && r.path == path && (kind == RouteKind::v1 || r.method == method);
  });
  routes_.push_back(
      Route{kind, std::move(method), std::move(path), std::move(key), std::move(h), std::move(secrets)});
}

Error Router::verify_v1(const Route& route, const Request& req, std::string_view signature, Now now) const {
  if (!resolver_)
    return v1::verify(signature, route.secrets, req.body, now.wall, settings_.v1_window);
  thread_local std::vector<std::string> secrets;
  secrets.assign(route.secrets.begin(), route.secrets.end());
  // The resolver runs before the signature is checked: whatever it throws,
  // for whatever request, is contained here and answered 500.
  try {
    resolver_(req, secrets);
  } catch (...) {
    return Error::handler_failed;
  }
  return v1::verify(signature, secrets, req.body, now.wall, settings_.v1_window);
}

bool Router::dedup_key(const v1::Event& ev, std::string& key) {
  if (ev.type == v1::EventType::vote_create && !ev.vote_create.id.empty()) {
    key.assign("vote:").append(ev.vote_create.id);
    return true;
  }
  std::string_view trace;
  switch (ev.type) {
  case v1::EventType::vote_create: trace = ev.vote_create.trace; break;
  case v1::EventType::webhook_test: trace = ev.webhook_test.trace; break;
  case v1::EventType::integration_create: trace = ev.integration_create.trace; break;
  case v1::EventType::integration_delete: trace = ev.integration_delete.trace; break;
  case v1::EventType::unknown: break;
  }
  if (trace.empty())
    return false;
  key.assign("trace:").append(trace);
  return true;
}

bool Router::seen(const std::string& key) const {
  if (settings_.v1_dedup_capacity == 0 || key.empty())
    return false;
  std::lock_guard lock(dedup_->m);
  return dedup_->keys.count(key) != 0;
}

void Router::remember(const std::string& key) const {
  if (settings_.v1_dedup_capacity == 0 || key.empty())
    return;
  std::lock_guard lock(dedup_->m);
  if (!dedup_->keys.insert(key).second)
    return;
  dedup_->order.push_back(key);
  while (dedup_->order.size() > settings_.v1_dedup_capacity) {
    dedup_->keys.erase(dedup_->order.front());
    dedup_->order.pop_front();
  }
}

const Router::Route* Router::find(std::string_view path, std::string_view method, bool& path_known) const noexcept {
  path_known = false;
  for (const Route& r : routes_) {
    if (r.path != path)
      continue;
    path_known = true;
    if (r.method.empty() || r.method == method)
      return &r;
  }
  return nullptr;
}

namespace {
// A hook that throws must not take the server (or the request) down with it.
void hook_threw(const char* hook) noexcept { std::fprintf(stderr, "topgg-webhook: the %s hook threw; ignored\n", hook); }
} // namespace

void Router::reject(const Rejection& r) const {
  if (!on_error_)
    return;
  try {
    on_error_(r);
  } catch (...) {
    hook_threw("on_error");
  }
}

void Router::warn(std::string_view message) const {
  if (!on_warning_) {
    std::fprintf(stderr, "topgg-webhook: warning: %.*s\n", static_cast<int>(message.size()), message.data());
    return;
  }
  try {
    on_warning_(message);
  } catch (...) {
    hook_threw("on_warning");
  }
}

void Router::warn_once() {
  if (warned_.exchange(true))
    return;
  for (const Route& r : routes_) {
    if (r.kind == RouteKind::custom)
      continue;
    if (r.kind == RouteKind::v1) {
      const bool no_secret = std::all_of(r.secrets.begin(), r.secrets.end(), [](auto& x) { return x.empty(); });
      if (no_secret && !resolver_)
        warn("v1 route " + r.path + " has no secret: every delivery to it is refused (403)");
      if (!vote_create_)
        warn("v1 route " + r.path + " has no vote.create handler: its votes are answered 204 and dropped");
      continue;
    }
    if (r.auth_key.empty())
      warn("route " + r.path + " has no auth key: every request to it is accepted");
    const bool handled = r.kind == RouteKind::bot_vote ? bool(bot_vote_) : bool(server_vote_);
    if (!handled)
      warn("route " + r.path + " has no vote handler: its votes are answered 200 and dropped");
  }
}

std::string Router::allowed_methods(std::string_view path) const {
  std::string methods;
  for (const Route& r : routes_)
    if (r.path == path && methods.find(r.method) == std::string::npos)
      methods += (methods.empty() ? "" : ", ") + r.method;
  return methods;
}

namespace {
Response text_response(int status, std::string_view body) {
  Response r;
  r.status = status;
  r.body.assign(body);
  return r;
}
Response success_response(int status) { return text_response(status, status == 204 ? "" : "OK"); }
} // namespace

void Router::refuse(Error e, std::string_view path, std::string_view why,
                    const std::function<void(Response)>& reply) const {
  reject(Rejection{e, http_status(e), path, why});
  Response r = text_response(http_status(e), why);
  if (e == Error::method_not_allowed)
    r.headers.emplace_back("Allow", allowed_methods(path));
  reply(std::move(r));
}

template <class Event>
void Router::handle_vote(const Event& ev, const VoteHandlers<Event>& h, std::string_view path, int success,
                         const std::string& key, std::function<void(Response)> reply) const {
  Error now = Error::ok;
  std::string why;
  auto make_ack = [this, &reply, &path, success, &key] {
    auto ack = std::make_shared<detail::AckState>();
    auto wake = std::make_shared<detail::WakeCell>();
    // Runs once, on the completing thread, inside AckState::complete or at
    // expiry; the raw pointer is valid there (the ack owns this cell). The
    // Router may be gone by then: it is reached only through `life`.
    wake->fn = [life = dedup_, a = ack.get(), reply, p = std::string(path), success, k = key] {
      const detail::Outcome o = detail::outcome_of(*a);
      std::lock_guard lock(life->life);
      const Router* owner = life->owner;
      try {
        if (o.error == Error::ok && owner)
          owner->remember(k);
        if (o.reply)
          reply(*o.reply);
        else if (o.error == Error::ok)
          reply(success_response(success));
        else if (owner)
          owner->refuse(o.error, p, o.why, reply);
        else
          reply(text_response(http_status(o.error), describe(o.error)));
      } catch (...) {
        std::fputs("topgg-webhook: a Router::handle reply callback threw; ignored\n", stderr);
      }
    };
    ack->wake = std::move(wake);
    return ack;
  };
  auto ack = detail::dispatch(ev, h, executor_, make_ack, now, why);
  if (ack)
    return; // answered when it completes (or when every Ack is dropped)
  if (now != Error::ok)
    return refuse(now, path, why, reply);
  remember(key);
  reply(success_response(success));
}

void Router::handle(const Request& req, Now now, std::function<void(Response)> reply) {
  warn_once();
  const std::string_view path =
      req.path.empty() ? path_of(req.target) : req.path;
  bool known = false;
  const Route* route = find(path, req.method, known);
  if (!route) {
    const Error e = known ? Error::method_not_allowed : Error::not_found;
    return refuse(e, path, describe(e), reply);
  }
  if (route->kind != RouteKind::custom && !route->auth_key.empty()) {
    int count = 0;
    std::string_view given;
    for (const Header& hd : req.headers)
      if (iequals(hd.name, "authorization") && count++ == 0)
        given = hd.value;
    if (count != 1 || !detail::key_matches(given, route->auth_key))
      return refuse(Error::unauthorized, path, describe(Error::unauthorized), reply);
  }
  if (req.body.size() > settings_.max_body_bytes)
    return refuse(Error::payload_too_large, path, describe(Error::payload_too_large), reply);
  switch (route->kind) {
  case RouteKind::custom: {
    Response res;
    try {
      res = route->handler(req);
    } catch (const std::exception& e) {
      return refuse(Error::handler_failed, path, e.what(), reply);
    } catch (...) {
      return refuse(Error::handler_failed, path, "handler threw a non-std exception", reply);
    }
    return reply(std::move(res));
  }
  case RouteKind::bot_vote: {
    BotVote vote;
    if (DecodeStatus st = decode(req.body, vote); !st)
      return refuse(st.error, path, st.detail, reply);
    return handle_vote(vote, bot_vote_, path, 200, {}, std::move(reply));
  }
  case RouteKind::server_vote: {
    ServerVote vote;
    if (DecodeStatus st = decode(req.body, vote); !st)
      return refuse(st.error, path, st.detail, reply);
    return handle_vote(vote, server_vote_, path, 200, {}, std::move(reply));
  }
  case RouteKind::v1: {
    int count = 0;
    std::string_view signature;
    for (const Header& hd : req.headers)
      if (iequals(hd.name, "x-topgg-signature") && count++ == 0)
        signature = hd.value;
    if (count != 1) {
      const Error e = count == 0 ? Error::signature_missing : Error::signature_malformed;
      return refuse(e, path, describe(e), reply);
    }
    if (const Error e = verify_v1(*route, req, signature, now); e != Error::ok)
      return refuse(e, path, describe(e), reply);
    v1::Event ev;
    const DecodeStatus st = v1::decode(req.body, ev);
    if (!st || ev.type == v1::EventType::unknown) {
      // Correctly signed but not understood: Top.gg must not retry it.
      reject(Rejection{st ? Error::invalid_payload : st.error, 204, path, st ? "unknown event type" : st.detail});
      return reply(success_response(204));
    }
    ev.set_trace(req.header("x-topgg-trace").value_or(""));
    std::string key;
    dedup_key(ev, key);
    if (seen(key))
      return reply(success_response(204));
    return visit(ev, [&](const auto& event, const auto& handlers) {
      handle_vote(event, handlers, path, 204, key, std::move(reply));
    });
  }
  }
}

} // namespace topgg
