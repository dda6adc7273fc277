// Fuzz target: legacy vote decoding, topgg::decode(body, BotVote / ServerVote).
// Cross-checks, abort() on mismatch:
// - decoding into a vote reused from earlier inputs gives the same result as
//   decoding into a fresh one (storage reuse must not leak old fields);
// - a decoded vote, written back as JSON (query as a form-encoded string, and
//   as an object when its text is valid UTF-8), decodes to the same fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "topgg/votes.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view a = {}, std::string_view b = {}) {
  fuzz::fail("fuzz_votes", what, a, b);
}

bool same(const topgg::BotVote& a, const topgg::BotVote& b) {
  return a.bot == b.bot && a.user == b.user && a.type == b.type && a.is_weekend == b.is_weekend && a.query == b.query;
}
bool same(const topgg::ServerVote& a, const topgg::ServerVote& b) {
  return a.guild == b.guild && a.user == b.user && a.type == b.type && a.query == b.query;
}

void write_query(std::string& out, const topgg::Query& q, bool as_object) {
  if (!as_object) {
    std::string text(1, '?'); // not "?" + encode(): GCC 12 -Wrestrict false positive
    text += q.encode();
    fuzz::json_string(out, text);
    return;
  }
  out.push_back('{');
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (i)
      out.push_back(',');
    fuzz::json_string(out, q[i].key);
    out.push_back(':');
    fuzz::json_string(out, q[i].value);
  }
  out.push_back('}');
}

std::string to_json(const topgg::BotVote& v, bool query_object) {
  std::string s = "{\"user\":\"" + v.user.to_string() + "\",\"bot\":\"" + v.bot.to_string() + "\",\"type\":";
  fuzz::json_string(s, topgg::to_string(v.type));
  s += v.is_weekend ? ",\"isWeekend\":true" : ",\"isWeekend\":false";
  s += ",\"query\":";
  write_query(s, v.query, query_object);
  return s + "}";
}

std::string to_json(const topgg::ServerVote& v, bool query_object) {
  std::string s = "{\"guild\":\"" + v.guild.to_string() + "\",\"type\":";
  fuzz::json_string(s, topgg::to_string(v.type));
  s += ",\"query\":";
  write_query(s, v.query, query_object);
  return s + ",\"user\":\"" + v.user.to_string() + "\"}";
}

bool utf8_query(const topgg::Query& q) {
  for (const auto& p : q)
    if (!fuzz::valid_utf8(p.key) || !fuzz::valid_utf8(p.value))
      return false;
  return true;
}

template <class Vote> void check(std::string_view body) {
  static Vote reused; // keeps whatever the previous inputs left in it
  Vote fresh;
  const topgg::DecodeStatus a = topgg::decode(body, fresh);
  const topgg::DecodeStatus b = topgg::decode(body, reused);
  if (a.error != b.error || a.detail != b.detail)
    fail("fresh and reused decodes disagree on the status", a.detail, b.detail);
  if (a.detail.empty() != bool(a))
    fail("a failure without a detail, or a success with one", a.detail);
  if (!a)
    return;
  if (!same(fresh, reused))
    fail("fresh and reused decodes disagree on the fields", to_json(fresh, false), to_json(reused, false));
  for (bool object : {false, true}) {
    if (object && !utf8_query(fresh.query))
      continue;
    const std::string json = to_json(fresh, object);
    Vote again;
    if (const auto st = topgg::decode(json, again); !st)
      fail("re-serialised vote does not decode", json, st.detail);
    if (!same(fresh, again))
      fail("re-serialised vote decodes to other fields", to_json(fresh, object), to_json(again, object));
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check<topgg::BotVote>(body);
  check<topgg::ServerVote>(body);
  return 0;
}
