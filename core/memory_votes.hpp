// Internal: MemoryStore's vote ledger — the vote book's records in memory,
// each recorded with its key's first confirm (MemoryStore::confirm_once).
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "topgg/idempotency.hpp"
#include "topgg/vote_ledger.hpp"

namespace topgg {

struct MemoryStore::Votes final : VoteLedger {
  explicit Votes(MemoryStore& s) : store(s) {}

  void record(std::string_view key, Now now, std::chrono::milliseconds ttl, const VoteEntry& vote,
              std::chrono::seconds grace) override;
  void find(const VoteSubject& subject, std::string_view user,
            std::function<void(std::optional<VoteRecord>, bool)> done) override;
  void subjects(std::function<void(std::vector<VoteSubject>, bool)> done) override;
  std::vector<DueExpiry> take_due(v1::Timestamp now, std::size_t limit, v1::Timestamp lease_until,
                                  std::string_view token) override;
  std::optional<v1::Timestamp> next_due() override;
  void finish(const DueExpiry& e, std::string_view token, bool delivered, v1::Timestamp retry_at) override;

private:
  struct Entry {
    VoteSubject subject;
    std::string user;
    VoteRecord record;
    bool owed = false;          // an expiry is owed: `due` is in `by_due`
    v1::Timestamp due{};        // when it is next handed out
    std::uint32_t attempts = 0; // failed deliveries of it
    std::string token;          // who holds it now ("" : nobody)
  };
  void unschedule(Entry& e);
  void schedule(Entry& e, v1::Timestamp due);

  MemoryStore& store;
  std::mutex m;
  std::unordered_map<std::string, Entry> entries;    // by vote_member(); a node never moves
  std::set<std::pair<v1::Timestamp, Entry*>> by_due; // owed expiries, earliest first
  std::vector<VoteSubject> known;                    // every subject recorded
};

} // namespace topgg
