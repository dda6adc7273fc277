// The integrations registry: the store holds the connections, this process a
// hash map of them (what the resolver reads on the loop thread, without I/O),
// and one thread of its own does every store call: writes for creates and
// deletes (their Acks completed once written), and the version poll.
#include "topgg/integrations.hpp"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <functional>
#include <unordered_map>
#include <unordered_set>

namespace topgg {

namespace {

/// Hashes a connection id held as std::string or seen as a string_view, so that
/// a delivery's lookup needs no copy of the id (heterogeneous find).
struct IdHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
};
using ConnectionMap = std::unordered_map<std::string, IntegrationConnection, IdHash, std::equal_to<>>;

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
}

bool event_name_ok(std::string_view e) {
  if (e.empty())
    return false;
  for (const char c : e)
    if (!((c >= 'a' && c <= 'z') || c == '.' || c == '_'))
      return false;
  return true;
}

} // namespace

std::string handshake_json(std::string_view webhook_url, const std::vector<std::string>& events) {
  std::string out = "{\"webhook_url\":";
  json_string(out, webhook_url);
  out += ",\"routes\":[";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i)
      out += ',';
    json_string(out, events[i]);
  }
  return out + "]}";
}

bool connection_id_ok(std::string_view id) noexcept {
  if (id.empty() || id.size() > 200)
    return false;
  for (const char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.' || c == '~'))
      return false;
  return true;
}

struct Integrations::Impl {
  IntegrationsOptions opt;
  std::shared_ptr<IdempotencyStore> store; // kept alive as long as handlers may use it
  ConnectionStore* connections = nullptr;
  std::string prefix; // route + "/"

  // The map the resolver reads, under `map_m`.
  mutable std::shared_mutex map_m;
  ConnectionMap by_id;
  bool loaded = false;
  std::uint64_t version = 0; // of the store, when by_id was last loaded (or changed by this receiver)
  // Connections known to be gone (deleted here, or missing from a reload): refused at once.
  std::unordered_set<std::string, IdHash, std::equal_to<>> forgotten;
  // Unknown connections asked for, each with the number of the reload under way when first asked
  // for: answered 500 (Top.gg retries within seconds) until a reload begun after that one ended,
  // since another receiver may have made the connection since our last look; then 403.
  std::unordered_map<std::string, std::uint64_t> misses;
  std::uint64_t reloads_begun = 0, reloads_done = 0; // a reload: asking the store for its version (and all)
  bool store_down = false;                           // the registry's thread only: one line per outage, not per poll
  // Routes that sent integration.create/delete they may not: a line once each (routes are
  // configuration, so the set is bounded).
  std::mutex refused_m;
  std::unordered_set<std::string> refused_routes;
  static constexpr std::size_t most_remembered = 65536; // forgotten, misses: beyond this, refused at once

  // The registry's thread and its jobs, under `m`.
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool started = false, stopping = false, refresh_now = false;
  std::thread worker;

  void log(std::string_view line) const noexcept {
    try {
      if (opt.on_log)
        opt.on_log(line);
      else
        std::fprintf(stderr, "topgg-webhook: integrations: %.*s\n", static_cast<int>(line.size()), line.data());
    } catch (...) {
    }
  }

  std::string url_of(std::string_view id) const { return opt.public_url + prefix + std::string(id); }

  /// Queues `job` for the registry's thread; false once stopped (or not started).
  bool post(std::function<void()> job) {
    std::lock_guard lock(m);
    if (!started || stopping)
      return false;
    jobs.push_back(std::move(job));
    cv.notify_one();
    return true;
  }

  void replace_all(ConnectionSnapshot s, std::uint64_t reload) {
    ConnectionMap fresh;
    fresh.reserve(s.connections.size());
    for (IntegrationConnection& c : s.connections)
      fresh.emplace(c.connection_id, std::move(c));
    std::unique_lock lock(map_m);
    if (forgotten.size() > most_remembered)
      forgotten.clear();
    for (const auto& [id, c] : by_id)
      if (!fresh.count(id))
        forgotten.insert(id); // deleted through another receiver (or the operator)
    for (const auto& [id, c] : fresh)
      forgotten.erase(id);
    by_id.swap(fresh);
    version = s.version;
    loaded = true;
    reloads_done = std::max(reloads_done, reload);
  }

  /// Reads the store's version, and everything when it moved (another receiver, the operator).
  void refresh() {
    std::uint64_t reload = 0;
    bool unchanged = false;
    {
      std::unique_lock lock(map_m);
      reload = ++reloads_begun;
    }
    try {
      const std::uint64_t v = connections->version();
      {
        std::unique_lock lock(map_m);
        if (loaded && v == version) {
          reloads_done = std::max(reloads_done, reload);
          unchanged = true;
        }
      }
      if (unchanged) {
        if (store_down) {
          store_down = false;
          log("the store answers again");
        }
        return;
      }
      replace_all(connections->load(), reload);
      if (store_down) {
        store_down = false;
        log("the store answers again: connections read");
      }
    } catch (const std::exception& e) {
      if (!store_down) {
        store_down = true;
        log(std::string("cannot read the connections from the store: ") + e.what() +
            " (no more such lines until it answers again)");
      }
    }
  }

  void run() {
    std::unique_lock lock(m);
    while (true) {
      cv.wait_for(lock, opt.poll, [&] { return stopping || refresh_now || !jobs.empty(); });
      if (!jobs.empty()) {
        auto job = std::move(jobs.front());
        jobs.pop_front();
        lock.unlock();
        job();
        lock.lock();
        continue;
      }
      if (stopping)
        return;
      refresh_now = false;
      lock.unlock();
      refresh();
      lock.lock();
    }
  }

  /// Whether an event arriving at `route` may manage connections; else it is answered (handed
  /// to `other` on the bot's own routes, else 403 with a line once per route).
  template <class Event> bool managing(const Event& ev, Ack& ack, const AckHandler<Event>& other, const char* what) {
    if (ev.route == opt.route)
      return true;
    const bool connection = ev.route == prefix + "*";
    if (!connection && other) {
      other(ev, ack);
      return false;
    }
    bool first = false;
    {
      std::lock_guard lock(refused_m);
      first = refused_routes.insert(ev.route).second;
    }
    if (first)
      log(std::string(what) + " at " + ev.route + (connection ? " (a connection's own route)" : "") + ": only " +
          opt.route +
          " manages connections: refused 403, nothing stored (no more such lines for this "
          "route)");
    ack.ok(Response{403, {}, {}});
    return false;
  }

  void created(const v1::IntegrationCreate& ev, Ack ack) {
    if (!managing(ev, ack, opt.other_create, "integration.create"))
      return;
    if (ev.webhook_secret.empty()) {
      log("integration.create for " + (connection_id_ok(ev.connection_id) ? ev.connection_id : "(malformed)") +
          " without a webhook_secret: refused 422, nothing stored");
      ack.ok(Response{422, {}, {}});
      return;
    }
    if (!connection_id_ok(ev.connection_id)) {
      log("integration.create with a connection id that cannot be a URL path segment: refused 422");
      ack.ok(Response{422, {}, {}});
      return;
    }
    IntegrationConnection c{ev.connection_id, ev.webhook_secret, ev.project, ev.user,
                            std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now())};
    auto self = this;
    const bool queued = post([self, c = std::move(c), ack]() mutable {
      try {
        self->connections->put(c);
      } catch (const std::exception& e) {
        self->log("connection " + c.connection_id + " could not be stored (" + e.what() + "): answered 503");
        ack.retry("the connection could not be stored");
        return;
      }
      bool known = false;
      {
        std::unique_lock lock(self->map_m);
        auto [it, fresh] = self->by_id.insert_or_assign(c.connection_id, c);
        known = !fresh;
        self->forgotten.erase(c.connection_id);
        self->misses.erase(c.connection_id);
        // `version` is left as it was: the store's own moves (only when a row changed), and the
        // next poll, seeing it differ, reads everything again. Bumping it here could match the
        // store's version after someone else's write, which would then never be read.
      }
      self->log(std::string(known ? "connection rotated: " : "connection made: ") + c.connection_id + " (project " +
                c.project.id + ", user " + c.user.id + ")");
      if (self->opt.on_connect) {
        try {
          self->opt.on_connect(c);
        } catch (...) {
          self->log("the on_connect hook threw");
        }
      }
      ack.ok(Response{200,
                      {{"Content-Type", "application/json"}},
                      handshake_json(self->url_of(c.connection_id), self->opt.events)});
    });
    if (!queued)
      ack.retry("the integrations registry is not running");
  }

  void deleted(const v1::IntegrationDelete& ev, Ack ack) {
    if (!managing(ev, ack, opt.other_delete, "integration.delete"))
      return;
    auto self = this;
    const bool queued = post([self, id = ev.connection_id, ack] {
      bool gone = false;
      try {
        gone = self->connections->erase(id);
      } catch (const std::exception& e) {
        self->log("connection " + id + " could not be forgotten (" + e.what() + "): answered 503");
        ack.retry("the connection could not be forgotten");
        return;
      }
      {
        std::unique_lock lock(self->map_m);
        gone = self->by_id.erase(id) != 0 || gone;
        if (self->forgotten.size() < most_remembered)
          self->forgotten.insert(id);
        // `version` untouched: see created().
      }
      self->log("connection ended: " + id + (gone ? "" : " (was not known)"));
      if (self->opt.on_disconnect) {
        try {
          self->opt.on_disconnect(id);
        } catch (...) {
          self->log("the on_disconnect hook threw");
        }
      }
      ack.ok();
    });
    if (!queued)
      ack.retry("the integrations registry is not running");
  }

  /// The loop thread, before the signature check: the connection's secret, if any. Throws (answered
  /// 500, so Top.gg retries) while the connection may still be on its way from another receiver.
  void resolve(const Request& req, std::vector<std::string>& secrets) {
    const std::string_view path = path_of(req.target);
    if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix)
      return;
    const std::string_view id = path.substr(prefix.size());
    {
      std::shared_lock lock(map_m);
      if (!loaded)
        throw std::runtime_error("the integration connections are not loaded yet");
      const auto it = by_id.find(id); // by the path's bytes: no copy of the id per delivery
      if (it != by_id.end()) {
        secrets.push_back(it->second.webhook_secret);
        return;
      }
      if (forgotten.find(id) != forgotten.end() || !connection_id_ok(id))
        return; // deleted, or no connection's id: no secret, so 403 (the router's error hook tells it)
    }
    const std::string key(id);
    std::unique_lock lock(map_m);    // a miss: its bookkeeping
    const auto it = by_id.find(key); // made meanwhile?
    if (it != by_id.end()) {
      secrets.push_back(it->second.webhook_secret);
      return;
    }
    if (forgotten.count(key) != 0)
      return;
    const auto [miss, first] = misses.try_emplace(key, reloads_begun);
    if (first && misses.size() > most_remembered) { // a flood of made-up ids: no more waiting
      misses.erase(miss);
    } else if (reloads_done <= miss->second) {
      lock.unlock();
      ask_reload();
      throw std::runtime_error("connection " + key +
                               " is not known here yet: reading the store again (Top.gg retries)");
    } else {
      misses.erase(miss); // a reload begun after the first ask has ended: it really is unknown
    }
    // No line here: anyone may send these before any signature is checked (a flood); the 403 that
    // follows (no secret) goes to the router's error hook, which the application may rate-limit.
  }

  void ask_reload() {
    std::lock_guard lock(m);
    refresh_now = true;
    cv.notify_one();
  }
};

namespace {

std::shared_ptr<Integrations::Impl> make_impl(Router& router, IntegrationsOptions o) {
  if (o.route.empty() || o.route.front() != '/' || o.route.back() == '/' || o.route.find('*') != std::string::npos)
    throw std::invalid_argument("topgg: integrations: the route must start with '/' and not end with '/' (e.g. "
                                "\"/integrations\"), not \"" +
                                o.route + "\"");
  while (!o.public_url.empty() && o.public_url.back() == '/')
    o.public_url.pop_back();
  const bool http = o.public_url.rfind("https://", 0) == 0 || o.public_url.rfind("http://", 0) == 0;
  if (!http || o.public_url.find_first_of("\"\\ \t\r\n?#") != std::string::npos ||
      o.public_url.size() <= std::string_view("https://").size())
    throw std::invalid_argument("topgg: integrations: public_url must be an http(s) URL such as "
                                "https://bot.example.com, not \"" +
                                o.public_url + "\"");
  if (o.events.empty())
    throw std::invalid_argument("topgg: integrations: no events to ask for");
  for (const std::string& e : o.events)
    if (!event_name_ok(e))
      throw std::invalid_argument("topgg: integrations: \"" + e + "\" is not an event name (e.g. vote.create)");
  if (o.poll.count() <= 0)
    throw std::invalid_argument("topgg: integrations: poll must be positive");
  auto impl = std::make_shared<Integrations::Impl>();
  impl->store = router.idempotency_store();
  if (!impl->store)
    throw std::invalid_argument("topgg: integrations need the idempotency store (de-duplication is off)");
  impl->connections = impl->store->connection_store();
  if (!impl->connections)
    throw std::invalid_argument("topgg: the idempotency store keeps no integration connections (MemoryStore, "
                                "SqliteStore and RedisStore do)");
  impl->prefix = o.route + "/";
  impl->opt = std::move(o);
  router.v1_webhook(impl->opt.route, impl->opt.secrets);
  router.v1_webhook(impl->prefix + "*", std::vector<std::string>{});
  router.v1_secret_resolver(
      [impl](const Request& req, std::vector<std::string>& secrets) { impl->resolve(req, secrets); });
  router.on_integration_create(
      AckHandler<v1::IntegrationCreate>([impl](const v1::IntegrationCreate& ev, Ack ack) { impl->created(ev, ack); }));
  router.on_integration_delete(
      AckHandler<v1::IntegrationDelete>([impl](const v1::IntegrationDelete& ev, Ack ack) { impl->deleted(ev, ack); }));
  return impl;
}

} // namespace

Integrations::Integrations(ManagerBase& manager, IntegrationsOptions options)
    : impl_(make_impl(manager.router(), std::move(options))) {}

Integrations::Integrations(Router& router, IntegrationsOptions options)
    : impl_(make_impl(router, std::move(options))) {}

Integrations::~Integrations() { stop(); }

void Integrations::start() {
  {
    std::lock_guard lock(impl_->m);
    if (impl_->started)
      return;
  }
  impl_->replace_all(impl_->connections->load(), 0); // throws when the store cannot be asked
  std::lock_guard lock(impl_->m);
  if (impl_->started)
    return;
  impl_->started = true;
  impl_->stopping = false;
  impl_->worker = std::thread([impl = impl_] { impl->run(); });
}

void Integrations::stop() {
  {
    std::lock_guard lock(impl_->m);
    if (!impl_->started || impl_->stopping)
      return;
    impl_->stopping = true;
    impl_->cv.notify_one();
  }
  if (impl_->worker.joinable())
    impl_->worker.join();
}

std::string Integrations::webhook_url(std::string_view connection_id) const { return impl_->url_of(connection_id); }

std::size_t Integrations::size() const {
  std::shared_lock lock(impl_->map_m);
  return impl_->by_id.size();
}

std::optional<IntegrationConnection> Integrations::find(std::string_view connection_id) const {
  std::shared_lock lock(impl_->map_m);
  const auto it = impl_->by_id.find(std::string(connection_id));
  if (it == impl_->by_id.end())
    return std::nullopt;
  return it->second;
}

} // namespace topgg
