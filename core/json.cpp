#include "json.hpp"

#include <cstdint>
#include <cstring>

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

namespace {
// Keys are compared by size and first byte before their bytes: most
// candidates differ there.
bool same_key(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}
} // namespace

DecodeStatus read_object(simdjson::dom::element v, std::span<const Field> fields, void* object,
                         std::string_view not_object) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS)
    return payload_error(not_object);
  std::uint32_t seen = 0;
  std::size_t next = 0; // senders keep one order: the search starts after the last key found
  for (auto member : obj) {
    const std::string_view key = member.key;
    for (std::size_t k = 0; k < fields.size(); ++k) {
      const std::size_t i = next + k < fields.size() ? next + k : next + k - fields.size();
      if (!same_key(fields[i].key, key))
        continue;
      if (seen & (1u << i))
        return payload_error("repeated field");
      seen |= 1u << i;
      if (DecodeStatus st = fields[i].read(member.value, object, fields[i].bad); !st)
        return st;
      next = i + 1 < fields.size() ? i + 1 : 0;
      break;
    }
  }
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!(seen & (1u << i)) && !fields[i].missing.empty())
      return payload_error(fields[i].missing);
  return {};
}

} // namespace topgg::detail
