#include "service.hpp"

#include <signal.h>

#include <atomic>
#include <functional>
#include <optional>
#include <stdexcept>

#include "log.hpp"
#include "secrets.hpp"

namespace tool {

Service::Service(const Options& o) : o_(o) {
  fds_ = listen_fds(fd_names_);
  if (fds_.size() > 1)
    config_error("systemd passed " + std::to_string(fds_.size()) +
                 " listening sockets (LISTEN_FDS): one is served; give the .socket unit one ListenStream= (a port "
                 "alone, such as ListenStream=8080, takes IPv6 and IPv4)");
  if (!o.has("trust-proxy"))
    return;
  proxies_ = std::make_shared<TrustedProxies>();
  for (const std::string& value : o.all("trust-proxy"))
    for (const std::string& cidr : split_commas(value))
      if (std::string why; !proxies_->add(cidr, why))
        usage_error("--trust-proxy: " + why);
  set_client_finder(
      [p = proxies_](const topgg::Rejection& r) { return p->client(r.peer, r.forwarded_for, r.forwarded); });
}

Service::~Service() = default;

void Service::listen(topgg::ManagerBase& m, std::uint16_t port, const std::string& host) {
  if (fds_.empty()) {
    m.run(port, host);
    return;
  }
  if (o_.has("host") || o_.has("port"))
    log_start(Level::warning, "--host and --port are not used: systemd passed the listening socket");
  log_start(Level::notice, "serving the listening socket systemd passed (descriptor " + std::to_string(fds_[0]) +
                               ", \"" + fd_names_[0] + "\")");
  m.run_on(fds_[0]);
}

void Service::ready(topgg::ManagerBase& m) {
  address_ = m.address();
  const std::string url = "http://" + address_;
  // Text: the line scripts (and the tests) wait for, as it always was.
  if (log_format() == LogFormat::text)
    std::fprintf(stderr, "listening on %s\n", url.c_str());
  else
    log(Level::notice, "listening on " + url, {0, {}, {}, {}, {}, {}, {{"address", address_}, {"url", url}}});
  notifier_.ready("listening on " + url);
  if (const auto every = notifier_.watchdog())
    watchdog_ = std::make_unique<Watchdog>(notifier_, *every,
                                           [&m](std::function<void()> job) { return m.post(std::move(job)); });
}

void Service::stopping(int sig) {
  watchdog_.reset();
  notifier_.stopping(sig == SIGINT ? "SIGINT: closing" : "SIGTERM: closing");
}

namespace {

/// "the key of /dbl", "the secrets of /topgg".
std::string what_of(const RouteSpec& r) { return (r.signed_route() ? "the secrets of " : "the key of ") + r.path; }

/// What a reload has left to do: the last swap made (or none to make) says
/// so and tells systemd it is ready again.
struct Reload {
  Reload(Notifier& n, std::string status) : notifier(n), ready(std::move(status)) {}
  void one_done() {
    if (--left == 0) {
      log(Level::notice,
          "SIGHUP: done (" + std::to_string(changed) + " changed, " + std::to_string(kept) + " kept as they were)");
      notifier.ready(ready);
    }
  }
  Notifier& notifier;
  std::string ready;
  std::atomic<int> left{1}; // the reload itself, until every swap is posted
  int changed = 0, kept = 0;
};

/// `what` read again from `from`: its value, or nullopt after the line that says why not — a
/// source that cannot change while the tool runs (none: no line), or a file that cannot be read
/// (counted in `kept`; "keeping the old `old`").
std::optional<std::string> read_again(const std::string& what, const SecretSource& from, const char* old, int& kept) {
  if (!from.rereadable()) {
    if (from.kind != SecretSource::none)
      log(Level::info, what + " comes from " + from.describe() +
                           ", which cannot change while the tool runs: restart it to change the " + old);
    return std::nullopt;
  }
  std::string value, why;
  if (!reread_secret(from, value, why)) {
    ++kept;
    log(Level::warning, "cannot read " + what + " from " + from.describe() + ": " + why + ": keeping the old " + old);
    return std::nullopt;
  }
  return value;
}

/// One add_secret() secret read again and, changed, swapped: a line either way.
void reload_one(ReloadableSecret& r, int& changed, int& kept) {
  const std::string what = "the " + r.option;
  const SecretSource& from = r.found.source;
  std::optional<std::string> value = read_again(what, from, "value", kept);
  if (!value)
    return;
  if (*value == r.found.value) {
    log(Level::info, what + " is unchanged in " + from.describe());
    return;
  }
  if (const std::string why = r.swap(*value); !why.empty()) {
    ++kept;
    log(Level::warning, "the new " + r.option + " in " + from.describe() + ": " + why + ": keeping the old value");
    return;
  }
  ++changed;
  r.found.value = std::move(*value);
  log(Level::notice, "reloaded " + what + " from " + from.describe());
}

} // namespace

void Service::reload(topgg::ManagerBase& m, Routes& routes) {
  notifier_.reloading();
  log(Level::notice, "SIGHUP: reading keys and secrets again from their files and credentials");
  auto state = std::make_shared<Reload>(notifier_, "listening on http://" + address_);
  for (ReloadableSecret& r : secrets_) // before any swap is posted: the counts are the main thread's alone
    reload_one(r, state->changed, state->kept);
  for (RouteSpec& r : routes.list) {
    const char* old = r.signed_route() ? "secrets" : "key";
    const std::optional<std::string> value = read_again(what_of(r), r.source, old, state->kept);
    if (!value)
      continue;
    std::string why;
    RouteSpec next = r;
    if (!set_route_key(next, *value, why)) {
      ++state->kept;
      log(Level::warning,
          "cannot read " + what_of(r) + " from " + r.source.describe() + ": " + why + ": keeping the old " + old);
      continue;
    }
    if (next.key == r.key && next.secrets == r.secrets) {
      log(Level::info, what_of(r) + " is unchanged in " + r.source.describe());
      continue;
    }
    const std::string line = "reloaded " + what_of(r) + " from " + r.source.describe() +
                             (r.signed_route() ? " (" + std::to_string(next.secrets.size()) + " secrets)" : "");
    ++state->left;
    ++state->changed;
    auto done = [state, line] {
      log(Level::notice, line);
      state->one_done();
    };
    try {
      if (r.signed_route())
        m.replace_v1_secrets(r.path, next.secrets, done);
      else
        m.replace_auth_key(r.path, next.key, done);
      r = std::move(next);
    } catch (const std::exception& e) { // checked above: only a route the library does not know
      --state->changed;
      ++state->kept;
      log(Level::warning, "cannot change " + what_of(r) + ": " + library_words(e) + ": keeping the old one");
      state->one_done();
    }
  }
  // The catch-up token and the Redis URL are read at start only.
  const std::pair<const char*, const char*> at_start[] = {{"TOPGG_TOKEN", "topgg-token"},
                                                          {"TOPGG_REDIS_URL", "redis-url"}};
  for (const auto& [env, credential] : at_start) {
    const bool used = env == std::string("TOPGG_TOKEN") ? o_.has("catch-up") : o_.get("dedup") == "redis";
    const FoundSecret start = used ? find_secret(env, credential) : FoundSecret{};
    std::string now, why;
    if (start.source.rereadable() && reread_secret(start.source, now, why) && now != start.value)
      log(Level::warning, std::string(env == std::string("TOPGG_TOKEN") ? "the catch-up token" : "the Redis URL") +
                              " changed in " + start.source.describe() +
                              ": it is read at start only; restart to use it");
  }
  state->one_done();
}

} // namespace tool
