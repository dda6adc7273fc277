// `listen --catch-up`: votes cast while no receiver was up, from Top.gg's vote
// history (topgg-webhook-api), delivered like live ones.
#pragma once

#include <memory>

#include "options.hpp"
#include "topgg/manager.hpp"

namespace tool {

/// Stops its rounds when destroyed (before the manager closes).
class CatchUpRunner {
public:
  virtual ~CatchUpRunner() = default;
};

/// Checks the --catch-up options (usage_error on a mistake), before anything runs.
void check_catch_up_options(const Options& o);

/// With --catch-up, starts the rounds on `m` (running): the first now, then
/// every --catch-up-every. nullptr without --catch-up.
std::unique_ptr<CatchUpRunner> start_catch_up(topgg::ManagerBase& m, const Options& o);

} // namespace tool
