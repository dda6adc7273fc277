#include "topgg/votes.hpp"

#include "json.hpp"

namespace topgg {

std::string_view to_string(VoteType t) noexcept { return t == VoteType::test ? "test" : "upvote"; }

namespace detail {

simdjson::dom::parser& json_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

DecodeStatus parse_padded(std::string_view body, simdjson::dom::element& root) {
  auto result = json_parser().parse(body.data(), body.size(), false);
  if (result.error() != simdjson::SUCCESS)
    return {Error::invalid_json, simdjson::error_message(result.error())};
  return result.get(root) == simdjson::SUCCESS ? DecodeStatus{} : DecodeStatus{Error::invalid_json, "parse"};
}

DecodeStatus parse_any(std::string_view body, simdjson::dom::element& root) {
  thread_local std::string padded;
  padded.assign(body);
  reserve_padding(padded);
  return parse_padded(padded, root);
}

void read_query(simdjson::dom::element value, Query& out) {
  out.clear();
  std::string_view s;
  if (value.get_string().get(s) == simdjson::SUCCESS) {
    out.parse(s);
    return;
  }
  simdjson::dom::object obj;
  if (value.get_object().get(obj) != simdjson::SUCCESS)
    return;
  thread_local std::string text;
  for (auto field : obj) {
    auto v = field.value;
    switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      out.add(field.key, v.get_string().value_unsafe());
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
    case simdjson::dom::element_type::BOOL:
      text = simdjson::minify(v);
      out.add(field.key, text);
      break;
    default:
      break;
    }
  }
}

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

enum : unsigned { seen_target = 1, seen_user = 2, seen_type = 4, seen_weekend = 8, seen_query = 16 };

// Bot and server votes differ only in the target key ("bot" / "guild") and
// isWeekend; `weekend` is null for server votes.
DecodeStatus decode_vote(std::string_view body, std::string_view target_key, Snowflake& target, Snowflake& user,
                         VoteType& type, bool* weekend, Query& query) {
  simdjson::dom::element root;
  if (auto st = parse_padded(body, root); !st)
    return st;
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS)
    return {Error::invalid_payload, "body is not a JSON object"};
  unsigned seen = 0;
  query.clear();
  if (weekend)
    *weekend = false;
  auto once = [&seen](unsigned bit) {
    const bool first = !(seen & bit);
    seen |= bit;
    return first;
  };
  for (auto field : obj) {
    const std::string_view key = field.key;
    if (key == target_key) {
      if (!once(seen_target))
        return {Error::invalid_payload, "repeated field"};
      if (!read_id(field.value, target))
        return {Error::invalid_payload, target_key == "bot" ? "bot is not a snowflake string"
                                                            : "guild is not a snowflake string"};
    } else if (key == "user") {
      if (!once(seen_user))
        return {Error::invalid_payload, "repeated field"};
      if (!read_id(field.value, user))
        return {Error::invalid_payload, "user is not a snowflake string"};
    } else if (key == "type") {
      if (!once(seen_type))
        return {Error::invalid_payload, "repeated field"};
      if (!read_type(field.value, type))
        return {Error::invalid_payload, "type is not \"upvote\" or \"test\""};
    } else if (weekend && key == "isWeekend") {
      if (!once(seen_weekend))
        return {Error::invalid_payload, "repeated field"};
      bool b = false;
      if (!field.value.is_null() && field.value.get_bool().get(b) != simdjson::SUCCESS)
        return {Error::invalid_payload, "isWeekend is not a boolean"};
      *weekend = b;
    } else if (key == "query") {
      if (!once(seen_query))
        return {Error::invalid_payload, "repeated field"};
      read_query(field.value, query);
    }
  }
  if (!(seen & seen_target))
    return {Error::invalid_payload, target_key == "bot" ? "missing field bot" : "missing field guild"};
  if (!(seen & seen_user))
    return {Error::invalid_payload, "missing field user"};
  if (!(seen & seen_type))
    return {Error::invalid_payload, "missing field type"};
  return {};
}

} // namespace

DecodeStatus decode_padded(std::string_view body, BotVote& out) {
  return decode_vote(body, "bot", out.bot, out.user, out.type, &out.is_weekend, out.query);
}

DecodeStatus decode_padded(std::string_view body, ServerVote& out) {
  return decode_vote(body, "guild", out.guild, out.user, out.type, nullptr, out.query);
}

} // namespace detail

DecodeStatus decode(std::string_view body, BotVote& out) {
  thread_local std::string padded;
  padded.assign(body);
  detail::reserve_padding(padded);
  return detail::decode_padded(padded, out);
}

DecodeStatus decode(std::string_view body, ServerVote& out) {
  thread_local std::string padded;
  padded.assign(body);
  detail::reserve_padding(padded);
  return detail::decode_padded(padded, out);
}

} // namespace topgg
