// Internal: comparing a secret in constant time.
#pragma once

#include <string>
#include <string_view>

namespace topgg::detail {

/// A route's auth key, kept zero-padded to whole 16-byte blocks so that it is
/// compared a block at a time: CRYPTO_memcmp of 16 bytes is a handful of
/// instructions, of 29 bytes a loop of 29 steps.
class Secret {
public:
  Secret() = default;
  explicit Secret(std::string_view key);
  /// Compares `given` with the key in time that depends on the key's size and
  /// given.size() only, never on how much of `given` is right.
  bool matches(std::string_view given) const;

private:
  std::string padded_;
  std::size_t size_ = 0;
};

/// Why a legacy route refused a request without Authorization: the refusal's
/// detail, which the metrics tell apart from a wrong key.
inline constexpr std::string_view authorization_missing = "Authorization header missing";

/// The same for a key given now (padded on each call, without allocating).
bool key_matches(std::string_view given, std::string_view key);

} // namespace topgg::detail
