// Internal: matching a header name (or a token such as "100-continue")
// against a known lower-case spelling, ASCII case-insensitively, eight bytes
// at a time. Exact for any input bytes: only the letters of the spelling may
// differ in case, so no other byte folds onto one (CR never matches '-').
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace topgg::detail {

template <std::size_t N> class Name {
  static_assert(N >= 2, "a name of at least one byte");
  static constexpr std::size_t len = N - 1;
  static constexpr std::size_t words = len < 8 ? 1 : (len + 7) / 8;

public:
  /// `lower` must be lower case (letters, digits, punctuation).
  consteval Name(const char (&lower)[N]) noexcept { // NOLINT(google-explicit-constructor): a literal
    for (std::size_t w = 0; w < words; ++w) {
      std::array<char, 8> text{}, fold{};
      for (std::size_t i = 0; i < 8 && i < len; ++i) {
        const char c = lower[offset(w) + i];
        text[i] = c;
        fold[i] = c >= 'a' && c <= 'z' ? 0x20 : 0;
      }
      text_[w] = std::bit_cast<std::uint64_t>(text);
      fold_[w] = ~std::bit_cast<std::uint64_t>(fold);
    }
  }

  constexpr std::size_t size() const noexcept { return len; }

  bool matches(std::string_view s) const noexcept {
    if (s.size() != len)
      return false;
    std::uint64_t diff = 0;
    for (std::size_t w = 0; w < words; ++w)
      diff |= (load(s.data() + offset(w)) ^ text_[w]) & fold_[w];
    return diff == 0;
  }

private:
  // Whole words from the start; the last one ends at the name's end (it may
  // overlap the one before). Under eight bytes: one partial word.
  static constexpr std::size_t offset(std::size_t w) noexcept { return len < 8 ? 0 : w + 1 < words ? 8 * w : len - 8; }
  static std::uint64_t load(const char* p) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, p, len < 8 ? len : 8);
    return v;
  }

  std::array<std::uint64_t, words> text_{}, fold_{};
};

} // namespace topgg::detail
