// Discord snowflake IDs: 64-bit unsigned, carried as decimal strings in JSON.
#pragma once

#include "topgg/export.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace topgg {

class TOPGG_API Snowflake {
public:
  constexpr Snowflake() noexcept = default;
  constexpr explicit Snowflake(std::uint64_t v) noexcept : value_(v) {}

  /// Parses 1–20 ASCII digits with no sign, space or other byte, fitting in
  /// 64 bits. Returns nullopt otherwise (empty, non-digit, overflow).
  static std::optional<Snowflake> parse(std::string_view text) noexcept;

  constexpr std::uint64_t value() const noexcept { return value_; }

  /// Decimal text; `buf` must hold 20 bytes. Returns a view into `buf`.
  std::string_view format(std::array<char, 20>& buf) const noexcept;
  std::string to_string() const;

  friend constexpr auto operator<=>(Snowflake, Snowflake) noexcept = default;

private:
  std::uint64_t value_ = 0;
};

} // namespace topgg
