// Integration connections at rest: the part of an idempotency store that
// keeps, per `connection_id`, the `webhook_secret` and what an
// `integration.create` said. The integrations registry
// (topgg/integrations.hpp, library topgg-webhook-integrations) works with it;
// MemoryStore, SqliteStore and RedisStore each have one, beside their keys.
#pragma once

#include "topgg/export.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/v1.hpp"

namespace topgg {

/// One integration connection: what its `integration.create` carried.
struct IntegrationConnection {
  std::string connection_id;    ///< names the connection (and its URL: public URL + route + "/" + this)
  std::string webhook_secret;   ///< signs the connection's deliveries: never log it
  v1::Project project;          ///< the project connected
  v1::User user;                ///< who connected it
  v1::Timestamp connected_at{}; ///< when this receiver stored it (the latest create: a rotation moves it)
  /// Equal in every field.
  bool operator==(const IntegrationConnection&) const = default;
};

/// Every connection of a store, and the store's version when they were read.
struct ConnectionSnapshot {
  std::uint64_t version = 0;                      ///< as ConnectionStore::version() said then
  std::vector<IntegrationConnection> connections; ///< in no particular order
};

/// Where an idempotency store keeps integration connections
/// (IdempotencyStore::connection_store()); lives as long as its store.
/// Every call blocks until the store answered (SQLite: its thread ran it;
/// Redis: for at most RedisOptions::command_timeout) and throws
/// std::runtime_error when the store cannot be asked: call it from a thread
/// of your own, never from the loop thread. Thread-safe.
///
/// Secrets are stored as given (SQLite: in the file; Redis: in a hash under
/// the key prefix): protect the file (mode 0600) and Redis (an ACL user
/// limited to the prefix, TLS or loopback) as you would the secrets.
class TOPGG_API ConnectionStore {
public:
  virtual ~ConnectionStore();
  /// Adds `c`, or replaces the connection of the same id (a rotation: the
  /// old secret is gone once this returns). Bumps the version.
  virtual void put(const IntegrationConnection& c) = 0;
  /// Forgets the connection; true if it was there (then bumps the version).
  virtual bool erase(std::string_view connection_id) = 0;
  /// Every connection, with the version they were read at (in one step).
  virtual ConnectionSnapshot load() = 0;
  /// A number that changes with every put and erase, by any receiver sharing
  /// the store: cheap to poll.
  virtual std::uint64_t version() = 0;
};

/// \cond INTERNAL
namespace detail {
/// One connection as one string (length-prefixed fields; the id is kept
/// apart, as the row's or field's name): how the persistent stores keep it.
TOPGG_API std::string encode_connection(const IntegrationConnection& c);
/// encode_connection() read back into `out` (its connection_id is left as
/// is); false for anything else.
TOPGG_API bool decode_connection(std::string_view text, IntegrationConnection& out);
} // namespace detail
/// \endcond

} // namespace topgg
