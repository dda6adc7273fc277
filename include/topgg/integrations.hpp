// Top.gg v1 integrations end to end: the `integration.create` handshake, a
// secret per connection kept in the store, each connection's deliveries
// verified with its own secret, `integration.delete`. Library and dependency
// `topgg-webhook-integrations`; optional (a user may still answer the
// handshake from an on_integration_create Ack handler).
//
// The connections live in the Router's idempotency store (its
// ConnectionStore, topgg/connection_store.hpp): a MemoryStore keeps them in
// this process, an SqliteStore in its file (across restarts), a RedisStore in
// Redis (across restarts and receivers). This process keeps them all in a
// hash map too, loaded at start() and refreshed when the store's version
// changes (polled): looking up a delivery's secret does no I/O and costs the
// same with ten connections or a million.
//
//   topgg::uv::WebhookManager webhooks;
//   webhooks.idempotency_store(std::make_shared<topgg::SqliteStore>("topgg.db"))
//       .on_vote_create([](const topgg::v1::VoteCreate& v) { thank(v.connection_id, v.user.platform_id); });
//   topgg::IntegrationsOptions io;
//   io.route = "/integrations";                  // the integration's configuration URL's path
//   io.secrets = {integration_secret};           // the integration's own whs_…
//   io.public_url = "https://bot.example.com";   // what Top.gg reaches this server at
//   topgg::Integrations integrations(webhooks, io); // before run(): it configures the router
//   integrations.start();                        // loads the stored connections
//   webhooks.run(8080);
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/connection_store.hpp"
#include "topgg/manager.hpp"
#include "topgg/router.hpp"

namespace topgg {

/// How an Integrations registry answers and where it serves. Integrations'
/// constructor throws std::invalid_argument for values out of range.
struct IntegrationsOptions {
  /// The path of the integration's configuration URL: `integration.create`
  /// and `integration.delete` arrive here, signed with `secrets`. Each
  /// connection's deliveries arrive at `route` + "/" + connection id.
  std::string route = "/integrations";
  /// The integration's own webhook secret(s) (whs_…; several during a
  /// rotation). They verify only `route`, never a connection's deliveries.
  std::vector<std::string> secrets;
  /// Where Top.gg reaches this server: "https://bot.example.com" (a path
  /// prefix is kept, a trailing '/' dropped). The handshake's webhook_url is
  /// public_url + route + "/" + connection id.
  std::string public_url;
  /// The events each connection asks for: the handshake's "routes".
  std::vector<std::string> events = {"vote.create"};
  /// How often the store's version is asked: connections made or ended by
  /// other receivers sharing it are seen within this.
  std::chrono::milliseconds poll{1000};
  /// One line per connection made, rotated or ended, per failed write, per
  /// outage of the store (not per poll), once per route that sent a
  /// connection event it may not; never a secret, never a line per refused
  /// delivery (the router's error hook has those). Default: stderr.
  std::function<void(std::string_view)> on_log;
  /// After a connection was stored (made or rotated), on the registry's
  /// thread. It holds the secret: do not log it. Exceptions are contained.
  std::function<void(const IntegrationConnection&)> on_connect;
  /// After a connection was forgotten (integration.delete or forget()).
  std::function<void(std::string_view connection_id)> on_disconnect;
  /// Only `route` manages connections. integration.create and
  /// integration.delete arriving at any other v1 route of the router (one of
  /// the bot's own, with its own secret) go to these when set (e.g. the
  /// handlers the router had: the registry replaces them), else are refused
  /// 403 and nothing is stored. At `route`/ID (signed with a connection's
  /// own secret) they are always refused 403: one connection's holder can
  /// never make, rotate or end another.
  AckHandler<v1::IntegrationCreate> other_create;
  /// integration.delete at any other v1 route: see other_create.
  AckHandler<v1::IntegrationDelete> other_delete;
};

/// The integrations registry. Configures the Router it is given: a v1 route
/// at `route` (the integration's secret), a v1 route at `route` + "/*" (each
/// connection's secret, through v1_secret_resolver(), which it replaces),
/// and the integration.create / integration.delete handlers (set after it,
/// yours replace them: then you answer the handshake).
///
/// **integration.create** (verified with the integration's secret; a stale
/// timestamp is refused 403 as any v1 delivery): the connection's secret,
/// project and user are written to the store under its connection_id, then
/// it is answered 200 with exactly
/// `{"webhook_url":"<public_url><route>/<id>","routes":[<events>]}`. Known
/// already: replaced (a rotation; the old secret stops at once). The store
/// cannot be written: 503 (Top.gg retries). A connection id of characters
/// other than letters, digits, '-', '_', '.', '~' (or longer than 200), or
/// an empty webhook_secret: 422. Only at `route` (see other_create).
///
/// **Deliveries** at `route`/ID: verified with that connection's secret only
/// (not the integration's, not another connection's), handed to the
/// handlers with VoteCreate::connection_id / WebhookTest::connection_id set.
/// A deleted connection: 403 (told to the router's error hook; no line of
/// the registry's, so made-up ids cannot flood the log). An unknown one may
/// have just been made through another receiver sharing the store: 500
/// (Top.gg retries within seconds) and the store is read again at once; once
/// a reading begun after that delivery has ended, 403. Before start() loaded
/// the connections: 500.
///
/// **integration.delete**: forgotten in the store and here, then 204.
class TOPGG_API Integrations {
public:
  /// Configures `manager`'s router (call before run(): std::logic_error while
  /// it runs). Its idempotency store (set before this) must keep connections
  /// (MemoryStore, SqliteStore, RedisStore) and de-duplication must be on:
  /// else std::invalid_argument. `manager` must outlive this.
  Integrations(ManagerBase& manager, IntegrationsOptions options);
  /// The same for a Router served by a server of yours.
  Integrations(Router& router, IntegrationsOptions options);
  /// stop().
  ~Integrations();
  Integrations(const Integrations&) = delete;
  Integrations& operator=(const Integrations&) = delete;

  /// Loads every stored connection (blocks; throws std::runtime_error when the
  /// store cannot be asked) and starts the registry's thread (writes and the
  /// version poll). Idempotent.
  void start();
  /// Stops the thread; creates and deletes arriving later are answered 503.
  void stop();

  /// The handshake's webhook_url for `connection_id`.
  std::string webhook_url(std::string_view connection_id) const;
  /// Connections known here now.
  std::size_t size() const;
  /// The connection, as known here now (secret included).
  std::optional<IntegrationConnection> find(std::string_view connection_id) const;

  struct Impl;

private:
  std::shared_ptr<Impl> impl_; // shared with the router's handlers and resolver
};

/// The handshake answer's body: {"webhook_url":"…","routes":["…",…]}.
TOPGG_API std::string handshake_json(std::string_view webhook_url, const std::vector<std::string>& events);

/// Whether `id` can name a connection in a URL path as it is (1-200 of
/// A-Z a-z 0-9 - _ . ~).
TOPGG_API bool connection_id_ok(std::string_view id) noexcept;

} // namespace topgg
