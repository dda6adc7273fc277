// Router: configuration only. What happens to a request is the pipeline's.
#include "topgg/router.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "bytes.hpp"
#include "config.hpp"
#include "pipeline.hpp"

namespace topgg {

namespace detail {

namespace {
void print_rejection(const Rejection& r, const char* what) {
  // A request refused before its request line was read has no method or path: say so.
  const std::string_view path = r.path.empty() && r.method.empty() ? "(before the request line)" : r.path;
  std::fprintf(stderr, "topgg-webhook: %s %d%s%.*s%s%.*s%s%.*s: %.*s\n", what, r.status, r.method.empty() ? "" : " ",
               static_cast<int>(r.method.size()), r.method.data(), path.empty() ? "" : " ",
               static_cast<int>(path.size()), path.data(), r.peer.empty() ? "" : " from ",
               static_cast<int>(r.peer.size()), r.peer.data(), static_cast<int>(r.detail.size()), r.detail.data());
}
} // namespace

void Config::reject(const Rejection& r) const noexcept {
  if (meter)
    meter->rejected(r);
  try {
    if (on_error)
      on_error(r);
    else
      print_rejection(r, "refused");
  } catch (...) {
    std::fputs("topgg-webhook: the on_error hook threw; ignored\n", stderr);
  }
}

void Config::duplicate(const Rejection& r) const noexcept {
  try {
    if (on_duplicate)
      on_duplicate(r);
    else
      print_rejection(r, "info: a retry answered");
  } catch (...) {
    std::fputs("topgg-webhook: the on_duplicate hook threw; ignored\n", stderr);
  }
}

void Config::warn(std::string_view message) const noexcept {
  try {
    if (on_warning) {
      on_warning(message);
      return;
    }
  } catch (...) {
    std::fputs("topgg-webhook: the on_warning hook threw; ignored\n", stderr);
    return;
  }
  std::fprintf(stderr, "topgg-webhook: warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

bool Route::takes(std::string_view p) const noexcept {
  if (!prefix)
    return same_bytes(path, p);
  const std::string_view under = std::string_view(path).substr(0, path.size() - 1); // "/a/" of "/a/*"
  return p.size() > under.size() && same_bytes(under, p.substr(0, under.size()));
}

const Route* Config::find(std::string_view path, std::string_view method, bool& path_known) const noexcept {
  path_known = false;
  for (const Route& r : routes) {
    if (r.prefix || !same_bytes(r.path, path))
      continue;
    path_known = true;
    if (r.method.empty() || same_bytes(r.method, method))
      return &r;
  }
  if (path_known || !prefix_routes)
    return nullptr;
  // No route has this very path: a prefix route may take it (the first one set up that does).
  for (const Route& r : routes) {
    if (!r.prefix || !r.takes(path))
      continue;
    path_known = true;
    if (r.method.empty() || same_bytes(r.method, method))
      return &r;
  }
  return nullptr;
}

std::string_view Config::allow(std::string_view path) const noexcept {
  for (const Route& r : routes)
    if (!r.prefix && r.path == path)
      return r.allow;
  for (const Route& r : routes)
    if (r.prefix && r.takes(path))
      return r.allow;
  return {};
}

IdempotencyStore* Config::idempotency() noexcept { return settings.dedup_ttl.count() > 0 ? store.get() : nullptr; }

VoteLedger* Config::vote_ledger() noexcept {
  IdempotencyStore* s = vote_rules ? idempotency() : nullptr;
  return s ? s->vote_ledger() : nullptr;
}

void Config::meter_store() {
  if (meter)
    meter->link_store(idempotency() ? store : nullptr);
}

void VoteMarks::note(std::string_view project, v1::Timestamp t, std::chrono::system_clock::time_point now) {
  constexpr auto skew = std::chrono::minutes(5);
  if (t > now + skew)
    return;
  std::lock_guard lock(m_);
  for (auto& [p, newest] : marks_)
    if (p == project) {
      newest = std::max(newest, t);
      return;
    }
  marks_.emplace_back(std::string(project), t);
}

std::optional<v1::Timestamp> VoteMarks::newest(std::string_view project) const {
  std::lock_guard lock(m_);
  for (const auto& [p, newest] : marks_)
    if (p == project)
      return newest;
  return std::nullopt;
}

void set_target(Config& c, std::string_view path, std::string id) {
  for (Route& r : c.routes) {
    if (r.path != path || r.kind == route_custom)
      continue;
    if (id.empty())
      throw std::invalid_argument("topgg: only_for(" + r.path + "): the ID is empty");
    if (r.kind != route_v1) {
      const auto sf = Snowflake::parse(id);
      if (!sf)
        throw std::invalid_argument("topgg: only_for(" + r.path + ", \"" + id + "\"): a " +
                                    (r.kind == route_bot_vote ? "bot" : "server") + " route takes a Discord ID");
      r.target_id = *sf;
    }
    r.target = std::move(id);
    return;
  }
  throw std::invalid_argument("topgg: only_for(" + std::string(path) +
                              "): no dbl_webhook, dsl_webhook or v1_webhook route is set up there");
}

void set_error_hook(Config& c, std::function<void(const Rejection&)> hook) { c.on_error = std::move(hook); }
void set_warning_hook(Config& c, std::function<void(std::string_view)> hook) { c.on_warning = std::move(hook); }
void set_duplicate_hook(Config& c, std::function<void(const Rejection&)> hook) { c.on_duplicate = std::move(hook); }
void set_executor(Config& c, Executor ex) { c.executor = std::move(ex); }
void set_resolver(Config& c, SecretResolver r) { c.resolver = std::move(r); }
void set_store(Config& c, std::shared_ptr<IdempotencyStore> s) {
  c.own_store = !s;
  c.store = s ? std::move(s) : std::make_shared<MemoryStore>(c.settings.dedup_capacity);
  c.meter_store();
}
void set_settings(Config& c, const Settings& s) {
  const bool resize = c.settings.dedup_capacity != s.dedup_capacity;
  c.settings = s;
  if (c.own_store && resize) // never a store the user gave, MemoryStore or not
    c.store = std::make_shared<MemoryStore>(s.dedup_capacity);
  c.meter_store();
}
void set_metrics(Config& c, std::shared_ptr<Metrics> m) {
  c.meter = m ? &m->state() : nullptr;
  c.metrics = std::move(m);
  for (Route& r : c.routes)
    r.meter = c.meter ? c.meter->route(r.path) : nullptr;
  c.meter_store();
}

} // namespace detail

Router::Router() : config_(std::make_shared<detail::Config>()) {
  config_->store = std::make_shared<MemoryStore>(config_->settings.dedup_capacity);
  pipeline_ = std::make_shared<detail::Pipeline>(config_);
}

Router::~Router() = default;

const Settings& Router::limits() const noexcept { return config_->settings; }
const Settings& Router::current_settings() const noexcept { return config_->settings; }
std::shared_ptr<IdempotencyStore> Router::current_store() const {
  return config_->idempotency() ? config_->store : nullptr;
}
std::shared_ptr<Metrics> Router::current_metrics() const { return config_->metrics; }

detail::Config& Router::configure() {
  if (config_->frozen.load(std::memory_order_acquire))
    throw std::logic_error(
        "topgg: configuration changed while the server runs; configure before run() or after close()");
  return *config_;
}

void Router::freeze(bool frozen) noexcept { config_->frozen.store(frozen, std::memory_order_release); }

template <class Event> void Router::set_handlers(Handler<Event> plain, AckHandler<Event> with_ack) {
  std::get<detail::VoteHandlers<Event>>(configure().handlers) = {std::move(plain), std::move(with_ack)};
}

// Every event type's setter, compiled here once.
template void Router::set_handlers<BotVote>(Handler<BotVote>, AckHandler<BotVote>);
template void Router::set_handlers<ServerVote>(Handler<ServerVote>, AckHandler<ServerVote>);
template void Router::set_handlers<v1::VoteCreate>(Handler<v1::VoteCreate>, AckHandler<v1::VoteCreate>);
template void Router::set_handlers<v1::WebhookTest>(Handler<v1::WebhookTest>, AckHandler<v1::WebhookTest>);
template void Router::set_handlers<v1::IntegrationCreate>(Handler<v1::IntegrationCreate>,
                                                          AckHandler<v1::IntegrationCreate>);
template void Router::set_handlers<v1::IntegrationDelete>(Handler<v1::IntegrationDelete>,
                                                          AckHandler<v1::IntegrationDelete>);
template void Router::set_handlers<VoteExpired>(Handler<VoteExpired>, AckHandler<VoteExpired>);

void Router::add_route(int kind, std::string method, std::string path, std::string key, RouteHandler h,
                       std::vector<std::string> secrets) {
  detail::Config& c = configure();
  // A route that cannot be reached loses votes without a trace (Top.gg never
  // retries a 404): refuse it now rather than answer 404 forever.
  if (path.empty() || path.front() != '/')
    throw std::invalid_argument("topgg: route \"" + path + "\" must start with '/' (e.g. \"/" + path + "\")");
  for (const detail::Route& r : c.routes)
    if (r.path == path && (r.method.empty() || method.empty() || r.method == method))
      throw std::invalid_argument("topgg: route " + path + " is already set up" +
                                  (r.method.empty() ? "" : " for " + r.method));
  // "/a/*": custom routes take every path under "/a/"; v1 routes too, each path an integration's
  // connection (the event's connection_id).
  const bool prefix =
      (kind == detail::route_custom || kind == detail::route_v1) && path.size() >= 2 && path.ends_with("/*");
  c.routes.emplace_back(static_cast<detail::RouteKindId>(kind), std::move(method), std::move(path), std::move(key),
                        std::move(h), std::move(secrets));
  c.routes.back().prefix = prefix;
  c.prefix_routes = c.prefix_routes || prefix;
  if (c.meter)
    c.routes.back().meter = c.meter->route(c.routes.back().path);
  // Every route at this path answers 405 with the same Allow list.
  std::string allow;
  const std::string& p = c.routes.back().path;
  for (const detail::Route& r : c.routes)
    if (r.path == p && !r.method.empty() && allow.find(r.method) == std::string::npos)
      allow += (allow.empty() ? "" : ", ") + r.method;
  for (detail::Route& r : c.routes)
    if (r.path == p)
      r.allow = allow;
}

void Router::add_ack_route(std::string method, std::string path, AckRouteHandler h) {
  if (!h)
    throw std::invalid_argument("topgg: route " + path + ": the handler is empty");
  add_route(detail::route_custom, std::move(method), std::move(path), {}, {}, {});
  config_->routes.back().ack_handler = std::move(h);
}

namespace {
// The route whose key replace_auth_key() / replace_v1_secrets() change: read
// only (its path and kind never change while serving, so any thread may look).
const detail::Route* keyed_route(const detail::Config& c, std::string_view path, bool v1) {
  for (const detail::Route& r : c.routes)
    if (r.path == path && (v1 ? r.kind == detail::route_v1
                              : r.kind == detail::route_bot_vote || r.kind == detail::route_server_vote))
      return &r;
  return nullptr;
}
} // namespace

void Router::check_key(std::string_view route, bool v1, const std::vector<std::string>& keys) const {
  const char* what = v1 ? "replace_v1_secrets" : "replace_auth_key";
  if (!keyed_route(*config_, route, v1))
    throw std::invalid_argument(std::string("topgg: ") + what + "(" + std::string(route) + "): no " +
                                (v1 ? "v1_webhook" : "dbl_webhook or dsl_webhook") + " route is set up there");
  if (std::all_of(keys.begin(), keys.end(), [](const std::string& k) { return k.empty(); }))
    throw std::invalid_argument(std::string("topgg: ") + what + "(" + std::string(route) + "): " +
                                (v1 ? "no secret: every delivery would be refused"
                                    : "an empty key would accept every request"));
}

void Router::replace_auth_key(std::string_view route, std::string key) {
  check_key(route, false, {key});
  auto& r = const_cast<detail::Route&>(*keyed_route(*config_, route, false));
  r.auth = detail::Secret(key);
  r.auth_key = std::move(key);
}

void Router::replace_v1_secrets(std::string_view route, std::vector<std::string> secrets) {
  check_key(route, true, secrets);
  const_cast<detail::Route&>(*keyed_route(*config_, route, true)).secrets = std::move(secrets);
}

std::string Router::allowed_methods(std::string_view path) const { return std::string(config_->allow(path)); }

void Router::attach_vote_book(VoteRules rules, std::function<void(v1::Timestamp)> recorded) {
  detail::Config& c = configure();
  IdempotencyStore* store = c.idempotency();
  if (!store)
    throw std::invalid_argument("topgg: the vote book needs de-duplication (Settings::dedup_ttl is 0): a retry "
                                "would count as another vote");
  if (!store->vote_ledger())
    throw std::invalid_argument("topgg: the idempotency store keeps no vote ledger (MemoryStore, SqliteStore and "
                                "RedisStore do)");
  if (rules.legacy_duration.count() <= 0 || rules.streak_grace.count() < 0)
    throw std::invalid_argument("topgg: VoteRules: legacy_duration must be positive, streak_grace not negative");
  c.vote_rules = rules;
  c.vote_recorded = std::move(recorded);
}

void Router::warn_once() {
  detail::Config& c = *config_;
  if (c.warned.exchange(true))
    return;
  for (const detail::Route& r : c.routes) {
    switch (r.kind) {
    case detail::route_custom: break;
    case detail::route_v1: {
      const bool no_secret = std::all_of(r.secrets.begin(), r.secrets.end(), [](auto& x) { return x.empty(); });
      if (no_secret && !c.resolver)
        c.warn("v1 route " + r.path + " has no secret: every delivery to it is refused (403)");
      if (!c.handlers_for<v1::VoteCreate>())
        c.warn("v1 route " + r.path +
               " has no vote.create handler: its votes are answered 503 (Top.gg delivers them again)");
      break;
    }
    case detail::route_bot_vote:
    case detail::route_server_vote: {
      if (r.auth_key.empty())
        c.warn("route " + r.path + " has no auth key: every request to it is accepted");
      const bool handled =
          r.kind == detail::route_bot_vote ? bool(c.handlers_for<BotVote>()) : bool(c.handlers_for<ServerVote>());
      if (!handled)
        c.warn("route " + r.path + " has no vote handler: its votes are answered 503 (Top.gg delivers them again)");
      break;
    }
    }
  }
}

void Router::deliver(std::string_view route, const v1::VoteCreate& vote, Now now, std::function<void(Error)> done,
                     Executor resume) {
  warn_once();
  pipeline_->deliver_vote(route, vote, now, std::move(done), std::move(resume));
}

void Router::deliver(const v1::VoteCreate& vote, Now now, std::function<void(Error)> done, Executor resume) {
  deliver(only_v1_route(), vote, now, std::move(done), std::move(resume));
}

std::function<void()> Router::deliver(const VoteExpired& expired, Now now, std::function<void(Error)> done) {
  return pipeline_->deliver_expired(expired, now, std::move(done));
}

std::string Router::only_v1_route() const {
  const detail::Route* found = nullptr;
  for (const detail::Route& r : config_->routes) {
    if (r.kind != detail::route_v1)
      continue;
    if (found)
      return {};
    found = &r;
  }
  return found ? found->path : std::string();
}

std::optional<v1::Timestamp> Router::newest_vote(std::string_view project) const {
  return config_->newest_votes.newest(project);
}

bool Router::learn_project(std::string_view route, std::string_view project) {
  detail::Config& c = *config_;
  for (const detail::Route& r : c.routes) {
    if (r.kind != detail::route_v1 || r.path != route)
      continue;
    if (!r.target.empty())
      return r.target == project;
    if (const std::string* l = r.learned.load(std::memory_order_acquire))
      return *l == project;
    std::lock_guard lock(c.learned_m);
    if (const std::string* l = r.learned.load(std::memory_order_acquire)) // learned meanwhile
      return *l == project;
    r.learned.store(&c.learned.emplace_back(project), std::memory_order_release);
    return true;
  }
  return false;
}

void Router::handle(const Request& req, Now now, std::function<void(Response)> reply, Executor resume) {
  warn_once();
  pipeline_->handle(req, now, std::move(reply), std::move(resume));
}

} // namespace topgg
