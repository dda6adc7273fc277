// `listen --catch-up`: votes cast while no receiver was up, from Top.gg's vote
// history (topgg-webhook-api), delivered like live ones.
#pragma once

#include <memory>

#include "options.hpp"
#include "routes.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// Stops its rounds when destroyed (before the manager closes).
class CatchUpRunner {
public:
  virtual ~CatchUpRunner() = default;
};

/// Checks the --catch-up options (usage_error on a mistake: an http:// or
/// malformed --api-base, an unreadable --api-ca, a --catch-up-route that is no
/// --v1 route), before anything listens.
void check_catch_up_options(const Options& o, const Routes& routes);

/// With --catch-up, starts the rounds on `m` (running): the first now, then
/// every --catch-up-every (a failed round sooner, with back-off). nullptr
/// without --catch-up.
std::unique_ptr<CatchUpRunner> start_catch_up(topgg::ManagerBase& m, const Options& o, const Routes& routes);

} // namespace tool
