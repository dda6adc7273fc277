// Legacy Top.gg vote deliveries: bot votes (dbl) and server votes (dsl).
#pragma once

#include "topgg/export.hpp"

#include <string_view>

#include "topgg/error.hpp"
#include "topgg/query.hpp"
#include "topgg/snowflake.hpp"

namespace topgg {

enum class VoteType : unsigned char { upvote, test };
TOPGG_API std::string_view to_string(VoteType t) noexcept;

/// {"bot","user","type","isWeekend","query"}
struct BotVote {
  Snowflake bot;
  Snowflake user;
  VoteType type = VoteType::upvote;
  bool is_weekend = false;
  Query query;
};

/// {"guild","user","type","query"}
struct ServerVote {
  Snowflake guild;
  Snowflake user;
  VoteType type = VoteType::upvote;
  Query query;
};

/// Outcome of decoding a body: Error::ok, Error::invalid_json or
/// Error::invalid_payload, and why.
struct DecodeStatus {
  Error error = Error::ok;
  /// Why, in the library's words ("missing field user", "repeated field
  /// \"user\"", "body is not valid JSON: invalid literal (true, false or null
  /// expected) at byte 34 ('n')"; byte offsets count from 0); empty on
  /// success. Never a secret. Static storage, or a per-thread buffer that
  /// stays valid until four more failed decodes on the same thread: copy it
  /// to keep it.
  std::string_view detail;
  /// True on success.
  explicit operator bool() const noexcept { return error == Error::ok; }
};

/// Decodes a bot-vote body into `out` (whose storage is reused). `body` must
/// be one JSON object; IDs are strings of digits; `type` is "upvote" or
/// "test"; `query` is optional (string or object) and never fails the vote;
/// unknown fields are ignored; a repeated known field is an error.
TOPGG_API DecodeStatus decode(std::string_view body, BotVote& out);
TOPGG_API DecodeStatus decode(std::string_view body, ServerVote& out);

} // namespace topgg
