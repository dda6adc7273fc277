// Routes, handlers, limits: the configuration every Connection of a server
// shares, and the request-level entry point (Router::handle) for servers that
// parse HTTP themselves. Configure it before the first request; it is
// read-only while requests are served.
#pragma once

#include "topgg/export.hpp"

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/ack.hpp"
#include "topgg/error.hpp"
#include "topgg/http.hpp"
#include "topgg/idempotency.hpp"
#include "topgg/settings.hpp"
#include "topgg/v1.hpp"
#include "topgg/vote_ledger.hpp"
#include "topgg/votes.hpp"

namespace topgg {

/// Supplies secrets for one v1 delivery beside the route's own (e.g. the
/// `webhook_secret` of an integration, chosen by path). Runs on the loop
/// thread before the signature is checked: the request is not yet trusted.
/// What it throws is answered 500 and told to the error hook.
using SecretResolver = std::function<void(const Request& req, std::vector<std::string>& secrets)>;

/// A handler that answers by returning: return → 200 (204 on v1 routes),
/// throw → 500. Its event reference is valid only during the call: copy the
/// event (a plain value) to hand it to another thread.
template <class Event> using Handler = std::function<void(const Event&)>;
/// A handler that answers through its Ack, now or later, from any thread. The
/// event reference is valid during the call only, as for Handler; the Ack may
/// be kept and copied freely.
template <class Event> using AckHandler = std::function<void(const Event&, Ack)>;
/// A custom route's handler (the Python SDK's `webserver` routes): runs on the
/// loop thread; what it throws is answered 500. The Request's views are valid
/// during the call only.
using RouteHandler = std::function<Response(const Request&)>;
/// A custom route's handler that answers later, through its Ack (from any
/// thread): `ack.ok(response)` answers `response`, `ack.ok()` 200, `retry()`
/// 503; not completed within Settings::ack_timeout: 503. Runs on the loop
/// thread; the Request's views are valid during the call only (copy what the
/// answer needs); what it throws is answered 500.
using AckRouteHandler = std::function<void(const Request&, Ack)>;
/// Runs a job on the thread of the user's choice (posts it to a queue, e.g.
/// D++'s `cluster::queue_work`). If it throws, the delivery is answered 500;
/// a job dropped without running is answered 503.
using Executor = std::function<void(std::function<void()>)>;

/// Every event a handler can take, legacy and v1.
using Events = v1::TypeList<BotVote, ServerVote, v1::VoteCreate, v1::WebhookTest, v1::IntegrationCreate,
                            v1::IntegrationDelete, VoteExpired>;

class Router;
class Metrics;
namespace detail {
struct Config;
class Pipeline;
} // namespace detail

/// The chainable configuration API, shared by Router and the adapters'
/// WebhookManager (each returns itself, so calls chain into run()). Every
/// call throws std::logic_error while a WebhookManager runs (configure before
/// run(), or after close()).
///
/// **Which thread runs what.**
/// - Vote handlers (Handler, AckHandler) and custom route handlers run on the
///   loop thread: the adapter's own background thread, or the thread running
///   your loop; for Router::handle(), the thread calling it. One at a time per
///   loop: a handler that blocks holds up every connection of that loop.
/// - With executor(), vote handlers run wherever the executor runs its jobs
///   (your thread pool); the delivery is answered when the handler returns or
///   its Ack completes. See examples/uv_worker_pool.cpp.
/// - An Ack may be completed from any thread; so may WebhookManager::close().
/// - on_error / on_warning run on the loop thread, or on the thread that
///   completes an Ack or answers an idempotency store's claim: with acks or an
///   executor they must be thread-safe.
///
/// **Lifetimes.** An event passed to a handler is valid only during the call:
/// copy it to hand it off (BotVote, ServerVote and the v1 events are plain
/// values; with executor() the library has already copied it into the job).
///
/// **What is answered, and what it means.** Success (200, or 204 on v1
/// routes) once a handler returned or its Ack completed with ok(); 500 if it
/// threw; 503 for Ack::retry() or an Ack not completed within
/// Settings::ack_timeout. Top.gg delivers again after any 5xx or timeout,
/// and de-duplication only remembers answered deliveries for
/// Settings::dedup_ttl: the same vote can reach a handler twice (a crash
/// between the bot's write and the answer, a retry after the TTL, receivers
/// without a shared store). Make the handler's write idempotent, keyed by the
/// vote — see examples/sqlite_ledger.cpp.
template <class Self> class RouterApi {
public:
  /// Bot votes (legacy "dbl") at `route`, checked against `auth_key`. An
  /// empty key accepts every request (as Top.gg's SDKs do; warned once).
  /// Several routes may be set up (one per bot, each with its own key).
  /// Throws std::invalid_argument if `route` does not start with '/' or is
  /// already used for POST.
  Self& dbl_webhook(std::string route = "/dbl", std::string auth_key = "");
  /// Server votes (legacy "dsl") at `route`; as dbl_webhook.
  Self& dsl_webhook(std::string route = "/dsl", std::string auth_key = "");
  /// Top.gg v1 (signed) deliveries at `route`, verified with `secret`
  /// (whs_…). Several secrets: any may sign (rotation). Answered 204.
  /// A route ending in "/*" ("/integrations/*") takes every path under it
  /// that no other route has: each one an integration's connection, whose
  /// name (the rest of the path) is the events' `connection_id`, and whose
  /// secret the v1_secret_resolver() gives (topgg/integrations.hpp does).
  Self& v1_webhook(std::string route, std::string secret);
  /// Top.gg v1 deliveries at `route`, any of `secrets` may sign (rotation).
  Self& v1_webhook(std::string route, std::vector<std::string> secrets);
  /// {"whs_new", "whs_old"}: without this overload braces could build one
  /// std::string from two pointers.
  Self& v1_webhook(std::string route, std::initializer_list<std::string> secrets) {
    return v1_webhook(std::move(route), std::vector<std::string>(secrets));
  }
  /// More secrets per v1 delivery (e.g. integrations'), see SecretResolver.
  Self& v1_secret_resolver(SecretResolver resolver);
  /// Declares the one bot (a dbl_webhook route: the bot's Discord ID), server
  /// (dsl_webhook: the guild ID) or project (v1_webhook: its Top.gg project
  /// ID, or its platform ID) the route at `route` serves. A delivery there
  /// that names another is refused 403 (Error::wrong_target) and told to the
  /// error hook: whoever holds one route's key cannot speak for another bot.
  /// Without it, a route takes whatever its payload names (the event's
  /// `route` says where it came in). Throws std::invalid_argument if no such
  /// route is set up, or if `id` is not a Discord ID on a legacy route.
  Self& only_for(std::string route, std::string id);
  /// Any method ("" = any) and path, answered by `handler` on the loop thread.
  /// A status outside 200-599 is answered 500 (and told to the error hook).
  /// A path ending in "/*" ("/votes/*") takes every path under it that no
  /// other route has ("/votes/123"). Throws std::invalid_argument as
  /// dbl_webhook does.
  Self& route(std::string method, std::string path, RouteHandler handler);
  /// A custom route answered through an Ack, now or later (e.g. once a store
  /// answered): see AckRouteHandler. Otherwise as the route() above.
  Self& route(std::string method, std::string path, AckRouteHandler handler);

  /// The handler for `Event` (any type of topgg::Events): return → 200 (204
  /// on v1 routes), throw → 500 so Top.gg retries. Runs on the loop thread,
  /// or through executor() if one is set. Replaces the previous one.
  template <class Event> Self& on(Handler<Event> h);
  /// With an Ack: complete it (now or later, any thread): ok → 200/204 (or
  /// the Response given to ok()), retry → 503. Never completed → 503 after
  /// Settings::ack_timeout. Ack::ok() and retry() return false when the
  /// delivery was already answered (expired): Top.gg then delivers it again.
  template <class Event> Self& on(AckHandler<Event> h);

  /// Bot votes of every dbl_webhook() route (BotVote::bot says which bot).
  Self& on_bot_vote(Handler<BotVote> h) { return on<BotVote>(std::move(h)); }
  /// Bot votes, acknowledged through the Ack.
  Self& on_bot_vote(AckHandler<BotVote> h) { return on<BotVote>(std::move(h)); }
  /// Server votes of every dsl_webhook() route (ServerVote::guild says which server).
  Self& on_server_vote(Handler<ServerVote> h) { return on<ServerVote>(std::move(h)); }
  /// Server votes, acknowledged through the Ack.
  Self& on_server_vote(AckHandler<ServerVote> h) { return on<ServerVote>(std::move(h)); }
  /// v1 "vote.create" deliveries (and votes fed in by catch-up).
  Self& on_vote_create(Handler<v1::VoteCreate> h) { return on<v1::VoteCreate>(std::move(h)); }
  /// v1 "vote.create", acknowledged through the Ack.
  Self& on_vote_create(AckHandler<v1::VoteCreate> h) { return on<v1::VoteCreate>(std::move(h)); }
  /// v1 "webhook.test" (the dashboard's test button).
  Self& on_webhook_test(Handler<v1::WebhookTest> h) { return on<v1::WebhookTest>(std::move(h)); }
  /// v1 "webhook.test", acknowledged through the Ack.
  Self& on_webhook_test(AckHandler<v1::WebhookTest> h) { return on<v1::WebhookTest>(std::move(h)); }
  /// v1 "integration.create".
  Self& on_integration_create(Handler<v1::IntegrationCreate> h) { return on<v1::IntegrationCreate>(std::move(h)); }
  /// v1 "integration.create"; Ack::ok(Response) answers with a JSON body.
  Self& on_integration_create(AckHandler<v1::IntegrationCreate> h) { return on<v1::IntegrationCreate>(std::move(h)); }
  /// v1 "integration.delete".
  Self& on_integration_delete(Handler<v1::IntegrationDelete> h) { return on<v1::IntegrationDelete>(std::move(h)); }
  /// v1 "integration.delete", acknowledged through the Ack.
  Self& on_integration_delete(AckHandler<v1::IntegrationDelete> h) { return on<v1::IntegrationDelete>(std::move(h)); }
  /// "vote.expired": a user's latest vote ran out (fired by a VoteBook,
  /// topgg/vote_book.hpp). Return → done; throw → given again later, with
  /// back-off. Runs on the loop thread (or through executor()), as votes do.
  Self& on_vote_expired(Handler<VoteExpired> h) { return on<VoteExpired>(std::move(h)); }
  /// "vote.expired", acknowledged through the Ack: ok → done, retry (or no
  /// completion within Settings::ack_timeout) → given again later.
  Self& on_vote_expired(AckHandler<VoteExpired> h) { return on<VoteExpired>(std::move(h)); }

  /// Told of every refused or failed request (with its reason), on the loop
  /// thread or the thread completing an Ack; never of a duplicate (see
  /// on_duplicate). Default: one line on standard
  /// error ("topgg-webhook: refused 401 POST /dbl from 203.0.113.7:51234:
  /// Authorization header does not match the route's key"), so that no
  /// failure goes unseen; replace it to log elsewhere. Exceptions from it
  /// are contained.
  Self& on_error(std::function<void(const Rejection&)> hook);
  /// Told of each retry of a delivery already handled (Error::duplicate):
  /// answered success (200, 204 on v1) with no event. Top.gg retries after
  /// any timeout or 5xx, so these are the protocol working, not errors: they
  /// never reach on_error, so an alerting hook needs no filter. Runs where
  /// on_error runs. Default: an "info:" line on standard error. Exceptions
  /// from it are contained.
  Self& on_duplicate(std::function<void(const Rejection&)> hook);
  /// Configuration warnings and notices (an empty auth key, a route without
  /// a handler). Default: standard error.
  Self& on_warning(std::function<void(std::string_view)> hook);
  /// Vote handlers run through `ex` instead of on the loop thread; the
  /// delivery is answered when the handler returns (or its Ack completes).
  /// Custom route handlers stay on the loop thread.
  Self& executor(Executor ex);
  /// Limits and timeouts for every connection served after this call.
  Self& settings(const Settings& s);
  /// The current settings.
  const Settings& settings() const;
  /// Where de-duplication keys live (default: a MemoryStore of
  /// Settings::dedup_capacity keys). Use a SqliteStore to survive restarts,
  /// a RedisStore to share keys between several receivers.
  Self& idempotency_store(std::shared_ptr<IdempotencyStore> store);
  /// The store in use; nullptr while de-duplication is off (Settings::dedup_ttl 0).
  std::shared_ptr<IdempotencyStore> idempotency_store() const;
  /// Counts requests, events, refusals, duplicates, handler outcomes and
  /// latency into `m` (see Metrics; `#include <topgg/metrics.hpp>`), and
  /// reports this router's idempotency store's health through it; nullptr
  /// (the default) counts nothing. Several routers may share one Metrics.
  Self& metrics(std::shared_ptr<Metrics> m);
  /// The Metrics counted into; nullptr when none.
  std::shared_ptr<Metrics> metrics() const;

private:
  Router& r() { return static_cast<Self*>(this)->router(); }
  const Router& r() const { return const_cast<RouterApi*>(this)->r(); }
};

/// Routes, handlers and limits, without a server: what the adapters and
/// Connection serve, and the request-level entry point handle() for a server
/// that parses HTTP itself (see examples/beast_server.cpp).
class TOPGG_API Router : public RouterApi<Router> {
public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  /// This Router (what RouterApi configures).
  Router& router() noexcept { return *this; }
  /// The current settings.
  [[deprecated("use settings()")]] const Settings& limits() const noexcept;

  /// Request-level entry, for a server that already parsed HTTP (Beast,
  /// Drogon, …): routes, checks and decodes `req` like a Connection would,
  /// runs the handlers, and calls `reply` exactly once with the answer. For
  /// plain handlers that is before handle() returns; for Ack handlers (or
  /// with an executor, or an idempotency store that does I/O) it is on the
  /// thread that completes the Ack or the claim — or, if every Ack is dropped
  /// uncompleted, 503 right then. There is no clock here: a never-completed
  /// Ack is bounded by the caller's own deadline. `req`'s views need to live
  /// only during this call; the Router may be destroyed before a late Ack
  /// completes. `reply` must not throw (what it throws is contained).
  ///
  /// `resume` says where a delivery that had to wait goes on: with a store
  /// that answers its claim later (SqliteStore, RedisStore), the handler runs
  /// after that answer — on the store's thread, unless `resume` posts the
  /// rest to yours (e.g. `[&io](auto job) { asio::post(io, job); }`). A job
  /// `resume` drops or throws on is run where it is let go, so no delivery is
  /// left claimed and unanswered.
  void handle(const Request& req, Now now, std::function<void(Response)> reply, Executor resume = {});

  /// Delivers a vote that did not come through HTTP — caught up from the vote
  /// history API — exactly as a live vote.create to the v1 route `route`:
  /// claimed in the idempotency store under the same key (so a vote both
  /// delivered by webhook and caught up reaches the handler once), handled,
  /// confirmed or released; `vote.route` is set to `route`. `done` is called
  /// once with Error::ok (handled), Error::duplicate (handled before), or why
  /// it failed (then nothing was confirmed: deliver it again later) —
  /// Error::not_found if `route` is no v1 route, Error::wrong_target if the
  /// route serves another project — on this thread or the one that completes
  /// the Ack or the claim. The handler runs on this thread unless an executor
  /// is set or the store answers later — then where `resume` runs its jobs,
  /// as for handle(). Call it from a job given to WebhookManager::post(),
  /// with post as `resume`, to keep every handler on the loop thread (CatchUp
  /// does).
  void deliver(std::string_view route, const v1::VoteCreate& vote, Now now, std::function<void(Error)> done,
               Executor resume = {});
  /// deliver() to the one v1 route set up (Error::not_found if there is none
  /// or more than one: name it then).
  void deliver(const v1::VoteCreate& vote, Now now, std::function<void(Error)> done, Executor resume = {});
  /// The path of the one v1 route set up; "" when there is none or several.
  std::string only_v1_route() const;

  /// Delivers a vote.expired (a VoteBook does, when a vote runs out) to the
  /// on_vote_expired handlers, on this thread or through the executor. No
  /// de-duplication here: the VoteBook claims each expiry in its store. `done`
  /// is called once with Error::ok (handled; also when no handler is set) or
  /// why not (Error::handler_failed, handler_retry, ack_timeout), on this
  /// thread or the one completing the Ack. The handler's Ack::deadline() is
  /// `now.mono` + Settings::ack_timeout. Returns `give_up`: called (from any
  /// thread) once the caller stops waiting — at that deadline —, it ends a
  /// delivery still in progress as Error::ack_timeout (an Ack completed later
  /// returns false); after `done`, it does nothing.
  std::function<void()> deliver(const VoteExpired& expired, Now now, std::function<void(Error)> done);
  /// The created_at of the newest vote.create handled so far for `project`
  /// (its Top.gg ID; live or caught up), if any: where catch-up may resume. A
  /// vote dated more than 5 minutes ahead of the clock never moves it.
  std::optional<v1::Timestamp> newest_vote(std::string_view project) const;
  /// The v1 route at `route` serves `project` from now on (any thread, also
  /// while serving), unless only_for() declared one: what CatchUp does with
  /// its token's project when asked to. False if the route declared another
  /// project or is no v1 route (then nothing changed).
  bool learn_project(std::string_view route, std::string_view project);

  /// Replaces the key of the dbl_webhook / dsl_webhook route at `route`
  /// while requests are served (key rotation), without touching a connection:
  /// requests whose Authorization is checked after the call use `key`. Not
  /// synchronised with requests, and costs them nothing: call it where
  /// requests are checked — with a WebhookManager, through its
  /// replace_auth_key(), which runs this on the loop thread; with handle(), on
  /// the thread that calls handle(), between two calls (or under the lock that
  /// keeps your handle() calls apart). Throws std::invalid_argument, and
  /// changes nothing, if no such route is set up or `key` is empty (a route
  /// without a key accepts every request: set that up with dbl_webhook()).
  void replace_auth_key(std::string_view route, std::string key);
  /// The same for the v1_webhook route at `route`: `secrets` replace its
  /// secrets (any of them may sign: keep the old one beside the new while
  /// Top.gg switches). Throws std::invalid_argument if no v1 route is at
  /// `route` or every secret is empty.
  void replace_v1_secrets(std::string_view route, std::vector<std::string> secrets);

  /// Methods accepted at `path`, comma-separated ("POST").
  std::string allowed_methods(std::string_view path) const;

  /// Emits the configuration warnings once (empty keys, routes without a
  /// handler). Connections call it; adapters call it when they start.
  void warn_once();

  /// While frozen, configuring throws std::logic_error (the adapters freeze
  /// the Router while they run: other threads read it then).
  void freeze(bool frozen) noexcept;

  /// \cond INTERNAL
  /// Internal (VoteBook): from now on every handled vote is recorded in the
  /// idempotency store's vote ledger with `rules`, and `recorded` is told the
  /// expiry of each. Throws std::logic_error while frozen, std::invalid_argument
  /// when de-duplication is off or the store keeps no ledger.
  void attach_vote_book(VoteRules rules, std::function<void(v1::Timestamp)> recorded);
  /// Internal: the delivery pipeline, shared by Connection and handle().
  /// Connections hold it, so a Router destroyed from inside a handler does
  /// not pull it from under the request being handled.
  const std::shared_ptr<detail::Pipeline>& pipeline() const noexcept { return pipeline_; }
  /// \endcond

private:
  template <class> friend class RouterApi;
  friend class ManagerBase;
  /// Throws as replace_auth_key() / replace_v1_secrets() would; changes nothing.
  void check_key(std::string_view route, bool v1, const std::vector<std::string>& keys) const;
  template <class Event> void set_handlers(Handler<Event> plain, AckHandler<Event> with_ack);
  void add_route(int kind, std::string method, std::string path, std::string key, RouteHandler h,
                 std::vector<std::string> secrets);
  void add_ack_route(std::string method, std::string path, AckRouteHandler h);
  detail::Config& configure(); ///< throws std::logic_error while frozen
  const Settings& current_settings() const noexcept;
  std::shared_ptr<IdempotencyStore> current_store() const;
  std::shared_ptr<Metrics> current_metrics() const;

  std::shared_ptr<detail::Config> config_;
  std::shared_ptr<detail::Pipeline> pipeline_;
};

// ---- RouterApi, defined here so each Self gets it without a .cpp -----------
/// \cond INTERNAL

namespace detail {
// Route kinds, for Router::add_route.
enum RouteKindId : int { route_bot_vote, route_server_vote, route_v1, route_custom };
TOPGG_API void set_error_hook(Config& c, std::function<void(const Rejection&)> hook);
TOPGG_API void set_warning_hook(Config& c, std::function<void(std::string_view)> hook);
TOPGG_API void set_duplicate_hook(Config& c, std::function<void(const Rejection&)> hook);
TOPGG_API void set_executor(Config& c, Executor ex);
TOPGG_API void set_settings(Config& c, const Settings& s);
TOPGG_API void set_resolver(Config& c, SecretResolver r);
TOPGG_API void set_store(Config& c, std::shared_ptr<IdempotencyStore> s);
TOPGG_API void set_target(Config& c, std::string_view route, std::string id);
TOPGG_API void set_metrics(Config& c, std::shared_ptr<Metrics> m);
} // namespace detail

template <class S> S& RouterApi<S>::dbl_webhook(std::string route, std::string auth_key) {
  r().add_route(detail::route_bot_vote, "POST", std::move(route), std::move(auth_key), {}, {});
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::dsl_webhook(std::string route, std::string auth_key) {
  r().add_route(detail::route_server_vote, "POST", std::move(route), std::move(auth_key), {}, {});
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::v1_webhook(std::string route, std::string secret) {
  return v1_webhook(std::move(route), std::vector<std::string>{std::move(secret)});
}
template <class S> S& RouterApi<S>::v1_webhook(std::string route, std::vector<std::string> secrets) {
  r().add_route(detail::route_v1, "POST", std::move(route), {}, {}, std::move(secrets));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::route(std::string method, std::string path, RouteHandler h) {
  r().add_route(detail::route_custom, std::move(method), std::move(path), {}, std::move(h), {});
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::route(std::string method, std::string path, AckRouteHandler h) {
  r().add_ack_route(std::move(method), std::move(path), std::move(h));
  return static_cast<S&>(*this);
}
template <class S> template <class Event> S& RouterApi<S>::on(Handler<Event> h) {
  r().template set_handlers<Event>(std::move(h), {});
  return static_cast<S&>(*this);
}
template <class S> template <class Event> S& RouterApi<S>::on(AckHandler<Event> h) {
  r().template set_handlers<Event>({}, std::move(h));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::v1_secret_resolver(SecretResolver resolver) {
  detail::set_resolver(r().configure(), std::move(resolver));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::only_for(std::string route, std::string id) {
  detail::set_target(r().configure(), route, std::move(id));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_error(std::function<void(const Rejection&)> hook) {
  detail::set_error_hook(r().configure(), std::move(hook));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_duplicate(std::function<void(const Rejection&)> hook) {
  detail::set_duplicate_hook(r().configure(), std::move(hook));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_warning(std::function<void(std::string_view)> hook) {
  detail::set_warning_hook(r().configure(), std::move(hook));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::executor(Executor ex) {
  detail::set_executor(r().configure(), std::move(ex));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::settings(const Settings& s) {
  detail::set_settings(r().configure(), s);
  return static_cast<S&>(*this);
}
template <class S> const Settings& RouterApi<S>::settings() const { return r().current_settings(); }
template <class S> std::shared_ptr<IdempotencyStore> RouterApi<S>::idempotency_store() const {
  return r().current_store();
}
template <class S> S& RouterApi<S>::idempotency_store(std::shared_ptr<IdempotencyStore> store) {
  detail::set_store(r().configure(), std::move(store));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::metrics(std::shared_ptr<Metrics> m) {
  detail::set_metrics(r().configure(), std::move(m));
  return static_cast<S&>(*this);
}
template <class S> std::shared_ptr<Metrics> RouterApi<S>::metrics() const { return r().current_metrics(); }
/// \endcond

} // namespace topgg
