// Routes, handlers, limits: the configuration every Connection of a server
// shares. Configure it before the first Connection exists; it is read-only
// while connections use it.
#pragma once

#include "topgg/export.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/error.hpp"
#include "topgg/http.hpp"
#include "topgg/v1.hpp"
#include "topgg/votes.hpp"

namespace topgg {

/// Limits and timeouts. Every one has a default; exceeding a size limit is
/// answered 413/431 and closes the connection.
struct Settings {
  std::size_t max_header_bytes = 16 * 1024;  ///< request line + header fields
  std::size_t max_header_count = 100;
  std::size_t max_body_bytes = 64 * 1024;
  std::uint32_t max_requests_per_connection = 1000;
  std::size_t max_pipelined = 16;            ///< answers outstanding before reading stops
  std::size_t max_output_bytes = 256 * 1024; ///< unsent bytes before reading stops
  std::chrono::milliseconds header_timeout{10'000}; ///< first byte → end of headers
  std::chrono::milliseconds body_timeout{10'000};   ///< end of headers → end of body
  std::chrono::milliseconds idle_timeout{60'000};   ///< keep-alive wait for the next request
  std::chrono::milliseconds ack_timeout{4'000};     ///< handler's acknowledgement (Top.gg waits 5 s)
  std::size_t max_connections = 1024;        ///< enforced by the adapters
  std::chrono::seconds v1_window = v1::default_window; ///< |now − t| allowed for x-topgg-signature
  /// v1 deliveries remembered after a successful answer (vote id, else
  /// trace): a retry of one of them is answered 204 with no second event.
  /// 0 turns de-duplication off.
  std::size_t v1_dedup_capacity = 4096;
};

/// A request refused or failed, as told to the error hook. Views are valid
/// during the hook call only.
struct Rejection {
  Error error;
  int status;             ///< what was answered (0 if nothing could be)
  std::string_view path;  ///< request path, when known
  std::string_view detail;
  std::string_view method = {}; ///< request method, when known
};

namespace detail {
struct WakeCell;
struct AckState;
} // namespace detail

/// Completes a delivery later, from any thread. Copies share one outcome:
/// the first completion wins, later ones are ignored. Safe to complete after
/// the connection is gone (nothing happens). Never completed → 503 after
/// Settings::ack_timeout.
class TOPGG_API Ack {
public:
  Ack() = default;
  explicit Ack(std::shared_ptr<detail::AckState> s) noexcept : state_(std::move(s)) {}
  /// Handled: 200 (legacy) or 204 (v1).
  bool ok() const;
  /// Handled, answering with `reply` (e.g. integration.create's JSON body).
  bool ok(Response reply) const;
  /// Not handled now; 503 so Top.gg delivers again. `reason` goes to the error hook.
  bool retry(std::string_view reason = {}) const;
  /// True once completed (by anyone) or expired.
  bool done() const noexcept;

private:
  std::shared_ptr<detail::AckState> state_;
};

/// Supplies secrets for one v1 delivery beside the route's own (e.g. the
/// `webhook_secret` of an integration, chosen by path). Runs on the loop
/// thread before the signature is checked; the body is not yet trusted.
using SecretResolver = std::function<void(const Request& req, std::vector<std::string>& secrets)>;

template <class Event> using Handler = std::function<void(const Event&)>;
template <class Event> using AckHandler = std::function<void(const Event&, Ack)>;
using RouteHandler = std::function<Response(const Request&)>;
/// Runs a job on the thread of the user's choice (posts it to a queue).
using Executor = std::function<void(std::function<void()>)>;

enum class RouteKind : unsigned char { bot_vote, server_vote, v1, custom };

template <class Event> struct VoteHandlers {
  Handler<Event> plain;
  AckHandler<Event> with_ack;
  explicit operator bool() const noexcept { return plain || with_ack; }
};

class Router;

/// The chainable configuration API, shared by Router and the adapters'
/// WebhookManager (each returns itself, so calls chain into run()).
template <class Self> class RouterApi {
public:
  /// Bot votes (legacy "dbl") at `route`, checked against `auth_key`. An
  /// empty key accepts every request (the seed's behaviour; warned once).
  Self& dbl_webhook(std::string route = "/dbl", std::string auth_key = "");
  /// Server votes (legacy "dsl") at `route`.
  Self& dsl_webhook(std::string route = "/dsl", std::string auth_key = "");
  /// Top.gg v1 (signed) deliveries at `route`, verified with `secret`
  /// (whs_…). Several secrets: any may sign (rotation). Answered 204.
  Self& v1_webhook(std::string route, std::string secret);
  Self& v1_webhook(std::string route, std::vector<std::string> secrets);
  /// {"whs_new", "whs_old"}: without this overload braces could build one
  /// std::string from two pointers.
  Self& v1_webhook(std::string route, std::initializer_list<std::string> secrets) {
    return v1_webhook(std::move(route), std::vector<std::string>(secrets));
  }
  Self& v1_secret_resolver(SecretResolver resolver);
  /// Any method ("" = any) and path, answered by `handler` on the loop thread.
  Self& route(std::string method, std::string path, RouteHandler handler);

  /// Return → 200; throw → 500 (Top.gg retries).
  Self& on_bot_vote(Handler<BotVote> h);
  /// Complete the Ack (now or later, any thread): ok → 200, retry → 503.
  Self& on_bot_vote(AckHandler<BotVote> h);
  Self& on_server_vote(Handler<ServerVote> h);
  Self& on_server_vote(AckHandler<ServerVote> h);

  /// v1 events: return → 204, throw → 500; with an Ack, ok → 204 (or the
  /// Response given to ok(), e.g. integration.create's JSON), retry → 503.
  Self& on_vote_create(Handler<v1::VoteCreate> h);
  Self& on_vote_create(AckHandler<v1::VoteCreate> h);
  Self& on_webhook_test(Handler<v1::WebhookTest> h);
  Self& on_webhook_test(AckHandler<v1::WebhookTest> h);
  Self& on_integration_create(Handler<v1::IntegrationCreate> h);
  Self& on_integration_create(AckHandler<v1::IntegrationCreate> h);
  Self& on_integration_delete(Handler<v1::IntegrationDelete> h);
  Self& on_integration_delete(AckHandler<v1::IntegrationDelete> h);

  /// Told of every rejected or failed request. Called on the loop thread.
  Self& on_error(std::function<void(const Rejection&)> hook);
  /// Configuration warnings (e.g. an empty auth key). Default: stderr.
  Self& on_warning(std::function<void(std::string_view)> hook);
  /// Vote handlers run through `ex` instead of on the loop thread; the
  /// delivery is answered when the handler returns (or its Ack completes).
  Self& executor(Executor ex);
  Self& settings(const Settings& s);

private:
  Router& r() { return static_cast<Self*>(this)->router(); }
};

class TOPGG_API Router : public RouterApi<Router> {
public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  Router& router() noexcept { return *this; }
  const Settings& limits() const noexcept { return settings_; }

  struct Route {
    RouteKind kind;
    std::string method; ///< "" matches any method
    std::string path;
    std::string auth_key;
    RouteHandler handler;
    std::vector<std::string> secrets; ///< v1 routes
  };
  const std::vector<Route>& routes() const noexcept { return routes_; }

  /// Request-level entry, for a server that already parsed HTTP (Beast,
  /// Drogon, …): routes, checks and decodes `req` like a Connection would,
  /// runs the handlers, and calls `reply` exactly once with the answer. For
  /// plain handlers that is before handle() returns; for Ack handlers (or
  /// with an executor) it is on the thread that completes the Ack — or, if
  /// every Ack is dropped uncompleted, 503 right then. There is no clock
  /// here: a never-completed Ack is bounded by the caller's own deadline.
  /// `req`'s views need to live only during this call.
  void handle(const Request& req, Now now, std::function<void(Response)> reply);

  /// Methods accepted at `path`, comma-separated ("POST").
  std::string allowed_methods(std::string_view path) const;

  /// Emits the configuration warnings once (empty keys, routes without a
  /// handler). Connections call it; adapters call it when they start.
  void warn_once();

  // Used by Connection.
  void reject(const Rejection& r) const;
  void warn(std::string_view message) const;
  const Route* find(std::string_view path, std::string_view method, bool& path_known) const noexcept;

private:
  template <class> friend class RouterApi;
  friend class Connection;
  void refuse(Error e, std::string_view path, std::string_view why,
              const std::function<void(Response)>& reply) const;
  template <class Event>
  void handle_vote(const Event& ev, const VoteHandlers<Event>& h, std::string_view path, int success,
                   const std::string& dedup_key, std::function<void(Response)> reply) const;
  void add_route(RouteKind kind, std::string method, std::string path, std::string key, RouteHandler h,
                 std::vector<std::string> secrets = {});
  template <class Event> VoteHandlers<Event>& handlers();
  /// Calls f(member, handlers) for the member of `ev` named by ev.type.
  template <class F> void visit(v1::Event& ev, F&& f) const;
  /// Checks a v1 delivery's signature against the route's and the
  /// resolver's secrets. `req` is what the resolver sees.
  Error verify_v1(const Route& route, const Request& req, std::string_view signature, Now now) const;
  /// "vote:<id>" or "trace:<trace>" into `key`; false if there is neither.
  static bool dedup_key(const v1::Event& ev, std::string& key);
  bool seen(const std::string& key) const;
  void remember(const std::string& key) const;

  std::vector<Route> routes_;
  VoteHandlers<BotVote> bot_vote_;
  VoteHandlers<ServerVote> server_vote_;
  VoteHandlers<v1::VoteCreate> vote_create_;
  VoteHandlers<v1::WebhookTest> webhook_test_;
  VoteHandlers<v1::IntegrationCreate> integration_create_;
  VoteHandlers<v1::IntegrationDelete> integration_delete_;
  SecretResolver resolver_;
  struct Dedup;
  std::shared_ptr<Dedup> dedup_;
  std::function<void(const Rejection&)> on_error_;
  std::function<void(std::string_view)> on_warning_;
  Executor executor_;
  Settings settings_;
  std::atomic<bool> warned_{false};
};

// ---- RouterApi, defined here so each Self gets it without a .cpp -----------

template <class S> S& RouterApi<S>::dbl_webhook(std::string route, std::string auth_key) {
  r().add_route(RouteKind::bot_vote, "POST", std::move(route), std::move(auth_key), {});
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::dsl_webhook(std::string route, std::string auth_key) {
  r().add_route(RouteKind::server_vote, "POST", std::move(route), std::move(auth_key), {});
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::route(std::string method, std::string path, RouteHandler h) {
  r().add_route(RouteKind::custom, std::move(method), std::move(path), {}, std::move(h));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_bot_vote(Handler<BotVote> h) {
  r().template handlers<BotVote>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_bot_vote(AckHandler<BotVote> h) {
  r().template handlers<BotVote>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_server_vote(Handler<ServerVote> h) {
  r().template handlers<ServerVote>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_server_vote(AckHandler<ServerVote> h) {
  r().template handlers<ServerVote>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_vote_create(Handler<v1::VoteCreate> h) {
  r().template handlers<v1::VoteCreate>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_vote_create(AckHandler<v1::VoteCreate> h) {
  r().template handlers<v1::VoteCreate>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_webhook_test(Handler<v1::WebhookTest> h) {
  r().template handlers<v1::WebhookTest>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_webhook_test(AckHandler<v1::WebhookTest> h) {
  r().template handlers<v1::WebhookTest>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_integration_create(Handler<v1::IntegrationCreate> h) {
  r().template handlers<v1::IntegrationCreate>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_integration_create(AckHandler<v1::IntegrationCreate> h) {
  r().template handlers<v1::IntegrationCreate>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_integration_delete(Handler<v1::IntegrationDelete> h) {
  r().template handlers<v1::IntegrationDelete>() = {std::move(h), {}};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_integration_delete(AckHandler<v1::IntegrationDelete> h) {
  r().template handlers<v1::IntegrationDelete>() = {{}, std::move(h)};
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::v1_webhook(std::string route, std::string secret) {
  return v1_webhook(std::move(route), std::vector<std::string>{std::move(secret)});
}
template <class S> S& RouterApi<S>::v1_webhook(std::string route, std::vector<std::string> secrets) {
  r().add_route(RouteKind::v1, "POST", std::move(route), {}, {}, std::move(secrets));
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::v1_secret_resolver(SecretResolver resolver) {
  r().resolver_ = std::move(resolver);
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_error(std::function<void(const Rejection&)> hook) {
  r().on_error_ = std::move(hook);
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::on_warning(std::function<void(std::string_view)> hook) {
  r().on_warning_ = std::move(hook);
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::executor(Executor ex) {
  r().executor_ = std::move(ex);
  return static_cast<S&>(*this);
}
template <class S> S& RouterApi<S>::settings(const Settings& s) {
  r().settings_ = s;
  return static_cast<S&>(*this);
}

template <> inline VoteHandlers<BotVote>& Router::handlers<BotVote>() { return bot_vote_; }
template <> inline VoteHandlers<ServerVote>& Router::handlers<ServerVote>() { return server_vote_; }
template <> inline VoteHandlers<v1::VoteCreate>& Router::handlers<v1::VoteCreate>() { return vote_create_; }
template <> inline VoteHandlers<v1::WebhookTest>& Router::handlers<v1::WebhookTest>() { return webhook_test_; }
template <> inline VoteHandlers<v1::IntegrationCreate>& Router::handlers<v1::IntegrationCreate>() {
  return integration_create_;
}
template <> inline VoteHandlers<v1::IntegrationDelete>& Router::handlers<v1::IntegrationDelete>() {
  return integration_delete_;
}

template <class F> void Router::visit(v1::Event& ev, F&& f) const {
  switch (ev.type) {
  case v1::EventType::vote_create: return f(ev.vote_create, vote_create_);
  case v1::EventType::webhook_test: return f(ev.webhook_test, webhook_test_);
  case v1::EventType::integration_create: return f(ev.integration_create, integration_create_);
  case v1::EventType::integration_delete: return f(ev.integration_delete, integration_delete_);
  case v1::EventType::unknown: return;
  }
}

} // namespace topgg
