// The idempotency store interface and the memory store.
#include <array>
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
