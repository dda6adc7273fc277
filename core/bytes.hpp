// Internal: byte-level helpers the parsers share — equality of short byte
// strings (JSON keys, route paths, methods) without a call to memcmp, and the
// value of a hex digit (percent escapes, JSON \u escapes, v1 signatures).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace topgg::detail {

template <class T> T load_bytes(const char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// a == b, for any lengths; reads only the bytes of a and b.
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size())
    return false;
  const char *x = a.data(), *y = b.data();
  if (n - 4 <= 4) // 4 to 8 bytes (n - 4 wraps for fewer)
    return load_bytes<std::uint32_t>(x) == load_bytes<std::uint32_t>(y) &&
           load_bytes<std::uint32_t>(x + n - 4) == load_bytes<std::uint32_t>(y + n - 4);
  if (n - 9 <= 7) // 9 to 16
    return load_bytes<std::uint64_t>(x) == load_bytes<std::uint64_t>(y) &&
           load_bytes<std::uint64_t>(x + n - 8) == load_bytes<std::uint64_t>(y + n - 8);
  if (n - 1 <= 2) // 1 to 3: positions 0, n/2 and n-1 cover every byte
    return x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1];
  return n == 0 || std::memcmp(x, y, n) == 0;
}

/// Buffers a rare large request or answer grew past this are released once
/// done with; typical deliveries (< 1 KiB) keep theirs and stop allocating.
inline constexpr std::size_t keep_capacity = 16 * 1024;

/// 0-15 for a hex digit of either case, -1 for any other byte.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace topgg::detail
