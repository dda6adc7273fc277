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
#include "memory_connections.hpp"
#include "memory_votes.hpp"
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
bool IdempotencyStore::available() const noexcept { return true; }
std::string IdempotencyStore::unavailable_reason() const { return {}; }

VoteLedger* IdempotencyStore::vote_ledger() noexcept { return nullptr; }

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
TOPGG_API std::array<std::uint64_t, 2> siphash128(const std::array<std::uint64_t, 2>& key,
                                                  std::string_view msg) noexcept {
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

/// A slab of `capacity` nodes, found through open addressing with linear
/// probing over a power-of-two table of node numbers at most half full;
/// backward-shift deletion moves only the numbers, so a node never moves and
/// can sit on a list. Each node is on one of three lists, oldest first:
/// unused, claimed (in the order claimed) and done (in the order confirmed).
/// With every node in use, a new key takes the node of the oldest claim if
/// its lease lapsed, else of the oldest done key; a claim still leased is
/// never forgotten (its delivery may still be handled), so with nothing else
/// to forget the new claim is refused.
struct MemoryStore::Table {
  enum : std::uint8_t { unused, claimed, done, states };
  static constexpr std::uint32_t none = 0xFFFFFFFF;
  static constexpr std::size_t not_found = std::size_t(-1);
  struct Node {
    Fingerprint fp;
    Clock::time_point expires;
    std::uint32_t prev = none, next = none;
    std::uint8_t state = unused;
  };
  struct List {
    std::uint32_t head = none, tail = none;
    std::size_t size = 0;
  };

  // Node numbers are 32 bits; 2^31 nodes would take 80 GiB anyway.
  explicit Table(std::size_t cap) : capacity(std::clamp<std::size_t>(cap, 1, std::size_t(1) << 31)) {
    std::random_device rd;
    key = {(std::uint64_t(rd()) << 32) ^ rd(), (std::uint64_t(rd()) << 32) ^ rd()};
  }

  void allocate() {
    std::size_t n = 16;
    while (n < 2 * capacity)
      n *= 2;
    slots.assign(n, 0);
    nodes.assign(capacity, Node{});
    for (std::size_t i = 0; i < capacity; ++i)
      push(unused, static_cast<std::uint32_t>(i));
  }

  // ---- lists ----

  void push(std::uint8_t state, std::uint32_t i) noexcept {
    List& l = lists[state];
    Node& n = nodes[i];
    n.state = state;
    n.prev = l.tail;
    n.next = none;
    (l.tail == none ? l.head : nodes[l.tail].next) = i;
    l.tail = i;
    ++l.size;
  }
  void unlink(std::uint32_t i) noexcept {
    Node& n = nodes[i];
    List& l = lists[n.state];
    (n.prev == none ? l.head : nodes[n.prev].next) = n.next;
    (n.next == none ? l.tail : nodes[n.next].prev) = n.prev;
    --l.size;
  }
  /// To the end of `state`'s list: the youngest there.
  void move(std::uint32_t i, std::uint8_t state) noexcept {
    unlink(i);
    push(state, i);
  }

  // ---- the index ----

  Fingerprint print(std::string_view k) const noexcept {
    const auto h = detail::siphash128(key, k);
    return {h[0], h[1]};
  }
  std::size_t mask() const noexcept { return slots.size() - 1; }
  std::size_t home(const Fingerprint& fp) const noexcept { return fp.a & mask(); }
  Node& at(std::size_t slot) noexcept { return nodes[slots[slot] - 1]; }

  /// The slot naming `fp`'s node, or not_found.
  std::size_t find(const Fingerprint& fp) noexcept {
    if (slots.empty())
      return not_found;
    for (std::size_t i = home(fp);; i = (i + 1) & mask()) {
      if (slots[i] == 0)
        return not_found;
      if (at(i).fp == fp)
        return i;
    }
  }

  /// Forgets the key at `slot`; its node becomes unused.
  void erase(std::size_t slot) noexcept {
    const std::uint32_t node = slots[slot] - 1;
    std::size_t hole = slot;
    for (std::size_t i = (hole + 1) & mask(); slots[i] != 0; i = (i + 1) & mask()) {
      // Move an entry back into the hole unless its home lies cyclically in (hole, i].
      const std::size_t h = home(at(i).fp);
      const bool stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
      if (stays)
        continue;
      slots[hole] = slots[i];
      hole = i;
    }
    slots[hole] = 0;
    move(node, unused);
  }

  /// Frees a node when all are in use: false if every key is claimed and leased.
  bool make_room(Clock::time_point now) noexcept {
    const std::uint32_t claim = lists[claimed].head;
    std::uint32_t victim = claim != none && nodes[claim].expires <= now ? claim : lists[done].head;
    if (victim == none)
      return false;
    erase(find(nodes[victim].fp));
    return true;
  }

  /// Holds `fp` in `state` until `expires`; nullptr when there is no room.
  Node* insert(const Fingerprint& fp, std::uint8_t state, Clock::time_point expires, Clock::time_point now) {
    if (slots.empty())
      allocate();
    if (lists[unused].size == 0 && !make_room(now))
      return nullptr;
    const std::uint32_t n = lists[unused].head;
    move(n, state);
    nodes[n].fp = fp;
    nodes[n].expires = expires;
    std::size_t i = home(fp);
    while (slots[i] != 0)
      i = (i + 1) & mask();
    slots[i] = n + 1;
    return &nodes[n];
  }

  std::size_t held() const noexcept { return lists[claimed].size + lists[done].size; }

  std::mutex m;
  std::size_t capacity;
  std::array<std::uint64_t, 2> key{};
  std::vector<std::uint32_t> slots; // node number + 1; 0 is an empty slot
  std::vector<Node> nodes;
  List lists[states];

  // Claims refused because every key was claimed and leased: in all, and the
  // episode now under way (told once when it begins and once when it ends).
  std::uint64_t refused = 0, refused_before = 0;
  bool full = false;
  Clock::time_point full_since{};
};

MemoryStore::MemoryStore(std::size_t capacity)
    : table_(std::make_unique<Table>(capacity)), votes_(std::make_unique<Votes>(*this)),
      connections_(std::make_unique<Connections>()) {}
MemoryStore::~MemoryStore() = default;

std::optional<ClaimResult> MemoryStore::claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                              ClaimDeferral&) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  // Told after the lock is released: the hook may ask this store something.
  char line[200];
  int told = 0;
  ClaimResult result = ClaimResult::claimed;
  {
    std::lock_guard lock(t.m);
    if (const std::size_t slot = t.find(fp); slot != Table::not_found) {
      const Table::Node& e = t.at(slot);
      if (e.expires > now.mono)
        return e.state == Table::done ? ClaimResult::done : ClaimResult::in_progress;
      t.erase(slot); // lapsed: claimed afresh below, as a new key
    }
    if (!t.insert(fp, Table::claimed, detail::later(now.mono, lease), now.mono)) {
      ++t.refused;
      if (t.full)
        return ClaimResult::unavailable;
      result = ClaimResult::unavailable;
      t.full = true;
      t.full_since = now.mono;
      t.refused_before = t.refused - 1;
      told = std::snprintf(line, sizeof line,
                           "memory store: all %zu keys are claimed by deliveries still being handled; "
                           "new deliveries are answered unavailable (503) until some finish",
                           t.capacity);
    } else if (t.full && t.lists[Table::claimed].size <= (t.capacity + 1) / 2) {
      // Over once at most half the keys are claimed, not at the first claim that
      // found room: at the edge, claims would take turns refused and admitted.
      t.full = false;
      const double s = std::chrono::duration<double>(now.mono - t.full_since).count();
      const std::uint64_t n = t.refused - t.refused_before;
      told = std::snprintf(line, sizeof line, "memory store: room for new deliveries again after %.1f s; %llu %s", s,
                           static_cast<unsigned long long>(n),
                           n == 1 ? "claim answered unavailable meanwhile" : "claims answered unavailable meanwhile");
    }
  }
  if (told > 0)
    report(std::string_view(line, std::min(static_cast<std::size_t>(told), sizeof line - 1)));
  return result;
}

void MemoryStore::confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) { confirm_once(key, now, ttl); }

/// Confirms `key`; false when it was done already (and not lapsed): the vote
/// book records a vote only with its key's first confirm.
bool MemoryStore::confirm_once(std::string_view key, Now now, std::chrono::milliseconds ttl) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  std::lock_guard lock(t.m);
  const std::size_t slot = t.find(fp);
  Table::Node* e = slot == Table::not_found ? nullptr : &t.at(slot);
  if (e) {
    const bool first = e->state != Table::done || e->expires <= now.mono;
    t.move(static_cast<std::uint32_t>(e - t.nodes.data()), Table::done); // the youngest done key now
    e->expires = detail::later(now.mono, ttl);
    return first;
  }
  // Its claim lapsed and was forgotten while it was handled: remember it again,
  // unless every key is claimed (then a retry is handled again).
  t.insert(fp, Table::done, detail::later(now.mono, ttl), now.mono);
  return true;
}

void MemoryStore::release(std::string_view key, Now) {
  Table& t = *table_;
  const Fingerprint fp = t.print(key);
  std::lock_guard lock(t.m);
  if (const std::size_t slot = t.find(fp); slot != Table::not_found && t.at(slot).state == Table::claimed)
    t.erase(slot);
}

std::size_t MemoryStore::size() const {
  std::lock_guard lock(table_->m);
  return table_->held();
}

std::uint64_t MemoryStore::refused_full() const {
  std::lock_guard lock(table_->m);
  return table_->refused;
}

VoteLedger* MemoryStore::vote_ledger() noexcept { return votes_.get(); }

} // namespace topgg
