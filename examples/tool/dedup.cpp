#include "dedup.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "log.hpp"
#include "options.hpp"
#include "secrets.hpp"

#if TOOL_HAVE_SQLITE
#include "topgg/sqlite_store.hpp"
#endif
#if TOOL_HAVE_REDIS
#include "topgg/redis_store.hpp"
#endif

namespace tool {

#if TOOL_HAVE_REDIS
namespace {

/// "redis://HOST:PORT/DB", never the password: for lines about the store.
std::string redis_where(const topgg::RedisOptions& o) {
  const bool v6 = o.host.find(':') != std::string::npos;
  std::string s = "redis://";
  s.append(v6 ? "[" + o.host + "]" : o.host).append(":").append(std::to_string(o.port));
  return s.append("/").append(std::to_string(o.db));
}

/// Asks Redis before anything listens: a misconfiguration would otherwise answer every vote 503,
/// and v1 votes are lost after three retries within seconds.
std::shared_ptr<topgg::RedisStore> open_redis(const topgg::RedisOptions& options) {
  auto store = std::make_shared<topgg::RedisStore>(options);
  const topgg::RedisProbe found = store->probe(std::chrono::seconds(5));
  switch (found.kind) {
  case topgg::RedisProbe::Kind::ok: break;
  case topgg::RedisProbe::Kind::permanent:
    throw StoreUnusable("cannot use the de-duplication store " + redis_where(options) + ": " + found.why);
  case topgg::RedisProbe::Kind::transient:
    log_start(Level::warning, "the de-duplication store " + redis_where(options) + " does not answer now (" +
                                  found.why + "): starting anyway; deliveries are answered 503 until Redis answers");
    break;
  }
  return store;
}

} // namespace
#endif

#if TOOL_HAVE_REDIS
std::optional<topgg::RedisOptions> redis_options_of(const std::string& spec) {
  if (spec != "redis" && spec.rfind("redis://", 0) != 0)
    return std::nullopt;
  std::string url = spec;
  if (spec == "redis") { // keeps a password out of the process list
    url = find_secret("TOPGG_REDIS_URL", "redis-url").value;
    if (url.empty())
      throw std::invalid_argument("--dedup redis needs $TOPGG_REDIS_URL (redis://[:PASSWORD@]HOST:PORT[/DB]), "
                                  "$TOPGG_REDIS_URL_FILE or the credential redis-url");
  }
  return topgg::RedisOptions::from_url(url);
}
#endif

std::shared_ptr<topgg::IdempotencyStore> make_store(const std::string& spec) {
  if (spec == "memory")
    return std::make_shared<topgg::MemoryStore>();
  if (spec.rfind("sqlite:", 0) == 0) {
    if (spec.size() == 7)
      throw std::invalid_argument("--dedup sqlite:PATH needs a file path");
#if TOOL_HAVE_SQLITE
    return std::make_shared<topgg::SqliteStore>(spec.substr(7));
#else
    throw std::invalid_argument("--dedup sqlite: this build has no SQLite store");
#endif
  }
  if (spec == "redis" || spec.rfind("redis://", 0) == 0) {
#if TOOL_HAVE_REDIS
    const auto options = *redis_options_of(spec);
    if (spec != "redis" && !options.password.empty())
      log_start(Level::warning, "--dedup with a password is visible to other users in the process list; prefer "
                                "--dedup redis and $TOPGG_REDIS_URL");
    return open_redis(options);
#else
    throw std::invalid_argument("--dedup redis: this build has no Redis store");
#endif
  }
  throw std::invalid_argument("--dedup must be memory, sqlite:PATH or redis://HOST:PORT[/DB], not '" + spec + "'");
}

std::shared_ptr<topgg::IdempotencyStore> open_kept_store(const std::string& spec, const std::string& listener) {
  if (spec == "memory")
    usage_error("--dedup memory lives in the listener's process only: give sqlite:PATH or redis");
  if (spec.rfind("sqlite:", 0) == 0 && spec.size() > 7 && ::access(spec.c_str() + 7, F_OK) != 0) {
    std::fprintf(stderr, "topgg-webhook: %s: no such file (the --dedup file of %s)\n", spec.c_str() + 7,
                 listener.c_str());
    return nullptr;
  }
  try {
    return make_store(spec);
  } catch (const std::invalid_argument& e) {
    usage_error(library_words(e));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topgg-webhook: cannot open the store: %s\n", library_words(e).c_str());
    return nullptr;
  }
}

} // namespace tool
