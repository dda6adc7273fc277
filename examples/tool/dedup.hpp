// `listen --dedup`: which idempotency store the tool's deliveries are claimed in.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "topgg/idempotency.hpp"
#if TOOL_HAVE_REDIS
#include "topgg/redis_store.hpp"
#endif

namespace tool {

/// A store that answered but cannot work as configured (Redis refused the password or the db, its
/// host name does not exist): what() is the whole line to print, without the password.
struct StoreUnusable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// "memory", "sqlite:PATH", "redis://…" (or "redis": the URL from $TOPGG_REDIS_URL). Redis is
/// probed before this returns: when it does not answer now, one warning line says the tool goes
/// on. Throws std::invalid_argument (bad spec, store not built in), StoreUnusable, or
/// std::runtime_error (cannot open).
std::shared_ptr<topgg::IdempotencyStore> make_store(const std::string& spec);

/// For a command that reads what a listener keeps (`status`, `integrations`): make_store(spec),
/// refusing "memory" (usage_error: it lives in the listener's process only) and an SQLite file
/// that does not exist (never created here). nullptr, after saying why on stderr, when the store
/// cannot be opened (exit 1); usage_error for a bad spec. `listener` names what keeps the data
/// ("listen --track-votes").
std::shared_ptr<topgg::IdempotencyStore> open_kept_store(const std::string& spec, const std::string& listener);

#if TOOL_HAVE_REDIS
/// The connection a "redis://…" or "redis" spec names (the Discord queue shares the store's Redis);
/// nullopt for another store. Throws std::invalid_argument as make_store does.
std::optional<topgg::RedisOptions> redis_options_of(const std::string& spec);
#endif

} // namespace tool
