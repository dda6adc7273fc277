#include "decode.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace topgg::api::detail {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

enum class Presence { required, optional };

/// IDs are documented as JSON strings; an unsigned integer is accepted too and kept as its decimal
/// text (what the same ID sent as a string would be), null or absence only when `optional`.
bool read_id(object o, const char* key, Presence presence, std::string& out) {
  element v;
  if (o[key].get(v) != simdjson::SUCCESS || v.is_null()) {
    out.clear();
    return presence == Presence::optional;
  }
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) {
    out.assign(s);
    return presence == Presence::optional || !out.empty();
  }
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) == simdjson::SUCCESS) {
    out = std::to_string(n);
    return true;
  }
  return false;
}

/// A string that is only descriptive: absent or null reads as "".
bool read_text(object o, const char* key, std::string& out) {
  element v;
  out.clear();
  if (o[key].get(v) != simdjson::SUCCESS || v.is_null())
    return true;
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  out.assign(s);
  return true;
}

bool read_time(object o, const char* key, Presence presence, v1::Timestamp& out) {
  element v;
  out = {};
  if (o[key].get(v) != simdjson::SUCCESS || v.is_null())
    return presence == Presence::optional;
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  const auto t = v1::parse_rfc3339(s);
  if (!t)
    return false;
  out = *t;
  return true;
}

bool root_object(simdjson::dom::parser& parser, const std::string& body, object& out, std::string& why) {
  element root;
  if (const auto err = parser.parse(body).get(root); err != simdjson::SUCCESS) {
    why = std::string("the answer is not JSON (") + simdjson::error_message(err) + ")";
    return false;
  }
  if (root.get_object().get(out) != simdjson::SUCCESS) {
    why = "the answer is not a JSON object";
    return false;
  }
  return true;
}

std::string record_error(std::size_t index, std::string_view what) {
  return "vote record " + std::to_string(index) + ": " + std::string(what);
}

} // namespace

bool decode_project(simdjson::dom::parser& parser, const std::string& body, Project& out, std::string& why) {
  object o;
  if (!root_object(parser, body, o, why))
    return false;
  if (!read_id(o, "id", Presence::required, out.id)) {
    why = "project: \"id\" missing or not a string";
    return false;
  }
  if (!read_id(o, "platform_id", Presence::optional, out.platform_id)) {
    why = "project: \"platform_id\" is not a string";
    return false;
  }
  for (auto [key, target] : {std::pair{"name", &out.name}, {"type", &out.type}, {"platform", &out.platform}}) {
    if (!read_text(o, key, *target)) {
      why = std::string("project: \"") + key + "\" is not a string";
      return false;
    }
  }
  return true;
}

bool decode_votes_page(simdjson::dom::parser& parser, const std::string& body, VotesPage& out, std::string& why) {
  out.cursor.clear();
  out.records.clear();
  object o;
  if (!root_object(parser, body, o, why))
    return false;
  if (!read_text(o, "cursor", out.cursor)) {
    why = "votes page: \"cursor\" is not a string";
    return false;
  }
  simdjson::dom::array data;
  if (o["data"].get_array().get(data) != simdjson::SUCCESS) {
    why = "votes page: \"data\" missing or not an array";
    return false;
  }
  out.records.reserve(data.size());
  std::size_t index = 0;
  for (element item : data) {
    object r;
    if (item.get_object().get(r) != simdjson::SUCCESS) {
      why = record_error(index, "not an object");
      return false;
    }
    VoteRecord& rec = out.records.emplace_back();
    // user_id and created_at make the de-duplication key, weight the reward: without them the
    // record is useless, so the page is refused rather than half-used.
    if (!read_id(r, "user_id", Presence::required, rec.user_id)) {
      why = record_error(index, "\"user_id\" missing or not a string");
      return false;
    }
    if (!read_id(r, "platform_id", Presence::optional, rec.platform_id)) {
      why = record_error(index, "\"platform_id\" is not a string");
      return false;
    }
    if (r["weight"].get_int64().get(rec.weight) != simdjson::SUCCESS) {
      why = record_error(index, "\"weight\" missing or not an integer");
      return false;
    }
    if (!read_time(r, "created_at", Presence::required, rec.created_at)) {
      why = record_error(index, "\"created_at\" missing or not an RFC 3339 date-time");
      return false;
    }
    if (!read_time(r, "expires_at", Presence::optional, rec.expires_at)) {
      why = record_error(index, "\"expires_at\" is not an RFC 3339 date-time");
      return false;
    }
    ++index;
  }
  return true;
}

} // namespace topgg::api::detail
