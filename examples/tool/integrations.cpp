#include "integrations.hpp"

#include <cstdio>
#include <stdexcept>

#include "dedup.hpp"
#include "events_json.hpp"
#include "log.hpp"

namespace tool {

namespace {

constexpr const char* integrations_help = R"(usage: topgg-webhook integrations list --dedup STORE
       topgg-webhook integrations forget CONNECTION_ID --dedup STORE

The connections `topgg-webhook listen --integrations ROUTE --dedup STORE` keeps.
  list     one JSON line per connection:
             {"connection_id":"…","project":{…},"user":{…},"connected_at":"…"}
           (never its webhook secret)
  forget   forgets one connection: its deliveries are refused 403 from then on
           (listeners sharing the store notice within a second)
Exit status 0, 1 when the store cannot be read (forget: or holds no such
connection), 2 on a usage error.

  --dedup STORE      sqlite:PATH, redis://[:PASSWORD@]HOST:PORT[/DB], or redis ($TOPGG_REDIS_URL)
)";

std::vector<std::string> events_of(const Options& o) {
  if (!o.has("integration-events"))
    return {"vote.create"};
  return split_commas(o.get("integration-events"));
}

const RouteSpec* integrations_route(const Routes& routes) {
  for (const RouteSpec& r : routes.list)
    if (r.kind == "integrations")
      return &r;
  return nullptr;
}

std::string connection_json(const topgg::IntegrationConnection& c) {
  std::string out = "{";
  json_string(out, "connection_id");
  out += ':';
  json_string(out, c.connection_id);
  project_user(out, c.project, c.user);
  field(out, "connected_at", rfc3339(c.connected_at));
  return out + "}";
}

} // namespace

void check_integration_options(const Options& o, const Routes& routes) {
  const RouteSpec* route = integrations_route(routes);
  if (!route) {
    for (const char* name : {"public-url", "integration-events"})
      if (o.has(name))
        usage_error(std::string("--") + name + " needs --integrations ROUTE");
    return;
  }
  if (o.has("no-dedup"))
    usage_error("--integrations keeps its connections in the --dedup store: not with --no-dedup");
  if (!o.has("public-url"))
    usage_error("--integrations needs --public-url (what Top.gg reaches this server at, e.g. "
                "https://bot.example.com): each connection's webhook_url is built from it");
  // The library says what is wrong with a URL, route or event name: asked here, before listening.
  topgg::Router probe;
  topgg::IntegrationsOptions io;
  io.route = route->path;
  io.public_url = o.get("public-url");
  io.events = events_of(o);
  try {
    topgg::Integrations check(probe, io);
  } catch (const std::invalid_argument& e) {
    usage_error(library_words(e));
  }
}

std::unique_ptr<topgg::Integrations> make_integrations(topgg::ManagerBase& m, const Options& o, const Routes& routes,
                                                       topgg::AckHandler<topgg::v1::IntegrationCreate> on_create,
                                                       topgg::AckHandler<topgg::v1::IntegrationDelete> on_delete) {
  const RouteSpec* route = integrations_route(routes);
  if (!route)
    return nullptr;
  topgg::IntegrationsOptions io;
  io.route = route->path;
  io.secrets = route->secrets;
  io.public_url = o.get("public-url");
  io.events = events_of(o);
  io.other_create = std::move(on_create);
  io.other_delete = std::move(on_delete);
  io.on_log = [](std::string_view line) { log(Level::notice, "integrations: " + std::string(line)); };
  return std::make_unique<topgg::Integrations>(m, std::move(io));
}

int integrations_main(int argc, char** argv) {
  const Options o(argc, argv, 2, {{"dedup"}});
  if (o.help()) {
    std::fputs(integrations_help, stdout);
    return 0;
  }
  const auto& args = o.positional();
  if (args.empty() || (args[0] != "list" && args[0] != "forget"))
    usage_error("integrations needs list or forget");
  if (args[0] == "list" ? args.size() != 1 : args.size() != 2)
    usage_error(args[0] == "list" ? "integrations list takes no argument"
                                  : "integrations forget needs one CONNECTION_ID");
  if (!o.has("dedup"))
    usage_error("integrations needs --dedup: the store listen --integrations keeps its connections in");
  const std::string spec = o.get("dedup");
  const std::shared_ptr<topgg::IdempotencyStore> store = open_kept_store(spec, "listen --integrations");
  if (!store)
    return 1;
  topgg::ConnectionStore* connections = store->connection_store();
  try {
    if (args[0] == "list") {
      for (const topgg::IntegrationConnection& c : connections->load().connections)
        std::printf("%s\n", connection_json(c).c_str());
      return 0;
    }
    if (!connections->erase(args[1])) {
      std::fprintf(stderr, "topgg-webhook: no connection %s in the store\n", args[1].c_str());
      return 1;
    }
    std::printf("forgot connection %s\n", args[1].c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topgg-webhook: %s\n", library_words(e).c_str());
    return 1;
  }
}

} // namespace tool
