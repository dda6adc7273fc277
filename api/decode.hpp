// Internal: the JSON answers of Top.gg's API, decoded with simdjson (DOM, which validates the
// whole document, so trailing garbage or invalid JSON in an ignored field is refused).
#pragma once

#include <simdjson.h>

#include <string>

#include "topgg/api.hpp"

namespace topgg::api::detail {

/// Both decoders: `body` must have simdjson::SIMDJSON_PADDING bytes of spare capacity (else it is
/// copied). Unknown fields are ignored. On failure `why` says what is wrong (no body text).
bool decode_project(simdjson::dom::parser& parser, const std::string& body, Project& out, std::string& why);
bool decode_votes_page(simdjson::dom::parser& parser, const std::string& body, VotesPage& out, std::string& why);

} // namespace topgg::api::detail
