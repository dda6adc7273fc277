#include "topgg/snowflake.hpp"

#include <bit>
#include <cstring>
#include <limits>

#include "bytes.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace topgg {

namespace {

constexpr std::uint64_t bytes(unsigned char b) noexcept { return 0x0101010101010101ull * b; }

// Eight bytes, the first in the lowest byte whatever the machine.
std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v = detail::load_bytes<std::uint64_t>(p);
  if constexpr (std::endian::native == std::endian::big)
    v = __builtin_bswap64(v);
  return v;
}

// Eight ASCII digits at once (SWAR). non_digits() is zero exactly when every
// byte is '0'..'9' (high nibble 3, and low nibble + 6 still 3); it is cheap
// enough to test several words before one branch.
std::uint64_t non_digits(std::uint64_t v) noexcept {
  return ((v & bytes(0xF0)) ^ bytes(0x30)) | (((v + bytes(0x06)) & bytes(0xF0)) ^ bytes(0x30));
}

// The value of eight digits (non_digits(v) == 0). The text's first digit is
// the lowest byte; pairs, then quads, then the whole are combined with one
// multiply-add each, and no lane can carry into the next (99 and 9999 fit
// theirs).
std::uint64_t digits_value(std::uint64_t v) noexcept {
  v -= bytes('0');
  v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;   // two-digit lanes
  v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull; // four-digit lanes
  return (v & 0xFFFF) * 10000 + (v >> 32);
}

bool eight_digits(std::uint64_t v, std::uint64_t& out) noexcept {
  if (non_digits(v) != 0)
    return false;
  out = digits_value(v);
  return true;
}

constexpr std::uint64_t powers_of_ten[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};

// Up to 19 digits: cannot overflow 64 bits.
bool short_number(std::string_view text, std::uint64_t& out) noexcept {
  std::uint64_t v = 0, part = 0;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    if (!eight_digits(load8(text.data() + i), part))
      return false;
    v = v * 100000000 + part;
  }
  const std::size_t rest = text.size() - i;
  if (rest == 0) {
    out = v;
    return true;
  }
  // The last `rest` digits, with '0' before them (leading zeros add nothing):
  // the word ending at the text's end with its bytes already read replaced,
  // or, for a text under eight bytes, a copy.
  std::uint64_t word = bytes('0');
  if (i > 0) {
    const std::uint64_t read = (std::uint64_t(1) << (8 * (8 - rest))) - 1; // low bytes: digits already read
    word = (load8(text.data() + text.size() - 8) & ~read) | (bytes('0') & read);
  } else {
    char padded[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
    std::memcpy(padded + 8 - rest, text.data(), rest);
    word = load8(padded);
  }
  if (!eight_digits(word, part))
    return false;
  out = v * powers_of_ten[rest] + part;
  return true;
}

// Sixteen digits at p: false unless every byte is '0'..'9'. With SSE2 (every
// x86-64) the check is one compare of all sixteen bytes, and pairs, quads and
// eights are combined with one multiply-add each (pmaddwd); lanes are at most
// 99, 9999 and 99999999, inside their 16- or 32-bit signed lanes.
bool sixteen_digits(const char* p, std::uint64_t& out) noexcept {
#if defined(__SSE2__)
  const __m128i d = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), _mm_set1_epi8('0'));
  const __m128i nine = _mm_set1_epi8(9);
  if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) != 0xFFFF) // a byte above 9 after '0' went
    return false;
  const __m128i zero = _mm_setzero_si128();
  const __m128i by_10 = _mm_set1_epi32(0x0001000A), by_100 = _mm_set1_epi32(0x00010064),
                by_10000 = _mm_set1_epi32(0x00012710); // (first of a pair * k) + second, k in the low half
  const __m128i pairs = _mm_packs_epi32(_mm_madd_epi16(_mm_unpacklo_epi8(d, zero), by_10),
                                        _mm_madd_epi16(_mm_unpackhi_epi8(d, zero), by_10));
  const __m128i quads = _mm_madd_epi16(pairs, by_100);
  const __m128i eights = _mm_madd_epi16(_mm_packs_epi32(quads, quads), by_10000);
  out = static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_cvtsi128_si32(eights))) * 100000000 +
        static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_srli_si128(eights, 4)));
  return true;
#else
  const std::uint64_t a = load8(p), b = load8(p + 8);
  if ((non_digits(a) | non_digits(b)) != 0)
    return false;
  out = digits_value(a) * 100000000 + digits_value(b);
  return true;
#endif
}

} // namespace

std::optional<Snowflake> Snowflake::parse(std::string_view text) noexcept {
  const std::size_t n = text.size();
  // Discord's IDs have had 17 to 19 digits since 2016: sixteen at once, then
  // the last one to three, no loop and no overflow. Exact for any bytes;
  // other lengths take the general way.
  if (n >= 17 && n <= 19) {
    std::uint64_t v = 0;
    if (!sixteen_digits(text.data(), v))
      return std::nullopt;
    for (std::size_t i = 16; i < n; ++i) {
      const unsigned d = static_cast<unsigned char>(text[i]) - unsigned('0');
      if (d > 9)
        return std::nullopt;
      v = v * 10 + d;
    }
    return Snowflake{v};
  }
  if (n == 0 || n > 20)
    return std::nullopt;
  std::uint64_t v = 0;
  if (!short_number(text.substr(0, 19), v))
    return std::nullopt;
  if (text.size() == 20) { // only a 20th digit can overflow
    const unsigned d = static_cast<unsigned char>(text[19]) - unsigned('0');
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    if (d > 9 || v > (max - d) / 10)
      return std::nullopt;
    v = v * 10 + d;
  }
  return Snowflake{v};
}

std::string_view Snowflake::format(std::array<char, 20>& buf) const noexcept {
  std::size_t i = buf.size();
  std::uint64_t v = value_;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return {buf.data() + i, buf.size() - i};
}

std::string Snowflake::to_string() const {
  std::array<char, 20> buf;
  return std::string(format(buf));
}

} // namespace topgg
