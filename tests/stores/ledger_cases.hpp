// The vote ledger's contract, checked the same way against each store's
// (SQLite, Redis; the memory one in tests/unit): the same votes give the same
// records — the rules are C++ in one store and Lua in another —, a vote is
// recorded with its key's first confirm only, and expiries are handed out
// once, in order, claimed until their lease ends.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"
#include "topgg/vote_ledger.hpp"

namespace ts {

using topgg::DueExpiry;
using topgg::VoteEntry;
using topgg::VoteLedger;
using topgg::VoteRecord;
using topgg::VoteSubject;

inline const topgg::v1::Timestamp t0{std::chrono::seconds(1'770'598'034) + std::chrono::microseconds(251014)};
inline constexpr std::chrono::seconds grace{12 * 3600};

/// A Now whose wall clock is `t` (what the stores read).
inline topgg::Now wall_at(topgg::v1::Timestamp t) {
  topgg::Now n;
  n.wall = std::chrono::system_clock::time_point(t.time_since_epoch());
  n.mono = topgg::Clock::now();
  return n;
}

inline VoteEntry vote(std::string user, topgg::v1::Timestamp at, std::chrono::microseconds lasts = 12h,
                      VoteSubject subject = VoteSubject::project("803190510032756736")) {
  return {std::move(subject), std::move(user), "/topgg", at, at + lasts, 1};
}

/// find(), waited for; `ok` false when the store could not be asked.
inline std::optional<VoteRecord> find(VoteLedger& l, const std::string& user, bool* ok = nullptr,
                                      VoteSubject subject = VoteSubject::project("803190510032756736")) {
  auto p = std::make_shared<std::promise<std::pair<std::optional<VoteRecord>, bool>>>();
  auto f = p->get_future();
  l.find(subject, user, [p](std::optional<VoteRecord> r, bool good) { p->set_value({std::move(r), good}); });
  if (f.wait_for(20s) != std::future_status::ready)
    throw std::runtime_error("find: no answer");
  auto [r, good] = f.get();
  if (ok)
    *ok = good;
  else
    CHECK(good);
  return r;
}

inline std::vector<VoteSubject> subjects(VoteLedger& l) {
  auto p = std::make_shared<std::promise<std::vector<VoteSubject>>>();
  auto f = p->get_future();
  l.subjects([p](std::vector<VoteSubject> s, bool ok) {
    CHECK(ok);
    p->set_value(std::move(s));
  });
  if (f.wait_for(20s) != std::future_status::ready)
    throw std::runtime_error("subjects: no answer");
  return f.get();
}

inline std::vector<std::string> users(const std::vector<DueExpiry>& due) {
  std::vector<std::string> out;
  for (const auto& d : due)
    out.push_back(d.user);
  return out;
}

/// Records and the key's first confirm, streaks at the grace's edge, an older vote, subjects.
inline void ledger_records(topgg::IdempotencyStore& store) {
  VoteLedger& l = *store.vote_ledger();
  l.record("ledger/k1", wall_at(t0), 1h, vote("1", t0), grace);
  l.record("ledger/k1", wall_at(t0 + 1s), 1h, vote("1", t0), grace); // the same delivery confirmed twice
  auto r = find(l, "1");
  REQUIRE(r);
  CHECK(*r == VoteRecord{"/topgg", t0, t0 + 12h, 1, 1, 1});
  // A key confirmed the plain way (a twin handled before): not recorded.
  store.confirm("ledger/k2", wall_at(t0), 1h);
  l.record("ledger/k2", wall_at(t0 + 2s), 1h, vote("1", t0 + 1h), grace);
  CHECK(find(l, "1")->count == 1);
  // Claimed: the record confirms it.
  CHECK(claim(store, "ledger/k3", wall_at(t0)) == topgg::ClaimResult::claimed);
  l.record("ledger/k3", wall_at(t0), 1h, vote("1", t0 + 12h + 12h), grace); // exactly at expiry + grace
  CHECK(claim(store, "ledger/k3", wall_at(t0)) == topgg::ClaimResult::done);
  r = find(l, "1");
  CHECK(r->count == 2);
  CHECK(r->streak == 2);
  CHECK(r->voted_at == t0 + 24h);
  // A microsecond past expiry + grace: a new streak.
  l.record("ledger/k4", wall_at(t0), 1h, vote("1", t0 + 24h + 24h + 1us), grace);
  CHECK(find(l, "1")->streak == 1);
  // Older than the latest: the count only.
  l.record("ledger/k5", wall_at(t0), 1h, vote("1", t0), grace);
  r = find(l, "1");
  CHECK(r->count == 4);
  CHECK(r->voted_at == t0 + 48h + 1us);
  CHECK(r->streak == 1);
  // Another subject, another record.
  l.record("ledger/k6", wall_at(t0), 1h, vote("1", t0, 12h, VoteSubject::bot(topgg::Snowflake(7))), grace);
  CHECK(find(l, "1", nullptr, VoteSubject::bot(topgg::Snowflake(7)))->count == 1);
  CHECK_FALSE(find(l, "2"));
  auto known = subjects(l);
  CHECK(known.size() == 2);
  CHECK(std::find(known.begin(), known.end(), VoteSubject::bot(topgg::Snowflake(7))) != known.end());
  CHECK(std::find(known.begin(), known.end(), VoteSubject::project("803190510032756736")) != known.end());
}

/// Expiries: in order, a batch at a time, claimed until the lease ends, finished or retried.
inline void ledger_expiries(topgg::IdempotencyStore& store, std::string_view tag) {
  VoteLedger& l = *store.vote_ledger();
  const std::string k = "ledger-exp/" + std::string(tag) + "/";
  CHECK_FALSE(l.next_due());
  for (int i = 0; i < 5; ++i) { // user i's vote runs out at t0 + 10 s - i s
    std::string key = k;
    key += std::to_string(i);
    l.record(key, wall_at(t0), 1h, vote(std::to_string(i), t0, 10s - std::chrono::seconds(i)), grace);
  }
  CHECK(l.next_due() == t0 + 6s);
  CHECK(l.take_due(t0 + 6s - 1us, 10, t0 + 1h, "a").empty());
  auto first = l.take_due(t0 + 8s, 2, t0 + 8s + 30s, "a");
  REQUIRE(users(first) == std::vector<std::string>{"4", "3"});
  CHECK(first[0].record == VoteRecord{"/topgg", t0, t0 + 6s, 1, 1, 1});
  CHECK(first[0].subject == VoteSubject::project("803190510032756736"));
  CHECK(first[0].attempts == 0);
  CHECK(users(l.take_due(t0 + 8s, 10, t0 + 8s + 30s, "b")) == std::vector<std::string>{"2"}); // 4, 3: claimed
  CHECK(users(l.take_due(t0 + 20s, 10, t0 + 50s, "c")) == std::vector<std::string>{"1", "0"});
  l.finish(first[0], "a", true, {});
  l.finish(first[1], "a", false, t0 + 9s);
  auto again = l.take_due(t0 + 9s, 10, t0 + 40s, "a");
  REQUIRE(users(again) == std::vector<std::string>{"3"});
  CHECK(again[0].attempts == 1);
  l.finish(again[0], "b", true, {}); // not b's claim: nothing
  CHECK(users(l.take_due(t0 + 37s, 10, t0 + 2min, "a")).empty());
  CHECK(users(l.take_due(t0 + 38s, 10, t0 + 2min, "a")) == std::vector<std::string>{"2"}); // b's lease lapsed
  CHECK(users(l.take_due(t0 + 40s, 10, t0 + 2min, "d")) == std::vector<std::string>{"3"});
  // A newer vote replaces a claimed expiry; the old claim's finish changes nothing.
  auto lapsed = l.take_due(t0 + 50s, 10, t0 + 3min, "e"); // c's claims, due at the same time: in either order
  auto names = users(lapsed);
  std::sort(names.begin(), names.end());
  REQUIRE(names == std::vector<std::string>{"0", "1"});
  l.record(k + "new", wall_at(t0 + 55s), 1h, vote("1", t0 + 55s, 5s), grace);
  l.finish(lapsed[0], "e", true, {});
  l.finish(lapsed[1], "e", true, {});
  auto renewed = l.take_due(t0 + 60s, 10, t0 + 3min, "e");
  REQUIRE(users(renewed) == std::vector<std::string>{"1"});
  CHECK(renewed[0].record.streak == 2);
  CHECK(renewed[0].record.expires_at == t0 + 60s);
  l.finish(renewed[0], "e", true, {});
  for (auto& d : l.take_due(t0 + 10min, 10, t0 + 11min, "z")) // what is left: 2 and 3, claimed and lapsed
    l.finish(d, "z", true, {});
  CHECK_FALSE(l.next_due());
}

/// Two store objects on one database (two receivers): `voters` votes that ran
/// out are taken by both at once, `rounds` tries each, 3 at a time; each
/// expiry goes to exactly one of them.
inline void ledger_two_takers(VoteLedger& a, VoteLedger& b, int voters, int rounds) {
  for (int i = 0; i < voters; ++i) {
    std::string key = "k";
    key += std::to_string(i);
    a.record(key, wall_at(t0), 1h, vote(std::to_string(i), t0, 1s), grace);
  }
  CHECK(find(a, std::to_string(voters - 1))); // all written
  std::vector<DueExpiry> got_a, got_b;
  auto take = [&](VoteLedger& l, const char* token, std::vector<DueExpiry>& got) {
    for (int i = 0; i < rounds; ++i)
      for (auto& d : l.take_due(t0 + 2s, 3, t0 + 1h, token))
        got.push_back(d);
  };
  std::thread ta([&] { take(a, "a", got_a); });
  std::thread tb([&] { take(b, "b", got_b); });
  ta.join();
  tb.join();
  std::vector<std::string> all = users(got_a);
  for (auto& u : users(got_b))
    all.push_back(u);
  std::sort(all.begin(), all.end());
  CHECK(all.size() == static_cast<std::size_t>(voters));
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end()); // none twice
}

} // namespace ts
