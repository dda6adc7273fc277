// Internal: MemoryStore's integration connections — a map under a lock.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "topgg/connection_store.hpp"
#include "topgg/idempotency.hpp"

namespace topgg {

struct MemoryStore::Connections final : ConnectionStore {
  void put(const IntegrationConnection& c) override;
  bool erase(std::string_view connection_id) override;
  ConnectionSnapshot load() override;
  std::uint64_t version() override;

private:
  std::mutex m;
  std::unordered_map<std::string, IntegrationConnection> by_id;
  std::uint64_t changes = 0;
};

} // namespace topgg
