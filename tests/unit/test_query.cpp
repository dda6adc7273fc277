#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "topgg/query.hpp"

namespace {
std::vector<std::string> pairs(const topgg::Query& q) {
  std::vector<std::string> out;
  for (const auto& p : q)
    out.push_back(p.key + "=" + p.value);
  return out;
}
std::vector<std::string> parsed(std::string_view text) {
  topgg::Query q;
  q.parse(text);
  return pairs(q);
}
using V = std::vector<std::string>;
} // namespace

TEST_CASE("query strings: leading '?', repeated keys in order, keys without '='") {
  CHECK(parsed("?a=1&b=2") == V{"a=1", "b=2"});
  CHECK(parsed("a=1&b=2") == V{"a=1", "b=2"});
  CHECK(parsed("") == V{});
  CHECK(parsed("?") == V{});
  CHECK(parsed("&&a=1&&") == V{"a=1"});
  CHECK(parsed("a=1&a=2&a=3") == V{"a=1", "a=2", "a=3"});
  CHECK(parsed("flag&x=") == V{"flag=", "x="});
  CHECK(parsed("=v") == V{"=v"});
  CHECK(parsed("a=b=c") == V{"a=b=c"});
  CHECK(parsed("??a=1") == V{"?a=1"});
}

TEST_CASE("query strings: percent-decoding, '+' is a space, malformed escapes kept") {
  CHECK(parsed("name=J%C3%BCrgen+M") == V{"name=J\xC3\xBCrgen M"});
  CHECK(parsed("a%3Db=c%26d") == V{"a=b=c&d"});
  CHECK(parsed("x=%zz%4") == V{"x=%zz%4"});
  CHECK(parsed("x=%") == V{"x=%"});
  CHECK(parsed("x=%2b") == V{"x=+"});
  CHECK(parsed("x=%00y") == V{std::string("x=\0y", 4)});
}

TEST_CASE("query: get returns the first value") {
  topgg::Query q;
  q.parse("a=1&b=2&a=3");
  CHECK(q.get("a") == "1");
  CHECK(q.get("b") == "2");
  CHECK_FALSE(q.get("c"));
}

TEST_CASE("query: encode then parse gives the same pairs") {
  const char* inputs[] = {"a=1&b=2", "sp=a+b&pct=%25&amp=%26&eq=%3D", "k&=v&x=%zz", "u=J%C3%BCrgen&u=2"};
  for (const char* in : inputs) {
    topgg::Query q;
    q.parse(in);
    topgg::Query again;
    again.parse(q.encode());
    CHECK(again == q);
  }
}

TEST_CASE("query: reuse keeps storage and copies hold only live pairs") {
  topgg::Query q;
  q.parse("a=1&b=2&c=3");
  q.parse("z=9");
  CHECK(pairs(q) == V{"z=9"});
  topgg::Query copy = q;
  CHECK(pairs(copy) == V{"z=9"});
  copy.add("raw%", "v+");
  CHECK(copy.size() == 2);
  CHECK(copy[1].key == "raw%");
  CHECK(copy[1].value == "v+");
  q = copy;
  CHECK(q == copy);
}
