// The `query` of a vote: the parameters a voter's link carried to Top.gg.
#pragma once

#include "topgg/export.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace topgg {

/// Ordered list of decoded (key, value) pairs. Repeated keys are kept, in
/// order; a key without '=' has an empty value. Clearing keeps the storage,
/// so a Query reused for request after request stops allocating.
class TOPGG_API Query {
public:
  /// One decoded key=value pair.
  struct Param {
    std::string key;   ///< percent-decoded
    std::string value; ///< percent-decoded; "" for a key without '='
  };

  /// Replaces the contents with the parameters of a query string such as
  /// "?ref=home&x=1" (leading '?' optional). Percent-escapes are decoded and
  /// '+' is a space; a malformed escape is kept literally. Never fails.
  void parse(std::string_view text);

  /// Appends one pair, decoding neither side.
  void add(std::string_view key, std::string_view value);

  /// Removes every pair, keeping the storage.
  void clear() noexcept { size_ = 0; }
  /// Number of pairs, repeats included.
  std::size_t size() const noexcept { return size_; }
  /// True when there is no pair.
  bool empty() const noexcept { return size_ == 0; }
  /// The pairs in order: `for (const auto& [key, value] : vote.query)`.
  const Param* begin() const noexcept { return params_.data(); }
  /// Past the last pair.
  const Param* end() const noexcept { return params_.data() + size_; }
  /// The `i`-th pair (i < size()).
  const Param& operator[](std::size_t i) const noexcept { return params_[i]; }

  /// First value for `key`, if any.
  std::optional<std::string_view> get(std::string_view key) const noexcept;

  /// Form-encodes the pairs ("a=1&b=x%20y"), the inverse of parse().
  std::string encode() const;

  Query() = default;                            ///< No pair.
  Query(const Query& other);                    ///< Copies the pairs (not the spare storage).
  Query& operator=(const Query& other);         ///< Copies the pairs, reusing this one's storage.
  Query(Query&&) noexcept = default;            ///< Takes the pairs.
  Query& operator=(Query&&) noexcept = default; ///< Takes the pairs.
  /// Same pairs in the same order.
  friend TOPGG_API bool operator==(const Query& a, const Query& b) noexcept;

private:
  Param& next();
  std::vector<Param> params_; // params_[size_..] are spare, kept for reuse
  std::size_t size_ = 0;
};

/// Percent-decodes `in` into `out` ('+' → space when `plus_is_space`).
TOPGG_API void percent_decode(std::string_view in, std::string& out, bool plus_is_space = true);

} // namespace topgg
