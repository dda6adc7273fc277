#include "topgg/idempotency.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "claim_state.hpp"
#include "timeouts.hpp"

namespace topgg {

std::string_view to_string(ClaimResult r) noexcept {
  switch (r) {
  case ClaimResult::claimed: return "claimed";
  case ClaimResult::done: return "done";
  case ClaimResult::in_progress: return "in progress";
  case ClaimResult::unavailable: return "unavailable";
  }
  return "unknown";
}

bool ClaimTicket::complete(ClaimResult r) const { return state_ && state_->cell && state_->cell->complete(r); }

ClaimDeferral::ClaimDeferral(std::function<void(ClaimResult)> done) : done_(std::move(done)) {}
ClaimDeferral::~ClaimDeferral() = default;

ClaimTicket ClaimDeferral::defer() {
  if (!state_) {
    auto cell = std::make_shared<detail::ClaimCell>();
    if (internal_) {
      cell->wake = internal_->wake();
      internal_->cell = cell;
    } else {
      cell->done = std::move(done_);
    }
    state_ = std::make_shared<detail::ClaimState>();
    state_->cell = std::move(cell);
  }
  return ClaimTicket(state_);
}

// ---- IdempotencyStore ------------------------------------------------------

struct IdempotencyStore::Marks {
  std::mutex m;
  std::map<std::string, std::chrono::sys_time<std::chrono::microseconds>, std::less<>> values;
};

// Made here, not at the first save_mark(): load_mark() may run on another thread meanwhile.
IdempotencyStore::IdempotencyStore() : marks_(std::make_shared<Marks>()) {}
IdempotencyStore::~IdempotencyStore() = default;

std::optional<std::chrono::sys_time<std::chrono::microseconds>> IdempotencyStore::load_mark(std::string_view name) {
  std::lock_guard lock(marks_->m);
  auto it = marks_->values.find(name);
  if (it == marks_->values.end())
    return std::nullopt;
  return it->second;
}

void IdempotencyStore::save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) {
  std::lock_guard lock(marks_->m);
  marks_->values.insert_or_assign(std::string(name), t);
}

void IdempotencyStore::on_error(std::function<void(std::string_view)> hook) { on_error_ = std::move(hook); }

void IdempotencyStore::report(std::string_view message) const noexcept {
  try {
    if (on_error_) {
      on_error_(message);
      return;
    }
  } catch (...) {
  }
  std::fprintf(stderr, "topgg-webhook: %.*s\n", static_cast<int>(message.size()), message.data());
}

// ---- MemoryStore -----------------------------------------------------------

namespace {

// SipHash-2-4 with 128-bit output (Aumasson and Bernstein), keyed per store.
struct Fingerprint {
  std::uint64_t a = 0, b = 0;
  bool operator==(const Fingerprint&) const = default;
};

constexpr std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }

struct Sip {
  std::uint64_t v0, v1, v2, v3;
  void round() noexcept {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void absorb(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
};

std::uint64_t load_le(const unsigned char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v |= std::uint64_t(p[i]) << (8 * i);
  return v;
}

} // namespace

namespace detail {
// Exposed for the unit test's reference vector.
TOPGG_API std::array<std::uint64_t, 2> siphash128(const std::array<std::uint64_t, 2>& key, std::string_view msg) noexcept {
  Sip s{key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull ^ 0xee, key[0] ^ 0x6c7967656e657261ull,
        key[1] ^ 0x7465646279746573ull};
  const auto* p = reinterpret_cast<const unsigned char*>(msg.data());
  const std::size_t whole = msg.size() / 8 * 8;
  for (std::size_t i = 0; i < whole; i += 8)
    s.absorb(load_le(p + i, 8));
  s.absorb(load_le(p + whole, msg.size() - whole) | (std::uint64_t(msg.size()) << 56));
  s.v2 ^= 0xee;
  for (int i = 0; i < 4; ++i)
    s.round();
  const std::uint64_t a = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
  s.v1 ^= 0xdd;
  for (int i = 0; i < 4; ++i)
    s.round();
  return {a, s.v0 ^ s.v1 ^ s.v2 ^ s.v3};
}
} // namespace detail

/// Open addressing with linear probing over a power-of-two table at most half
/// full, backward-shift deletion, and a FIFO ring of insertions for eviction
/// when `capacity` keys are held. An entry whose time has passed is free.
struct MemoryStore::Table {
  enum : std::uint8_t { empty, claimed, done };
  struct Entry {
    Fingerprint fp;
    Clock::time_point expires;
    std::uint64_t seq = 0; // insertion number: the ring evicts only the insertion it recorded
    std::uint8_t state = empty;
  };
  struct Inserted {
    Fingerprint fp;
    std::uint64_t seq;
  };

  explicit Table(std::size_t cap) : capacity(std::max<std::size_t>(cap, 1)) {
    std::random_device rd;
    key = {(std::uint64_t(rd()) << 32) ^ rd(), (std::uint64_t(rd()) << 32) ^ rd()};
  }

  void allocate() {
    std::size_t n = 16;
    while (n < 2 * capacity)
      n *= 2;
    slots.assign(n, Entry{});
    ring.assign(2 * capacity, Inserted{}); // room for records of released or lapsed keys too
  }

  Fingerprint print(std::string_view k) const noexcept {
    const auto h = detail::siphash128(key, k);
    return {h[0], h[1]};
  }
  std::size_t home(const Fingerprint& fp) const noexcept { return fp.a & (slots.size() - 1); }

  Entry* find(const Fingerprint& fp) noexcept {
    if (slots.empty())
      return nullptr;
    for (std::size_t i = home(fp);; i = (i + 1) & (slots.size() - 1)) {
      Entry& e = slots[i];
      if (e.state == empty)
        return nullptr;
      if (e.fp == fp)
        return &e;
    }
  }

  void erase(Entry* e) noexcept {
    const std::size_t mask = slots.size() - 1;
    std::size_t hole = static_cast<std::size_t>(e - slots.data());
    for (std::size_t i = (hole + 1) & mask; slots[i].state != empty; i = (i + 1) & mask) {
      // Move an entry back into the hole unless its home lies cyclically in (hole, i].
      const std::size_t h = home(slots[i].fp);
      const bool stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
      if (stays)
        continue;
      slots[hole] = slots[i];
      hole = i;
    }
    slots[hole] = Entry{};
    --count;
  }

  // Drops the oldest insertion record, and its key if that insertion is still held.
  void pop_oldest() noexcept {
    const Inserted old = ring[ring_head];
    ring_head = (ring_head + 1) % ring.size();
    --ring_size;
    if (Entry* e = find(old.fp); e && e->seq == old.seq)
      erase(e);
  }

  Entry& insert(const Fingerprint& fp) {
    if (slots.empty())
      allocate();
    while (count >= capacity) // full: forget the oldest keys first
      pop_oldest();
    if (ring_size == ring.size())
      pop_oldest();
    std::size_t i = home(fp);
    while (slots[i].state != empty)
      i = (i + 1) & (slots.size() - 1);
    Entry& e = slots[i];
    e.fp = fp;
    e.seq = ++last_seq;
    ++count;
    ring[(ring_head + ring_size) % ring.size()] = {fp, e.seq};
    ++ring_size;
    return e;
  }

  std::mutex m;
  std::size_t capacity;
  std::array<std::uint64_t, 2> key{};
  std::vector<Entry> slots;
  std::vector<Inserted> ring;
  std::size_t ring_head = 0, ring_size = 0, count = 0;
  std::uint64_t last_seq = 0;
};

MemoryStore::MemoryStore(std::size_t capacity) : table_(std::make_unique<Table>(capacity)) {}
MemoryStore::~MemoryStore() = default;

std::optional<ClaimResult> MemoryStore::claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                              ClaimDeferral&) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  std::lock_guard lock(t.m);
  Table::Entry* e = t.find(fp);
  if (e && e->expires > now.mono)
    return e->state == Table::done ? ClaimResult::done : ClaimResult::in_progress;
  if (e) // lapsed: a new insertion, evicted in its own turn
    t.erase(e);
  Table::Entry& fresh = t.insert(fp);
  fresh.state = Table::claimed;
  fresh.expires = detail::later(now.mono, lease);
  return ClaimResult::claimed;
}

void MemoryStore::confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  std::lock_guard lock(t.m);
  Table::Entry* e = t.find(fp);
  if (!e) // evicted while it was handled: remember it again
    e = &t.insert(fp);
  e->state = Table::done;
  e->expires = detail::later(now.mono, ttl);
}

void MemoryStore::release(std::string_view key, Now) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  std::lock_guard lock(t.m);
  if (Table::Entry* e = t.find(fp); e && e->state == Table::claimed)
    t.erase(e);
}

std::size_t MemoryStore::size() const {
  std::lock_guard lock(table_->m);
  return table_->count;
}

} // namespace topgg
