#include "topgg/snowflake.hpp"

#include <limits>

namespace topgg {

std::optional<Snowflake> Snowflake::parse(std::string_view text) noexcept {
  if (text.empty() || text.size() > 20)
    return std::nullopt;
  if (text.size() < 20) { // at most 19 digits cannot overflow 64 bits: no per-digit check
    std::uint64_t v = 0;
    for (char c : text) {
      const unsigned d = static_cast<unsigned char>(c) - unsigned('0');
      if (d > 9)
        return std::nullopt;
      v = v * 10 + d;
    }
    return Snowflake{v};
  }
  std::uint64_t v = 0;
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10)
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
