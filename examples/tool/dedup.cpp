#include "dedup.hpp"

#include <cstdlib>
#include <stdexcept>

#if TOOL_HAVE_SQLITE
#include "topgg/sqlite_store.hpp"
#endif
#if TOOL_HAVE_REDIS
#include "topgg/redis_store.hpp"
#endif

namespace tool {

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
    std::string url = spec;
    if (spec == "redis") { // keeps a password out of the process list
      const char* env = std::getenv("TOPGG_REDIS_URL");
      if (!env || !*env)
        throw std::invalid_argument("--dedup redis needs $TOPGG_REDIS_URL (redis://[:PASSWORD@]HOST:PORT[/DB])");
      url = env;
    }
    return std::make_shared<topgg::RedisStore>(url);
#else
    throw std::invalid_argument("--dedup redis: this build has no Redis store");
#endif
  }
  throw std::invalid_argument("--dedup must be memory, sqlite:PATH or redis://HOST:PORT[/DB], not '" + spec + "'");
}

} // namespace tool
