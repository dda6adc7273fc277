// Internal: simdjson-backed decoding shared by the legacy and v1 decoders.
#pragma once

#include <simdjson.h>

#include <span>
#include <string>
#include <string_view>

#include "topgg/query.hpp"
#include "topgg/votes.hpp"

namespace topgg::detail {

/// One DOM parser per thread, reused: its buffers grow to the largest body
/// seen and then stop allocating. DOM (not On-Demand) because it validates
/// the whole document, so a body with invalid JSON in an ignored field or
/// trailing bytes is refused rather than half-read.
simdjson::dom::parser& json_parser();

/// `body` must be followed by simdjson::SIMDJSON_PADDING readable bytes. A
/// refusal's detail is in the library's words (never simdjson's), e.g. "body
/// is not valid JSON: invalid literal (true, false or null expected) at byte
/// 14 ('n')"; byte offsets count from 0.
DecodeStatus parse_padded(std::string_view body, simdjson::dom::element& root);

/// Why `body` (refused by simdjson with `e`) is not JSON, and where.
std::string_view describe_json_error(std::string_view body, simdjson::error_code e);

/// printf into one of four thread-local buffers used in turn (160 bytes,
/// truncated): a DecodeStatus detail that stays valid until four more are
/// written on this thread.
[[gnu::format(printf, 1, 2)]] std::string_view detail_text(const char* format, ...);

/// Grows `buf` so that parse_padded() may read past buf.size().
inline void reserve_padding(std::string& buf) { buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING); }

/// Copies `body` into a thread-local padded buffer and runs `decode` on it.
template <class Decode> DecodeStatus with_padding(std::string_view body, Decode&& decode) {
  thread_local std::string padded;
  padded.assign(body);
  reserve_padding(padded);
  return decode(std::string_view(padded));
}

/// Fills `out` from a vote's `query`: a query string ("?a=1&b=2", '?'
/// optional) or an object whose values are strings (numbers and booleans are
/// kept as their JSON text; other values are skipped). Never fails.
void read_query(simdjson::dom::element value, Query& out);

constexpr DecodeStatus payload_error(std::string_view why) noexcept { return {Error::invalid_payload, why}; }

/// One known key of a JSON object, for read_object(): which member of the
/// object being filled its value goes to, what is said if it has the wrong
/// type, and whether it must be present. Tables of them are constants: no
/// table is built per request.
struct Field {
  /// False when the value is refused: `why` set (a nested object's own
  /// detail), or left ok to mean `bad`. A bool, not a DecodeStatus, so the
  /// usual outcome is one register.
  using Reader = bool (*)(simdjson::dom::element value, void* object, DecodeStatus& why);
  std::string_view key;
  Reader read;
  std::string_view bad;     ///< error detail when `read` refuses the value
  std::string_view missing; ///< error detail when absent; empty: optional
};

/// Reads the known keys of JSON object `v` into `object`'s members. Unknown
/// keys are ignored; a repeated known key (named, after `prefix`: "repeated
/// field \"user.id\""), a missing required one or a refused value is an error
/// (the first found). `not_object` is the detail when `v` is not an object.
/// At most 32 fields.
DecodeStatus read_object(simdjson::dom::element v, std::span<const Field> fields, void* object,
                         std::string_view not_object, std::string_view prefix = {});

template <class M> struct MemberOf;
template <class T, class C> struct MemberOf<T C::*> {
  using type = T;
  using owner = C;
};

/// Adapts `bool read(element, T&)` to a Field::Reader for member `Member`.
template <auto Member, auto Read> bool read_member(simdjson::dom::element v, void* object, DecodeStatus&) {
  using Owner = typename MemberOf<decltype(Member)>::owner;
  return Read(v, static_cast<Owner*>(object)->*Member);
}

/// A Field whose value `Read` stores into member `Member`.
template <auto Member, auto Read>
constexpr Field field(std::string_view key, std::string_view bad, std::string_view missing = {}) {
  return {key, &read_member<Member, Read>, bad, missing};
}

/// A Field whose value is an object read into member `Member` by
/// `DecodeStatus Read(element, T&)` (its own table).
template <auto Member, auto Read> bool read_nested(simdjson::dom::element v, void* object, DecodeStatus& why) {
  using Owner = typename MemberOf<decltype(Member)>::owner;
  why = Read(v, static_cast<Owner*>(object)->*Member);
  return static_cast<bool>(why);
}
template <auto Member, auto Read> constexpr Field nested(std::string_view key, std::string_view missing) {
  return {key, &read_nested<Member, Read>, {}, missing};
}

bool read_string(simdjson::dom::element v, std::string& out);
bool read_string_or_null(simdjson::dom::element v, std::string& out); ///< null → ""
bool read_query_field(simdjson::dom::element v, Query& out);         ///< read_query; never refuses

DecodeStatus decode_padded(std::string_view body, BotVote& out);
DecodeStatus decode_padded(std::string_view body, ServerVote& out);

} // namespace topgg::detail
