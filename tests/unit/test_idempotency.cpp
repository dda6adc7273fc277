// The idempotency store interface and the memory store.
#include <array>
#include <list>
#include <map>
#include <random>
#include <thread>

#include "harness.hpp"
#include "topgg/idempotency.hpp"

namespace topgg::detail {
std::array<std::uint64_t, 2> siphash128(const std::array<std::uint64_t, 2>& key, std::string_view msg) noexcept;
}

using namespace std::chrono_literals;
using topgg::ClaimResult;

namespace {
std::optional<ClaimResult> claim(topgg::IdempotencyStore& s, std::string_view key, int ms,
                                 std::chrono::milliseconds lease = 1000ms) {
  topgg::ClaimDeferral later([](ClaimResult) {});
  return s.claim(key, th::at(ms), lease, later);
}

// Not name("k", i): GCC 12 at -O3 warns (-Wrestrict) inside that operator+.
std::string name(std::string_view prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

std::string le_bytes(const std::array<std::uint64_t, 2>& h) {
  std::string s;
  char buf[4];
  for (std::uint64_t w : h)
    for (int i = 0; i < 8; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>((w >> (8 * i)) & 0xff));
      s += buf;
    }
  return s;
}
} // namespace

TEST_CASE("SipHash-2-4-128 reference vectors (key 00..0f)") {
  const std::array<std::uint64_t, 2> key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  // The reference implementation's vectors_sip128[0] (empty message) and [1] ("\x00").
  CHECK(le_bytes(topgg::detail::siphash128(key, "")) == "a3817f04ba25a8e66df67214c7550293");
  CHECK(le_bytes(topgg::detail::siphash128(key, std::string_view("\0", 1))) == "da87c1d86b99af44347659119b22fc45");
}

TEST_CASE("memory store: claim, confirm, release, lease and TTL") {
  topgg::MemoryStore s;
  CHECK(claim(s, "a", 0) == ClaimResult::claimed);
  CHECK(claim(s, "a", 1) == ClaimResult::in_progress); // held while handled
  s.release("a", th::at(2));
  CHECK(claim(s, "a", 3) == ClaimResult::claimed); // released: the retry is handled
  s.confirm("a", th::at(4), 10'000ms);
  CHECK(claim(s, "a", 5) == ClaimResult::done);
  s.release("a", th::at(6)); // never drops a confirmed key
  CHECK(claim(s, "a", 7) == ClaimResult::done);
  CHECK(claim(s, "a", 10'004) == ClaimResult::claimed); // TTL over: forgotten

  CHECK(claim(s, "b", 0, 100ms) == ClaimResult::claimed);
  CHECK(claim(s, "b", 99) == ClaimResult::in_progress);
  CHECK(claim(s, "b", 100) == ClaimResult::claimed); // lease lapsed: a crashed handler does not block the retry
  CHECK(claim(s, "c", 0) == ClaimResult::claimed);
  CHECK(s.size() == 3);
}

TEST_CASE("memory store: bounded; the oldest key is forgotten first") {
  topgg::MemoryStore s(100);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(claim(s, name("k", i), 0) == ClaimResult::claimed);
    s.confirm(name("k", i), th::at(0), 3'600'000ms);
  }
  CHECK(s.size() == 100);
  CHECK(claim(s, "k0", 1) == ClaimResult::done);
  CHECK(claim(s, "new", 1) == ClaimResult::claimed); // evicts k0, the oldest
  CHECK(s.size() == 100);
  CHECK(claim(s, "k1", 2) == ClaimResult::done);
  CHECK(claim(s, "k0", 2) == ClaimResult::claimed); // forgotten, and now evicts k1
  CHECK(claim(s, "k1", 3) == ClaimResult::claimed);
  for (int i = 3; i < 100; ++i) // everything else still held, whatever the probe order became
    CHECK(claim(s, name("k", i), 4) == ClaimResult::done);
}

TEST_CASE("memory store: many keys through a small table keep every invariant") {
  topgg::MemoryStore s(64);
  std::vector<std::string> live;
  for (int i = 0; i < 5000; ++i) {
    const std::string k = name("key-", i);
    REQUIRE(claim(s, k, i) == ClaimResult::claimed);
    if (i % 3 == 0) {
      s.release(k, th::at(i));
    } else {
      s.confirm(k, th::at(i), 3'600'000ms);
      live.push_back(k);
    }
    REQUIRE(s.size() <= 64);
  }
  // The last 64 confirmed keys are all still known.
  for (std::size_t i = live.size() - 64; i < live.size(); ++i)
    CHECK(claim(s, live[i], 6000) == ClaimResult::done);
}

TEST_CASE("memory store: full, it forgets done keys oldest first, never a key still claimed") {
  topgg::MemoryStore s(4);
  std::vector<std::string> said;
  s.on_error([&said](std::string_view line) { said.emplace_back(line); });
  REQUIRE(claim(s, "a", 0) == ClaimResult::claimed); // held: their deliveries are being handled
  REQUIRE(claim(s, "b", 0) == ClaimResult::claimed);
  for (const char* k : {"c", "d"}) {
    REQUIRE(claim(s, k, 0) == ClaimResult::claimed);
    s.confirm(k, th::at(1), 3'600'000ms);
  }
  CHECK(claim(s, "e", 2) == ClaimResult::claimed);     // takes c's place, the oldest done key
  CHECK(claim(s, "f", 3) == ClaimResult::claimed);     // then d's
  CHECK(claim(s, "c", 4) == ClaimResult::unavailable); // forgotten, and no room: every key is claimed
  for (const char* k : {"a", "b", "e", "f"})
    CHECK(claim(s, k, 5) == ClaimResult::in_progress); // still held: a retry is not handled twice
  CHECK(s.size() == 4);
  CHECK(s.refused_full() == 1);
  CHECK(said.size() == 1);
}

TEST_CASE("memory store: full of claims, it refuses new ones and says so once per episode") {
  topgg::MemoryStore s(4);
  std::vector<std::string> said;
  s.on_error([&said](std::string_view line) { said.emplace_back(line); });
  for (int i = 0; i < 4; ++i)
    REQUIRE(claim(s, name("k", i), 0, 1000ms) == ClaimResult::claimed);
  for (int i = 0; i < 10; ++i)
    CHECK(claim(s, name("new", i), 1 + i) == ClaimResult::unavailable);
  for (int i = 0; i < 4; ++i)
    CHECK(claim(s, name("k", i), 20) == ClaimResult::in_progress); // none was forgotten
  CHECK(s.refused_full() == 10);
  REQUIRE(said.size() == 1); // one line for the episode, not one per refusal
  CHECK(said[0].find("all 4 keys are claimed") != std::string::npos);

  // k0 handled: its done key makes room for one claim; the table is full of claims again.
  s.confirm("k0", th::at(30), 3'600'000ms);
  CHECK(claim(s, "x", 31) == ClaimResult::claimed);
  CHECK(claim(s, "y", 32) == ClaimResult::unavailable);
  CHECK(said.size() == 1); // the same episode: most keys are still claimed

  // Leases lapse (k1..k3 at 1000 ms): the oldest lapsed claim makes room.
  CHECK(claim(s, "z", 1000) == ClaimResult::claimed);
  CHECK(claim(s, "k2", 1000) == ClaimResult::claimed); // its own lapsed claim: claimed again
  CHECK(s.refused_full() == 11);

  // Handled and released: few claims left, the episode is over (told with its count).
  for (const char* k : {"x", "z", "k2"})
    s.release(k, th::at(1001));
  CHECK(claim(s, "after", 1002) == ClaimResult::claimed);
  REQUIRE(said.size() == 2);
  CHECK(said[1].find("11 claims answered unavailable") != std::string::npos);

  // Full again later (the claims left have lapsed by then): a new episode, a new line.
  for (int i = 0; i < 4; ++i)
    REQUIRE(claim(s, name("again", i), 3000) == ClaimResult::claimed);
  CHECK(claim(s, "refused", 3001) == ClaimResult::unavailable);
  CHECK(said.size() == 3);
  CHECK(s.refused_full() == 12);
}

namespace {
/// What MemoryStore promises, written plainly: when full, the oldest claim if
/// its lease lapsed, else the oldest done key (by confirmation) makes room.
struct ModelStore {
  struct Key {
    bool done;
    int expires;
  };
  std::size_t capacity;
  std::map<std::string, Key> keys;
  std::list<std::string> claims, dones; // oldest first

  void forget(std::string k) { // a copy: room() passes a list's front, which remove() destroys
    (keys.at(k).done ? dones : claims).remove(k);
    keys.erase(k);
  }
  bool room(int now) {
    if (keys.size() < capacity)
      return true;
    if (!claims.empty() && keys.at(claims.front()).expires <= now)
      return forget(claims.front()), true;
    if (!dones.empty())
      return forget(dones.front()), true;
    return false;
  }
  ClaimResult claim(const std::string& k, int now, int lease) {
    if (auto it = keys.find(k); it != keys.end()) {
      if (it->second.expires > now)
        return it->second.done ? ClaimResult::done : ClaimResult::in_progress;
      forget(k);
    }
    if (!room(now))
      return ClaimResult::unavailable;
    keys[k] = {false, now + lease};
    claims.push_back(k);
    return ClaimResult::claimed;
  }
  void confirm(const std::string& k, int now, int ttl) {
    if (keys.count(k))
      forget(k);
    else if (!room(now))
      return;
    keys[k] = {true, now + ttl};
    dones.push_back(k);
  }
  void release(const std::string& k) {
    if (auto it = keys.find(k); it != keys.end() && !it->second.done)
      forget(k);
  }
};
} // namespace

TEST_CASE("memory store: random claims, confirms and releases answer as the model does") {
  for (std::size_t capacity : {1u, 2u, 7u, 16u}) {
    CAPTURE(capacity);
    topgg::MemoryStore s(capacity);
    s.on_error([](std::string_view) {});
    ModelStore model{capacity, {}, {}, {}};
    std::mt19937 rng(static_cast<unsigned>(capacity));
    int now = 0;
    std::uint64_t refused = 0;
    for (int step = 0; step < 20000; ++step) {
      now += static_cast<int>(rng() % 7);
      const std::string k = name("k", static_cast<int>(rng() % (3 * capacity + 2)));
      const int lease = rng() % 4 == 0 ? 5 : 500, ttl = rng() % 2 ? 50 : 5000;
      switch (rng() % 3) {
      case 0: {
        const ClaimResult want = model.claim(k, now, lease);
        refused += want == ClaimResult::unavailable;
        REQUIRE(claim(s, k, now, std::chrono::milliseconds(lease)) == want);
        break;
      }
      case 1:
        model.confirm(k, now, ttl);
        s.confirm(k, th::at(now), std::chrono::milliseconds(ttl));
        break;
      default: model.release(k); s.release(k, th::at(now));
      }
      REQUIRE(s.size() == model.keys.size());
    }
    CHECK(s.refused_full() == refused);
    CHECK(refused > 0); // the table was full of claims at times
  }
}

TEST_CASE("claim tickets: first completion counts; a dropped ticket counts as unavailable") {
  std::vector<ClaimResult> got;
  {
    topgg::ClaimDeferral d([&got](ClaimResult r) { got.push_back(r); });
    topgg::ClaimTicket t = d.defer();
    CHECK(d.deferred());
    std::thread([t] { CHECK(t.complete(ClaimResult::done)); }).join();
    CHECK_FALSE(t.complete(ClaimResult::claimed));
  }
  CHECK(got == std::vector<ClaimResult>{ClaimResult::done});
  {
    topgg::ClaimDeferral d([&got](ClaimResult r) { got.push_back(r); });
    { topgg::ClaimTicket t = d.defer(); }
  } // deferral and every ticket gone
  CHECK(got.back() == ClaimResult::unavailable);
}

TEST_CASE("store marks: the default keeps them in memory") {
  topgg::MemoryStore s;
  CHECK_FALSE(s.load_mark("catch-up"));
  const auto t = std::chrono::sys_time<std::chrono::microseconds>(1'700'000'000'123'456us);
  s.save_mark("catch-up", t);
  CHECK(s.load_mark("catch-up") == t);
}
