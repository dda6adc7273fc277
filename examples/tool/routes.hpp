// `listen`'s routes: --dbl/--dsl/--v1 ROUTE[=VAR|=@FILE], the key each one
// checks and where it came from (secrets.hpp), and --only-for ROUTE=ID (the
// one bot, server or project a route serves). A route that would be open to
// anyone or refuse everything is refused at start (exit 2), not found out at
// the first vote.
#pragma once

#include <string>
#include <vector>

#include "options.hpp"
#include "secrets.hpp"

namespace tool {

/// One --dbl/--dsl/--v1 ROUTE[=VAR|=@FILE]: where, and the key (or secrets) it checks.
struct RouteSpec {
  std::string kind; ///< "dbl", "dsl", "v1", "integrations" (the configuration route of --integrations)
  std::string path;
  std::string key;                  ///< dbl, dsl: the key (empty: none)
  std::vector<std::string> secrets; ///< v1: the secrets, any of which may sign
  std::string only_for;             ///< --only-for's ID; "@me": the catch-up token's project
  SecretSource source;              ///< where key or secrets came from (read again on SIGHUP if a file)
  /// Signed v1 deliveries (--v1, --integrations): `secrets`, not `key`.
  bool signed_route() const { return kind == "v1" || kind == "integrations"; }
};

struct Routes {
  std::vector<RouteSpec> list;
  std::vector<std::string> secret_vars; ///< every VAR given: kept from --exec commands
};

/// The routes of the command line, checked: usage_error (exit 2) for a route
/// without its key (unless --allow-no-auth, for legacy routes), a VAR that is
/// not set, a file that cannot be read or is empty, --only-for naming no
/// route or a malformed ID.
Routes route_specs(const Options& o);

/// A route's key or secrets from `value` (read from its source), checked as
/// at start: false with `why` if it holds none, or a legacy key spans lines.
bool set_route_key(RouteSpec& route, const std::string& value, std::string& why);

/// The option names route_specs() reads, for the option table.
inline const std::vector<std::string> kRouteOptions = {
    "dbl", "dsl", "v1", "dbl-auth", "dsl-auth", "v1-secret", "only-for", "integrations", "integration-secret"};

} // namespace tool
