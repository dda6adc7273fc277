// `listen --dedup`: which idempotency store the tool's deliveries are claimed in.
#pragma once

#include <memory>
#include <string>

#include "topgg/idempotency.hpp"

namespace tool {

/// "memory", "sqlite:PATH", "redis://…" (or "redis": the URL from $TOPGG_REDIS_URL). Throws
/// std::invalid_argument (bad spec, store not built in) or std::runtime_error (cannot open).
std::shared_ptr<topgg::IdempotencyStore> make_store(const std::string& spec);

} // namespace tool
