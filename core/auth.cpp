#include "auth.hpp"

#include "topgg/http.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace topgg::detail {

namespace {

constexpr std::size_t block = 16;
constexpr std::size_t on_stack = 256;
constexpr std::size_t whole_blocks(std::size_t n) noexcept { return (n + block - 1) / block * block; }

/// `size` bytes of scratch: on the stack when small, else a per-thread
/// buffer that grows once and is reused (reached only then: a thread_local
/// costs a lookup each time it is named). Each `Use` has its own buffer.
template <int Use> unsigned char* scratch(unsigned char (&local)[on_stack], std::size_t size) {
  if (size <= on_stack)
    return local;
  thread_local std::vector<unsigned char> large; // a cache of capacity, not request state
  if (large.size() < size)
    large.resize(size);
  return large.data();
}

// Time is a·key size + b·given.size(): the guess is copied whole into a zeroed
// scratch of the padded key's size (or its own), and CRYPTO_memcmp compares
// every block of the padded key, so neither how much of a guess is right nor
// how its length relates to the key's shows in timing (no early exit, no
// length-dependent branch on the key).
bool compare(std::string_view given, const unsigned char* padded, std::size_t padded_size, std::size_t key_size) {
  unsigned char local[on_stack];
  unsigned char* guess = scratch<0>(local, std::max(padded_size, given.size()));
  std::memset(guess, 0, padded_size);
  if (!given.empty())
    std::memcpy(guess, given.data(), given.size());
  int diff = 0;
  for (std::size_t i = 0; i < padded_size; i += block) // 16 bytes a call: OpenSSL has a fast case for it
    diff |= CRYPTO_memcmp(guess + i, padded + i, block);
  return (diff == 0) & (given.size() == key_size);
}

} // namespace

Secret::Secret(std::string_view key) : padded_(key), size_(key.size()) { padded_.resize(whole_blocks(key.size())); }

bool Secret::matches(std::string_view given) const {
  return compare(given, reinterpret_cast<const unsigned char*>(padded_.data()), padded_.size(), size_);
}

bool key_matches(std::string_view given, std::string_view key) {
  unsigned char local[on_stack];
  const std::size_t padded = whole_blocks(key.size());
  unsigned char* k = scratch<1>(local, padded);
  std::memset(k, 0, padded);
  if (!key.empty())
    std::memcpy(k, key.data(), key.size());
  return compare(given, k, padded, key.size());
}

} // namespace topgg::detail

namespace topgg {
bool secret_equals(std::string_view given, std::string_view secret) { return detail::key_matches(given, secret); }
} // namespace topgg
