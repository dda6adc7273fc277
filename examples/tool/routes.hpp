// `listen`'s routes: --dbl/--dsl/--v1 ROUTE[=VAR], the key each one checks,
// and --only-for ROUTE=ID (the one bot, server or project a route serves).
// A route that would be open to anyone or refuse everything is refused at
// start (exit 2), not found out at the first vote.
#pragma once

#include <string>
#include <vector>

#include "options.hpp"

namespace tool {

/// One --dbl/--dsl/--v1 ROUTE[=VAR]: where, and the key (or secrets) it checks.
struct RouteSpec {
  std::string kind; ///< "dbl", "dsl", "v1"
  std::string path;
  std::string key;      ///< v1: secrets separated by commas
  std::string only_for; ///< --only-for's ID; "@me": the catch-up token's project
};

struct Routes {
  std::vector<RouteSpec> list;
  std::vector<std::string> secret_vars; ///< every VAR given: kept from --exec commands
};

/// The routes of the command line, checked: usage_error (exit 2) for a route
/// without its key (unless --allow-no-auth, for legacy routes), a VAR that is
/// not set, --only-for naming no route or a malformed ID.
Routes route_specs(const Options& o);

/// The option names route_specs() reads, for the option table.
inline const std::vector<std::string> kRouteOptions = {"dbl",      "dsl",       "v1",      "dbl-auth",
                                                       "dsl-auth", "v1-secret", "only-for"};

} // namespace tool
