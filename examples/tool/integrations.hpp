// `listen --integrations ROUTE --public-url URL`: the integrations registry
// (topgg/integrations.hpp) in the --dedup store, and `topgg-webhook
// integrations list|forget` for the operator.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "options.hpp"
#include "routes.hpp"
#include "topgg/integrations.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// listen's integrations options (valued); --integrations is a route (routes.hpp), and
/// --print-integration-secret a flag.
inline const std::vector<std::string> kIntegrationOptions = {"public-url", "integration-events"};

/// Checks them before anything listens: usage_error (exit 2) for --public-url or
/// --integration-events without --integrations (or the other way round), --integrations given
/// twice or with --no-dedup, a malformed URL or event name.
void check_integration_options(const Options& o, const Routes& routes);

/// With --integrations: the registry on `m`'s router and store (set before this), its lines in
/// the log. Call before run(), then start() it. nullptr without.
/// `on_create` / `on_delete`: where integration.create/delete arriving at the user's other --v1
/// routes go (the tool's own line); at the --integrations route's connections, 403.
std::unique_ptr<topgg::Integrations> make_integrations(topgg::ManagerBase& m, const Options& o, const Routes& routes,
                                                       topgg::AckHandler<topgg::v1::IntegrationCreate> on_create,
                                                       topgg::AckHandler<topgg::v1::IntegrationDelete> on_delete);

/// `topgg-webhook integrations list|forget ID --dedup STORE`.
int integrations_main(int argc, char** argv);

} // namespace tool
