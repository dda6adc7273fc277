#include "json.hpp"

#include "bytes.hpp"

#include <algorithm>
#include <cassert>
#include <cstdarg>
#include <cstdint>
#include <cstdio>

namespace topgg::detail {

simdjson::dom::parser& json_parser() {
  // The parser is a thread_local with a constructor: naming it costs an init
  // guard and several TLS lookups. A plain pointer to it costs one.
  thread_local simdjson::dom::parser* known = nullptr;
  if (simdjson::dom::parser* p = known)
    return *p;
  thread_local simdjson::dom::parser parser;
  known = &parser;
  return parser;
}

std::string_view detail_text(const char* format, ...) {
  // A few buffers in turn, so that a detail survives one more decode on the
  // same thread (the pipeline tells the error hook, which may decode, and
  // then answers with the same text).
  thread_local char ring[4][160];
  thread_local unsigned next = 0;
  char* buf = ring[next++ % 4];
  std::va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buf, sizeof ring[0], format, args);
  va_end(args);
  return {buf, n < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(n), sizeof ring[0] - 1)};
}

DecodeStatus parse_padded(std::string_view body, simdjson::dom::element& root) {
  auto result = json_parser().parse(body.data(), body.size(), false);
  if (result.error() != simdjson::SUCCESS)
    return {Error::invalid_json, describe_json_error(body, result.error())};
  if (result.get(root) != simdjson::SUCCESS)
    return {Error::invalid_json, "body is not valid JSON"};
  return {};
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

DecodeStatus read_object(simdjson::dom::element v, std::span<const Field> fields, void* object,
                         std::string_view not_object, std::string_view prefix) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS)
    return payload_error(not_object);
  std::uint32_t seen = 0; // a bit per field: tables have at most 32
  const std::size_t n = fields.size();
  assert(n <= 32);
  std::size_t next = 0; // senders keep one order: the search starts after the last key found
  DecodeStatus why;     // ok until a nested object's reader refuses (simple readers never touch it)
  for (auto member : obj) {
    const std::string_view key = member.key;
    std::size_t i = next;
    for (std::size_t k = 0; k < n; ++k, i = i + 1 < n ? i + 1 : 0) {
      if (!same_bytes(fields[i].key, key))
        continue;
      const std::uint32_t bit = std::uint32_t(1) << i;
      if (seen & bit) // which one: the sender's JSON writer has a bug worth finding
        return payload_error(detail_text("repeated field \"%.*s%.*s\"", static_cast<int>(prefix.size()), prefix.data(),
                                         static_cast<int>(key.size()), key.data()));
      seen |= bit;
      if (!fields[i].read(member.value, object, why))
        return why ? payload_error(fields[i].bad) : why;
      next = i + 1 < n ? i + 1 : 0;
      break;
    }
  }
  if (seen == (std::uint64_t(1) << n) - 1) // every field there: none missing (the usual case)
    return {};
  for (std::size_t i = 0; i < n; ++i)
    if (!(seen & (std::uint32_t(1) << i)) && !fields[i].missing.empty())
      return payload_error(fields[i].missing);
  return {};
}

} // namespace topgg::detail
