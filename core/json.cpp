#include "json.hpp"

#include <bitset>

namespace topgg::detail {

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

bool read_query_field(simdjson::dom::element v, Query& out) {
  read_query(v, out);
  return true;
}

bool read_string(simdjson::dom::element v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  out.assign(s);
  return true;
}

bool read_string_or_null(simdjson::dom::element v, std::string& out) {
  if (v.is_null()) {
    out.clear();
    return true;
  }
  return read_string(v, out);
}

DecodeStatus read_object(simdjson::dom::element v, std::span<const Field> fields, std::string_view not_object) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS)
    return payload_error(not_object);
  std::bitset<16> seen;
  for (auto member : obj) {
    const std::string_view key = member.key;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].key != key)
        continue;
      if (seen[i])
        return payload_error("repeated field");
      seen[i] = true;
      if (DecodeStatus st = fields[i].read(member.value, fields[i].target, fields[i].bad); !st)
        return st;
      break;
    }
  }
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!seen[i] && !fields[i].missing.empty())
      return payload_error(fields[i].missing);
  return {};
}

} // namespace topgg::detail
