// The ConnectionStore contract (integration connections at rest), checked the
// same way against each store's (SQLite, Redis; the memory one in tests/unit):
// add, rotate, forget, load everything with a version that moves with every
// change, and what one store object wrote seen by another on the same data.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "topgg/connection_store.hpp"

namespace ts {

inline topgg::IntegrationConnection connection(std::string id, std::string secret) {
  topgg::IntegrationConnection c;
  c.connection_id = std::move(id);
  c.webhook_secret = std::move(secret);
  c.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  // A name with the separators of the stored form, a newline and non-ASCII: kept byte for byte.
  c.user = {"tg-1", "111111111111111111", "we:ird 12:name\nü", ""};
  c.connected_at = topgg::v1::Timestamp(std::chrono::microseconds(1'770'598'034'251'014));
  return c;
}

inline std::vector<topgg::IntegrationConnection> sorted(std::vector<topgg::IntegrationConnection> v) {
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.connection_id < b.connection_id; });
  return v;
}

/// Put, rotate, erase, load and version on one store.
inline void connections_contract(topgg::ConnectionStore& s) {
  const std::uint64_t v0 = s.version();
  CHECK(s.load().connections.empty());
  s.put(connection("c1", "whs_one"));
  s.put(connection("c2", "whs_two"));
  const std::uint64_t v1 = s.version();
  CHECK(v1 != v0);
  auto snap = s.load();
  CHECK(snap.version == v1);
  CHECK(sorted(snap.connections) ==
        std::vector<topgg::IntegrationConnection>{connection("c1", "whs_one"), connection("c2", "whs_two")});
  s.put(connection("c1", "whs_rotated")); // a rotation replaces
  CHECK(s.version() != v1);
  snap = s.load();
  CHECK(sorted(snap.connections) ==
        std::vector<topgg::IntegrationConnection>{connection("c1", "whs_rotated"), connection("c2", "whs_two")});
  const std::uint64_t v2 = s.version();
  CHECK(s.erase("c2"));
  CHECK(s.version() != v2);
  const std::uint64_t v3 = s.version();
  CHECK_FALSE(s.erase("c2")); // nothing to forget: the version stays
  CHECK(s.version() == v3);
  CHECK(s.load().connections == std::vector<topgg::IntegrationConnection>{connection("c1", "whs_rotated")});
}

/// The connection `id` in `s`'s load(), if any.
inline std::optional<topgg::IntegrationConnection> loaded(topgg::ConnectionStore& s, std::string_view id) {
  for (auto& c : s.load().connections)
    if (c.connection_id == id)
      return c;
  return std::nullopt;
}

/// What `writer` changed is seen by `reader` (another store object on the same file or Redis).
inline void connections_shared(topgg::ConnectionStore& writer, topgg::ConnectionStore& reader) {
  const std::uint64_t before = reader.version();
  writer.put(connection("shared", "whs_shared"));
  CHECK(reader.version() != before);
  CHECK(loaded(reader, "shared") == connection("shared", "whs_shared"));
  CHECK(reader.erase("shared"));
  CHECK_FALSE(loaded(writer, "shared"));
}

} // namespace ts
