#include "auth.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace topgg::detail {

// Time is a·key.size() + b·given.size(): the guess is copied whole into a
// zeroed key-sized scratch and CRYPTO_memcmp compares key-sized buffers, so
// neither how much of a guess is right nor how its length relates to the
// key's shows in timing (no early exit, no length-dependent branch).
bool key_matches(std::string_view given, std::string_view key) {
  thread_local std::vector<unsigned char> scratch; // a cache of capacity, not request state
  const std::size_t need = std::max(given.size(), key.size());
  if (scratch.size() < need)
    scratch.resize(need); // grows once per thread, then reused
  std::memset(scratch.data(), 0, key.size());
  if (!given.empty())
    std::memcpy(scratch.data(), given.data(), given.size());
  const int diff = CRYPTO_memcmp(scratch.data(), key.data(), key.size());
  return (diff == 0) & (given.size() == key.size());
}

} // namespace topgg::detail
