// The baselines: llhttp and simdjson used bare, the least any server built on
// them does per request. Shared by bench-core and bench-callgrind.
#pragma once

#include <llhttp.h>
#include <simdjson.h>

#include <cstddef>
#include <string_view>

namespace topgg_bench {

inline volatile std::size_t sink; // keeps results alive without Google Benchmark

/// llhttp with no callbacks at all.
inline const llhttp_settings_t& bare_settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    return x;
  }();
  return s;
}

/// Reads every field of a legacy vote as a view; what a minimal decoder does.
template <bool Bot> inline bool read_vote(simdjson::ondemand::parser& parser, const simdjson::padded_string& body) {
  simdjson::ondemand::document doc;
  if (parser.iterate(body).get(doc))
    return false;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj))
    return false;
  std::size_t sum = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return false;
    auto v = field.value();
    if (key == "isWeekend") {
      bool b = false;
      if (v.get_bool().get(b))
        return false;
      sum += b;
    } else if (key == "query") {
      simdjson::ondemand::json_type t;
      if (v.type().get(t))
        return false;
      if (t == simdjson::ondemand::json_type::object) {
        simdjson::ondemand::object q;
        if (v.get_object().get(q))
          return false;
        for (auto kv : q) {
          std::string_view k, s;
          if (kv.unescaped_key().get(k) || kv.value().get_string().get(s))
            return false;
          sum += k.size() + s.size();
        }
      } else {
        std::string_view s;
        if (v.get_string().get(s))
          return false;
        sum += s.size();
      }
    } else {
      std::string_view s;
      if (v.get_string().get(s))
        return false;
      sum += s.size();
    }
  }
  sink = sum;
  return Bot || sum > 0;
}

/// The same with the DOM API (what the library uses, for its whole-document
/// validation): parse, then read every field as a view.
inline bool read_vote_dom(simdjson::dom::parser& parser, const simdjson::padded_string& body) {
  simdjson::dom::element root;
  if (parser.parse(body).get(root))
    return false;
  simdjson::dom::object obj;
  if (root.get_object().get(obj))
    return false;
  std::size_t sum = 0;
  for (auto field : obj) {
    sum += field.key.size();
    std::string_view s;
    bool b = false;
    simdjson::dom::object q;
    if (!field.value.get_string().get(s))
      sum += s.size();
    else if (!field.value.get_bool().get(b))
      sum += b;
    else if (!field.value.get_object().get(q))
      for (auto kv : q)
        if (!kv.value.get_string().get(s))
          sum += kv.key.size() + s.size();
  }
  sink = sum;
  return sum > 0;
}

} // namespace topgg_bench
