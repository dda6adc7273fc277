// Fuzz target: topgg::Query::parse. Cross-checks, abort() on mismatch:
// parse(text) → q1; parse(q1.encode()) → q2; q1 == q2 and the encodings are
// equal (decode → encode → decode is stable); parsing into a reused Query,
// copying and assigning give equal queries; get() finds each key's first value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "topgg/query.hpp"

namespace {
[[noreturn]] void fail(const char* what, std::string_view a = {}, std::string_view b = {}) {
  fuzz::fail("fuzz_query", what, a, b);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static topgg::Query reused; // longer queries from earlier inputs leave spare storage
  topgg::Query q1;
  q1.parse(text);
  reused.parse(text);
  if (!(q1 == reused))
    fail("parse into a reused Query differs", q1.encode(), reused.encode());

  const std::string e1 = q1.encode();
  topgg::Query q2;
  q2.parse(e1);
  if (!(q1 == q2))
    fail("parse(encode(q)) != q", e1, q2.encode());
  if (q2.encode() != e1)
    fail("encode is not stable", e1, q2.encode());
  topgg::Query q3;
  std::string with_mark(1, '?'); // not "?" + e1: GCC 12 -Wrestrict false positive
  with_mark += e1;
  q3.parse(with_mark);
  if (!(q1 == q3))
    fail("a leading '?' changes the parse", e1);

  for (char c : e1) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '_' || c == '.' || c == '~' || c == '%' || c == '=' || c == '&';
    if (!plain)
      fail("encode produced a byte that needs escaping", e1);
  }

  const topgg::Query copy(q1);
  topgg::Query assigned;
  assigned.parse("stale=1&stale=2&stale=3");
  assigned = q1;
  if (!(copy == q1) || !(assigned == q1))
    fail("copy or assignment differs", e1);

  for (std::size_t i = 0; i < q1.size(); ++i) {
    auto v = q1.get(q1[i].key);
    if (!v)
      fail("get() misses a key", q1[i].key);
    std::size_t first = 0;
    while (q1[first].key != q1[i].key)
      ++first;
    if (*v != q1[first].value)
      fail("get() does not return the first value", *v, q1[first].value);
  }

  // percent_decode never grows its input and agrees with parse() on one value.
  std::string out;
  topgg::percent_decode(text, out, false);
  if (out.size() > text.size())
    fail("percent_decode grew its input", text, out);
  topgg::percent_decode(text, out, true);
  if (out.size() > text.size())
    fail("percent_decode grew its input", text, out);
  return 0;
}
