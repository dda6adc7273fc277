#include "topgg/votes.hpp"

#include "../json.hpp"

namespace topgg {

std::string_view to_string(VoteType t) noexcept { return t == VoteType::test ? "test" : "upvote"; }

namespace detail {
namespace {

bool read_id(simdjson::dom::element v, Snowflake& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  auto id = Snowflake::parse(s);
  if (!id)
    return false;
  out = *id;
  return true;
}

bool read_type(simdjson::dom::element v, VoteType& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  if (s == "upvote")
    out = VoteType::upvote;
  else if (s == "test")
    out = VoteType::test;
  else
    return false;
  return true;
}

bool read_weekend(simdjson::dom::element v, bool& out) {
  out = false;
  return v.is_null() || v.get_bool().get(out) == simdjson::SUCCESS;
}

DecodeStatus decode_object(std::string_view body, std::span<const Field> fields, void* object) {
  simdjson::dom::element root;
  if (auto st = parse_padded(body, root); !st)
    return st;
  return read_object(root, fields, object, "body is not a JSON object");
}

constexpr Field bot_fields[] = {
    field<&BotVote::bot, read_id>("bot", "bot is not a snowflake string", "missing field bot"),
    field<&BotVote::user, read_id>("user", "user is not a snowflake string", "missing field user"),
    field<&BotVote::type, read_type>("type", "type is not \"upvote\" or \"test\"", "missing field type"),
    field<&BotVote::is_weekend, read_weekend>("isWeekend", "isWeekend is not a boolean"),
    field<&BotVote::query, read_query_field>("query", {}),
};

constexpr Field server_fields[] = {
    field<&ServerVote::guild, read_id>("guild", "guild is not a snowflake string", "missing field guild"),
    field<&ServerVote::user, read_id>("user", "user is not a snowflake string", "missing field user"),
    field<&ServerVote::type, read_type>("type", "type is not \"upvote\" or \"test\"", "missing field type"),
    field<&ServerVote::query, read_query_field>("query", {}),
};

} // namespace

DecodeStatus decode_padded(std::string_view body, BotVote& out) {
  out.is_weekend = false; // optional fields: absent means the default
  out.query.clear();
  return decode_object(body, bot_fields, &out);
}

DecodeStatus decode_padded(std::string_view body, ServerVote& out) {
  out.query.clear();
  return decode_object(body, server_fields, &out);
}

} // namespace detail

DecodeStatus decode(std::string_view body, BotVote& out) {
  return detail::with_padding(body, [&out](std::string_view b) { return detail::decode_padded(b, out); });
}

DecodeStatus decode(std::string_view body, ServerVote& out) {
  return detail::with_padding(body, [&out](std::string_view b) { return detail::decode_padded(b, out); });
}

} // namespace topgg
