// Legacy Top.gg vote deliveries: bot votes (dbl) and server votes (dsl).
#pragma once

#include "topgg/export.hpp"

#include <string>
#include <string_view>

#include "topgg/error.hpp"
#include "topgg/query.hpp"
#include "topgg/snowflake.hpp"

namespace topgg {

/// A real vote, or the one sent by the "Test" button of Top.gg's webhook page.
enum class VoteType : unsigned char { upvote, test };
/// "upvote" or "test", as in the JSON.
TOPGG_API std::string_view to_string(VoteType t) noexcept;

/// A bot vote (legacy "dbl" webhook): the body
/// `{"bot","user","type","isWeekend","query"}`, handled by on_bot_vote().
/// A handler gets a reference valid only during its call: copy it (it is a
/// plain value) to hand it to another thread.
struct BotVote {
  Snowflake bot;                    ///< the bot voted for (which one, when a process serves several)
  Snowflake user;                   ///< the voter's Discord ID
  VoteType type = VoteType::upvote; ///< test: sent by the dashboard's Test button
  bool is_weekend = false;          ///< votes count double on weekends
  Query query;                      ///< the vote link's query parameters ("?ref=home"), often empty
  std::string route; ///< the route (path) that received it, e.g. "/dbl"; set by the pipeline, not by decode
};

/// A server vote (legacy "dsl" webhook): the body
/// `{"guild","user","type","query"}`, handled by on_server_vote(). Valid
/// during the handler call only, as BotVote.
struct ServerVote {
  Snowflake guild;                  ///< the server (guild) voted for
  Snowflake user;                   ///< the voter's Discord ID
  VoteType type = VoteType::upvote; ///< test: sent by the dashboard's Test button
  Query query;                      ///< the vote link's query parameters, often empty
  std::string route;                ///< the route (path) that received it; set by the pipeline, not by decode
};

/// Outcome of decoding a body: Error::ok, Error::invalid_json or
/// Error::invalid_payload, and why.
struct DecodeStatus {
  Error error = Error::ok; ///< ok, invalid_json or invalid_payload
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
