#include "routes.hpp"

#include <algorithm>
#include <cstdlib>

#include "log.hpp"
#include "topgg/snowflake.hpp"

namespace tool {

namespace {

struct Kind {
  const char* name;
  const char* flag; // the key of routes without =VAR
  const char* env;
  const char* credential; // systemd's LoadCredential= name
};
constexpr Kind kKinds[] = {{"dbl", "dbl-auth", "TOPGG_DBL_AUTH", "dbl-auth"},
                           {"dsl", "dsl-auth", "TOPGG_DSL_AUTH", "dsl-auth"},
                           {"v1", "v1-secret", "TOPGG_V1_SECRET", "v1-secret"},
                           {"integrations", "integration-secret", "TOPGG_INTEGRATION_SECRET", "integration-secret"}};

/// Where the key of `spec` should have come from, for the line that says it is missing.
std::string key_source(const Kind& k, const std::string& value, const RouteSpec& spec) {
  if (spec.source.kind != SecretSource::none)
    return spec.source.describe() + " (from --" + k.name + " " + value + ") is empty";
  return std::string("set $") + k.env + " or $" + k.env + "_FILE (or the credential " + k.credential +
         "), or give the route its own: --" + k.name + " " + value + "=VAR or =@FILE";
}

bool no_key(const RouteSpec& spec) {
  if (spec.signed_route())
    return std::all_of(spec.secrets.begin(), spec.secrets.end(), [](auto& s) { return s.empty(); });
  return spec.key.empty();
}

void check_key(const Kind& k, const RouteSpec& spec, const std::string& value, bool allow_no_auth) {
  if (!no_key(spec))
    return;
  if (spec.signed_route()) // nothing could ever be verified: every delivery would be refused
    usage_error("--" + spec.kind + " " + spec.path +
                " has no secret, so every delivery to it would be refused: " + key_source(k, value, spec));
  if (!allow_no_auth)
    usage_error("--" + std::string(k.name) + " " + spec.path + " has no key, so anyone could post votes to it: " +
                key_source(k, value, spec) + " (or accept every request with --allow-no-auth, for a local test)");
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
    if (it->kind == "integrations")
      usage_error("--only-for " + value + ": an --integrations route serves every project that connects");
    if (it->kind != "v1" && !topgg::Snowflake::parse(id))
      usage_error("--only-for " + value + ": a --" + it->kind + " route serves one " +
                  (it->kind == "dbl" ? "bot" : "server") + ", named by its Discord ID (digits)");
    if (it->kind == "v1" && id == "@me" && !o.has("catch-up"))
      usage_error("--only-for " + value + ": @me is the project of the catch-up token: it needs --catch-up");
    it->only_for = id;
  }
}

} // namespace

bool set_route_key(RouteSpec& route, const std::string& value, std::string& why) {
  if (route.signed_route()) {
    std::vector<std::string> secrets = v1_secrets(value, route.source);
    if (std::all_of(secrets.begin(), secrets.end(), [](auto& s) { return s.empty(); })) {
      why = "it holds no secret";
      return false;
    }
    route.secrets = std::move(secrets);
    return true;
  }
  // The whole Authorization value is the key: a line break can never be in it.
  if (value.find_first_of("\r\n") != std::string::npos) {
    why = "it holds several lines (a key is one line)";
    return false;
  }
  route.key = value;
  return true;
}

Routes route_specs(const Options& o) {
  Routes out;
  const bool allow_no_auth = o.has("allow-no-auth");
  for (const Kind& k : kKinds) {
    bool plain = false; // a route without =VAR or =@FILE
    for (const std::string& value : o.all(k.name)) {
      RouteSpec spec{k.name, value, {}, {}, {}, {}};
      std::string key;
      // ROUTE=@FILE at the first "=@" (a file's path may hold '='), else ROUTE=VAR at the last '='.
      const auto at = value.find("=@");
      const auto eq = at != std::string::npos ? at : value.rfind('=');
      if (at != std::string::npos) { // ROUTE=@FILE
        const std::string file = value.substr(eq + 2);
        spec.path = value.substr(0, eq);
        spec.source = {SecretSource::file, file, {}};
        std::string why;
        if (file.empty() || !read_secret_file(file, key, why))
          config_error("--" + std::string(k.name) + " " + value + ": cannot read " +
                       (file.empty() ? std::string("the key file: no path after '@'") : file + ": " + why));
      } else if (eq != std::string::npos) { // ROUTE=VAR
        const std::string var = value.substr(eq + 1);
        if (!env_name(var))
          usage_error("--" + std::string(k.name) + " " + value +
                      ": after '=' comes the name of the environment variable holding the route's key, or "
                      "@FILE for a file holding it");
        spec.path = value.substr(0, eq);
        if (!std::getenv(var.c_str()))
          usage_error("--" + std::string(k.name) + " " + value + ": $" + var + " is not set");
        key = env_or_empty(var);
        spec.source = {SecretSource::env, var, {}};
        out.secret_vars.push_back(var);
      } else {
        plain = true;
        if (o.has(k.flag)) {
          key = o.get(k.flag);
          spec.source = {SecretSource::flag, k.flag, {}};
        } else {
          FoundSecret found = find_secret(k.env, k.credential);
          key = std::move(found.value);
          spec.source = std::move(found.source);
        }
      }
      std::string why;
      if (!key.empty() && !set_route_key(spec, key, why))
        config_error("--" + std::string(k.name) + " " + value + ": " + spec.source.describe() + ": " + why);
      check_key(k, spec, value, allow_no_auth);
      out.list.push_back(std::move(spec));
    }
    if (o.has(k.flag)) {
      if (!plain)
        usage_error("--" + std::string(k.flag) + " is the key of --" + k.name +
                    " ROUTE given without =VAR: there is none");
      log_start(Level::warning, "--" + std::string(k.flag) +
                                    " is visible to other users in the process list; prefer $" + k.env + " or $" +
                                    k.env + "_FILE");
    }
  }
  apply_only_for(o, out);
  return out;
}

} // namespace tool
