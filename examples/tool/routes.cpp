#include "routes.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "log.hpp"
#include "topgg/snowflake.hpp"

namespace tool {

namespace {

struct Kind {
  const char* name;
  const char* flag; // the key of routes without =VAR
  const char* env;
};
constexpr Kind kKinds[] = {{"dbl", "dbl-auth", "TOPGG_DBL_AUTH"},
                           {"dsl", "dsl-auth", "TOPGG_DSL_AUTH"},
                           {"v1", "v1-secret", "TOPGG_V1_SECRET"}};

/// Where the key of `spec` came from, for the line that says it is missing.
std::string key_source(const Kind& k, const std::string& value, const std::string& var) {
  if (!var.empty())
    return "$" + var + " (from --" + k.name + " " + value + ") is empty";
  return std::string("set $") + k.env + ", or give the route its own variable: --" + k.name + " " + value + "=VAR";
}

void check_key(const Kind& k, const RouteSpec& spec, const std::string& value, const std::string& var,
               bool allow_no_auth) {
  const bool v1 = spec.kind == "v1";
  const auto secrets = split_commas(spec.key);
  const bool none =
      v1 ? std::all_of(secrets.begin(), secrets.end(), [](auto& s) { return s.empty(); }) : spec.key.empty();
  if (!none)
    return;
  if (v1) // nothing could ever be verified: every delivery would be refused
    usage_error("--v1 " + spec.path +
                " has no secret, so every delivery to it would be refused: " + key_source(k, value, var));
  if (!allow_no_auth)
    usage_error("--" + std::string(k.name) + " " + spec.path + " has no key, so anyone could post votes to it: " +
                key_source(k, value, var) + " (or accept every request with --allow-no-auth, for a local test)");
  log_start(Level::warning, "--" + std::string(k.name) + " " + spec.path +
                                " has no key: every request to it is accepted (--allow-no-auth)");
}

/// --only-for ROUTE=ID (repeatable), each naming a route of the command line.
void apply_only_for(const Options& o, Routes& out) {
  for (const std::string& value : o.all("only-for")) {
    const auto eq = value.rfind('=');
    if (eq == std::string::npos || eq + 1 == value.size())
      usage_error("--only-for takes ROUTE=ID (the bot, server or project the route serves), not '" + value + "'");
    const std::string path = value.substr(0, eq), id = value.substr(eq + 1);
    auto it = std::find_if(out.list.begin(), out.list.end(), [&](const RouteSpec& r) { return r.path == path; });
    if (it == out.list.end())
      usage_error("--only-for " + value + ": no --dbl, --dsl or --v1 route is " + path);
    if (!it->only_for.empty())
      usage_error("--only-for " + path + " is given twice");
    if (it->kind != "v1" && !topgg::Snowflake::parse(id))
      usage_error("--only-for " + value + ": a --" + it->kind + " route serves one " +
                  (it->kind == "dbl" ? "bot" : "server") + ", named by its Discord ID (digits)");
    if (it->kind == "v1" && id == "@me" && !o.has("catch-up"))
      usage_error("--only-for " + value + ": @me is the project of the catch-up token: it needs --catch-up");
    it->only_for = id;
  }
}

} // namespace

Routes route_specs(const Options& o) {
  Routes out;
  const bool allow_no_auth = o.has("allow-no-auth");
  for (const Kind& k : kKinds) {
    bool plain = false; // a route without =VAR
    for (const std::string& value : o.all(k.name)) {
      RouteSpec spec{k.name, value, {}, {}};
      std::string var;
      const auto eq = value.rfind('=');
      if (eq != std::string::npos) {
        var = value.substr(eq + 1);
        if (!env_name(var))
          usage_error("--" + std::string(k.name) + " " + value +
                      ": after '=' comes the name of the environment variable holding the route's key");
        spec.path = value.substr(0, eq);
        if (!std::getenv(var.c_str()))
          usage_error("--" + std::string(k.name) + " " + value + ": $" + var + " is not set");
        spec.key = env_or_empty(var);
        out.secret_vars.push_back(var);
      } else {
        plain = true;
        spec.key = o.has(k.flag) ? o.get(k.flag) : env_or_empty(k.env);
      }
      check_key(k, spec, value, var, allow_no_auth);
      out.list.push_back(std::move(spec));
    }
    if (o.has(k.flag)) {
      if (!plain)
        usage_error("--" + std::string(k.flag) + " is the key of --" + k.name +
                    " ROUTE given without =VAR: there is none");
      log_start(Level::warning,
                "--" + std::string(k.flag) + " is visible to other users in the process list; prefer $" + k.env);
    }
  }
  apply_only_for(o, out);
  return out;
}

} // namespace tool
