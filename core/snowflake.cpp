#include "topgg/snowflake.hpp"

#include <bit>
#include <cstring>
#include <limits>

namespace topgg {

namespace {

constexpr std::uint64_t bytes(unsigned char b) noexcept { return 0x0101010101010101ull * b; }

// Eight bytes, the first in the lowest byte whatever the machine.
std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big)
    v = __builtin_bswap64(v);
  return v;
}

// Eight ASCII digits at once (SWAR): false unless every byte is '0'..'9'.
// The text's first digit is the lowest byte; pairs, then quads, then the
// whole are combined with one multiply-add each, and no lane can carry into
// the next (99 and 9999 fit theirs).
bool eight_digits(std::uint64_t v, std::uint64_t& out) noexcept {
  const std::uint64_t high = v & bytes(0xF0), carried = (v + bytes(0x06)) & bytes(0xF0);
  if (((high ^ bytes(0x30)) | (carried ^ bytes(0x30))) != 0) // high nibble 3, and low nibble + 6 still 3: 0-9
    return false;
  v -= bytes('0');
  v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;   // two-digit lanes
  v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull; // four-digit lanes
  out = (v & 0xFFFF) * 10000 + (v >> 32);
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

} // namespace

std::optional<Snowflake> Snowflake::parse(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20)
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
