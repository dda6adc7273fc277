// Internal: simdjson-backed decoding shared by the legacy and v1 decoders.
#pragma once

#include <simdjson.h>

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

/// `body` must be followed by simdjson::SIMDJSON_PADDING readable bytes.
DecodeStatus parse_padded(std::string_view body, simdjson::dom::element& root);

/// Copies `body` into a thread-local padded buffer, then parse_padded().
DecodeStatus parse_any(std::string_view body, simdjson::dom::element& root);

/// Grows `buf` so that parse_padded() may read past buf.size().
inline void reserve_padding(std::string& buf) { buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING); }

/// Fills `out` from a vote's `query`: a query string ("?a=1&b=2", '?'
/// optional) or an object whose values are strings (numbers and booleans are
/// kept as their JSON text; other values are skipped). Never fails.
void read_query(simdjson::dom::element value, Query& out);

DecodeStatus decode_padded(std::string_view body, BotVote& out);
DecodeStatus decode_padded(std::string_view body, ServerVote& out);

} // namespace topgg::detail
