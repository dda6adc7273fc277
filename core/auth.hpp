// Internal: comparing a secret in constant time.
#pragma once

#include <string_view>

namespace topgg::detail {

/// Compares `given` with `key` in time that depends on key.size() and
/// given.size() only, never on how much of `given` is right.
bool key_matches(std::string_view given, std::string_view key);

} // namespace topgg::detail
