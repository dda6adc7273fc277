#include "catch_up.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "log.hpp"
#include "secrets.hpp"
#if TOOL_HAVE_API
#include "topgg/catch_up.hpp"
#endif

namespace tool {

namespace {
constexpr std::chrono::seconds kYear{365L * 24 * 3600};

// Read where they are checked and where they are used, with one range each:
// the API takes a year back at most, and a round re-reads an hour before.
[[maybe_unused]] std::chrono::seconds catch_up_since(const Options& o) {
  return o.duration("catch-up-since", std::chrono::hours(12), std::chrono::seconds(1), kYear - std::chrono::hours(1));
}
[[maybe_unused]] std::chrono::seconds catch_up_every(const Options& o) {
  return o.duration("catch-up-every", std::chrono::seconds(0), std::chrono::seconds(10), std::chrono::hours(24));
}
} // namespace

#if TOOL_HAVE_API
namespace {
/// The v1 route caught-up votes go through: --catch-up-route, or the one --v1.
std::string catch_up_route(const Options& o, const Routes& routes) {
  std::vector<std::string> v1;
  for (const RouteSpec& r : routes.list)
    if (r.kind == "v1")
      v1.push_back(r.path);
  if (o.has("catch-up-route")) {
    const std::string route = o.get("catch-up-route");
    if (std::find(v1.begin(), v1.end(), route) == v1.end())
      usage_error("--catch-up-route " + route + " is no --v1 route");
    return route;
  }
  if (v1.size() > 1)
    usage_error("--catch-up: several --v1 routes; say which one the token's project comes to with --catch-up-route");
  return v1.empty() ? std::string() : v1.front();
}

topgg::api::CatchUpOptions catch_up_options(const Options& o, const Routes& routes) {
  topgg::api::CatchUpOptions c;
  c.api.token = find_secret("TOPGG_TOKEN", "topgg-token").value; // never logged
  if (o.has("api-base"))
    c.api.base_url = o.get("api-base");
  c.api.ca_file = o.get("api-ca");
  c.since = catch_up_since(o);
  c.every = catch_up_every(o);
  c.route = catch_up_route(o, routes);
  for (const RouteSpec& r : routes.list)
    if (r.path == c.route && r.only_for == "@me")
      c.only_token_project = true;
  return c;
}
} // namespace
#endif

void check_catch_up_options(const Options& o, const Routes& routes) {
  for (const char* name : {"catch-up-since", "catch-up-every", "catch-up-route", "api-base", "api-ca"})
    if (o.has(name) && !o.has("catch-up"))
      usage_error(std::string("--") + name + " needs --catch-up");
  if (!o.has("catch-up"))
    return;
#if !TOOL_HAVE_API
  (void)routes;
  usage_error("--catch-up: this build has no API client (libcurl was not found)");
#else
  if (!o.has("v1"))
    usage_error("--catch-up delivers vote.create events: it needs a --v1 route");
  if (find_secret("TOPGG_TOKEN", "topgg-token").value.empty())
    usage_error("--catch-up needs the v1 API token in $TOPGG_TOKEN (or $TOPGG_TOKEN_FILE, or the credential "
                "topgg-token)");
  // Everything checked now, before anything listens: the client refuses an
  // http:// base or an unreadable CA file without a request.
  const topgg::api::CatchUpOptions c = catch_up_options(o, routes);
  if (auto client = topgg::api::Client::create(c.api); !client)
    usage_error("--catch-up: " + client.error().message);
  if (!o.has("dedup") || o.get("dedup") == "memory")
    log_start(Level::warning, "--catch-up with the memory store: a restart forgets which votes were handled and "
                              "where catch-up got to, so it delivers the last --catch-up-since (" +
                                  o.get("catch-up-since", "12h") +
                                  ") of votes again; --dedup sqlite:PATH or redis keeps both");
#endif
}

#if TOOL_HAVE_API
namespace {
class Runner final : public CatchUpRunner {
public:
  Runner(topgg::ManagerBase& m, topgg::api::CatchUpOptions options) : catch_up_(m, std::move(options)) {
    catch_up_.start();
  }
  ~Runner() override { catch_up_.stop(); }

private:
  topgg::api::CatchUp catch_up_;
};
} // namespace
#endif

std::unique_ptr<CatchUpRunner> start_catch_up(topgg::ManagerBase& m, const Options& o, const Routes& routes) {
  if (!o.has("catch-up"))
    return nullptr;
#if TOOL_HAVE_API
  topgg::api::CatchUpOptions c = catch_up_options(o, routes);
  c.on_error = [](std::string_view line) { log(Level::error, line); };
  c.on_info = [](std::string_view line) { log(Level::info, line); };
  return std::make_unique<Runner>(m, std::move(c));
#else
  (void)m;
  (void)routes;
  return nullptr;
#endif
}

} // namespace tool
