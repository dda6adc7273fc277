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

/// A Discord ID (user, bot, guild): 64 bits, decimal text in JSON. Compare,
/// hash by value(), print with to_string().
class TOPGG_API Snowflake {
public:
  constexpr Snowflake() noexcept = default; ///< 0: no ID
  /// The ID with this numeric value (what D++'s dpp::snowflake holds).
  constexpr explicit Snowflake(std::uint64_t v) noexcept : value_(v) {}

  /// Parses 1–20 ASCII digits with no sign, space or other byte, fitting in
  /// 64 bits. Returns nullopt otherwise (empty, non-digit, overflow).
  static std::optional<Snowflake> parse(std::string_view text) noexcept;

  /// The numeric value.
  constexpr std::uint64_t value() const noexcept { return value_; }

  /// Decimal text; `buf` must hold 20 bytes. Returns a view into `buf`.
  std::string_view format(std::array<char, 20>& buf) const noexcept;
  /// Decimal text, as Top.gg sent it ("264811613708746752").
  std::string to_string() const;

  /// Ordered by numeric value.
  friend constexpr auto operator<=>(Snowflake, Snowflake) noexcept = default;

private:
  std::uint64_t value_ = 0;
};

} // namespace topgg
