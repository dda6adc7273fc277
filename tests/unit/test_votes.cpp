#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include <simdjson.h>

#include "bytes.hpp"
#include "harness.hpp"
#include "topgg/votes.hpp"

using topgg::DecodeStatus;
using topgg::Error;
using topgg::Snowflake;

TEST_CASE("snowflake: parse and print round trip, bounds") {
  CHECK(Snowflake::parse("0")->value() == 0);
  CHECK(Snowflake::parse("264811613708746752")->value() == 264811613708746752ULL);
  CHECK(Snowflake::parse("18446744073709551615")->value() == std::numeric_limits<std::uint64_t>::max());
  CHECK_FALSE(Snowflake::parse("18446744073709551616"));
  CHECK_FALSE(Snowflake::parse("99999999999999999999"));
  CHECK_FALSE(Snowflake::parse("000000000000000000001"));
  CHECK_FALSE(Snowflake::parse(""));
  CHECK_FALSE(Snowflake::parse("-1"));
  CHECK_FALSE(Snowflake::parse("+1"));
  CHECK_FALSE(Snowflake::parse(" 1"));
  CHECK_FALSE(Snowflake::parse("1 "));
  CHECK_FALSE(Snowflake::parse("12a"));
  CHECK(Snowflake::parse("264811613708746752")->to_string() == "264811613708746752");
  CHECK(Snowflake(0).to_string() == "0");
  CHECK(Snowflake(std::numeric_limits<std::uint64_t>::max()).to_string() == "18446744073709551615");
  CHECK(Snowflake(5) < Snowflake(6));
}

TEST_CASE("snowflake: every length 1-20, every non-digit byte at every position, against a plain reference") {
  // The parser takes 16 digits at a time: each position of each length is its own case.
  // (Leading zeros are accepted, as since 0.1.0: "08" is 8.)
  auto reference = [](std::string_view s) -> std::optional<std::uint64_t> {
    if (s.empty() || s.size() > 20)
      return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9')
        return std::nullopt;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10)
        return std::nullopt;
      v = v * 10 + d;
    }
    return v;
  };
  const std::string digits = "98765432109876543210";
  std::size_t mismatches = 0, cases = 0;
  for (std::size_t len = 1; len <= 20; ++len) {
    const std::string good = digits.substr(0, len);
    for (std::size_t pos = 0; pos < len; ++pos)
      for (int b = 0; b < 256; ++b) {
        std::string s = good;
        s[pos] = static_cast<char>(b);
        const auto want = reference(s);
        const auto got = Snowflake::parse(s);
        ++cases;
        if (want.has_value() != got.has_value() || (want && got->value() != *want))
          ++mismatches;
      }
  }
  CHECK(cases == 210 * 256);
  CHECK(mismatches == 0);
}

TEST_CASE("snowflake: all nines and random values of every length round-trip") {
  std::uint64_t x = 0x9E3779B97F4A7C15ULL; // xorshift: the same values every run
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  std::size_t wrong = 0;
  for (std::size_t len = 1; len <= 19; ++len) {
    const std::string nines(len, '9'); // every lane at its largest
    if (const auto got = Snowflake::parse(nines); !got || got->to_string() != nines)
      ++wrong;
    for (int i = 0; i < 200; ++i) {
      std::string v = std::to_string(next());
      v = v.substr(0, len);
      if (v.size() > 1 && v[0] == '0')
        v[0] = '1';
      if (const auto got = Snowflake::parse(v); !got || got->to_string() != v)
        ++wrong;
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("same_bytes: equal to memcmp for lengths 0-40, a difference at every position, at a page's end") {
  // The strings end where an unreadable page begins: a load past their end faults.
  const long page = ::sysconf(_SC_PAGESIZE);
  char* mem = static_cast<char*>(::mmap(nullptr, static_cast<std::size_t>(2 * page), PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(mem != MAP_FAILED);
  REQUIRE(::mprotect(mem + page, static_cast<std::size_t>(page), PROT_NONE) == 0);
  char* end = mem + page;
  std::size_t wrong = 0;
  for (std::size_t n = 0; n <= 40; ++n) {
    char* a = end - n;            // the end of the page
    char* b = end - 2 * n - 64;   // before it, clear of a
    for (std::size_t i = 0; i < n; ++i)
      a[i] = b[i] = static_cast<char>('a' + i % 26);
    wrong += !topgg::detail::same_bytes({a, n}, {b, n});
    for (std::size_t pos = 0; pos < n; ++pos) {
      b[pos] ^= 0x20;
      wrong += topgg::detail::same_bytes({a, n}, {b, n}) != (std::memcmp(a, b, n) == 0);
      b[pos] ^= 0x20;
    }
    if (n > 0)
      wrong += topgg::detail::same_bytes({a, n}, {b, n - 1}); // lengths differ
  }
  ::munmap(mem, static_cast<std::size_t>(2 * page));
  CHECK(wrong == 0);
}

TEST_CASE("bot vote: every field") {
  topgg::BotVote v;
  auto st = topgg::decode(
      R"({"bot":"264811613708746752","user":"160105994217586689","type":"test","isWeekend":true,"query":"?ref=home&x=a%20b"})",
      v);
  REQUIRE(st);
  CHECK(v.bot.value() == 264811613708746752ULL);
  CHECK(v.user.value() == 160105994217586689ULL);
  CHECK(v.type == topgg::VoteType::test);
  CHECK(v.is_weekend);
  REQUIRE(v.query.size() == 2);
  CHECK(v.query.get("ref") == "home");
  CHECK(v.query.get("x") == "a b");
}

TEST_CASE("bot vote: query as an object of strings; numbers and booleans as text; others skipped") {
  topgg::BotVote v;
  REQUIRE(topgg::decode(
      R"({"bot":"1","user":"2","type":"upvote","query":{"ref":"home","n":5,"b":true,"arr":[1],"nil":null,"enc":"a%20b"}})",
      v));
  REQUIRE(v.query.size() == 4);
  CHECK(v.query[0].key == "ref");
  CHECK(v.query[0].value == "home");
  CHECK(v.query.get("n") == "5");
  CHECK(v.query.get("b") == "true");
  CHECK(v.query.get("enc") == "a%20b"); // JSON strings are already decoded: kept as sent
  CHECK_FALSE(v.is_weekend);
}

TEST_CASE("bot vote: absent or null isWeekend and query") {
  topgg::BotVote v;
  v.is_weekend = true;
  v.query.parse("stale=1");
  REQUIRE(topgg::decode(R"({"bot":"1","user":"2","type":"upvote","isWeekend":null,"query":null})", v));
  CHECK_FALSE(v.is_weekend);
  CHECK(v.query.empty());
}

TEST_CASE("server vote: every field, isWeekend not part of it") {
  topgg::ServerVote v;
  REQUIRE(topgg::decode(R"({"guild":"5678","user":"2","type":"upvote","query":"a=1","isWeekend":"whatever"})", v));
  CHECK(v.guild.value() == 5678);
  CHECK(v.user.value() == 2);
  CHECK(v.type == topgg::VoteType::upvote);
  CHECK(v.query.get("a") == "1");
  topgg::ServerVote w;
  auto st = topgg::decode(R"({"bot":"1","user":"2","type":"upvote"})", w);
  CHECK(st.error == Error::invalid_payload);
  CHECK(st.detail == "missing field guild");
}

TEST_CASE("vote decoding errors say what is wrong") {
  topgg::BotVote v;
  auto err = [&v](std::string_view body) { return topgg::decode(body, v); };
  CHECK(err("{").error == Error::invalid_json);
  CHECK(err(R"({"bot":"1"} {})").error == Error::invalid_json);
  CHECK(err("null").detail == "body is not a JSON object");
  CHECK(err(R"({"user":"2","type":"upvote"})").detail == "missing field bot");
  CHECK(err(R"({"bot":"x","user":"2","type":"upvote"})").detail == "bot is not a snowflake string");
  CHECK(err(R"({"bot":"1","user":2,"type":"upvote"})").detail == "user is not a snowflake string");
  CHECK(err(R"({"bot":"1","user":"2","type":"UPVOTE"})").detail == "type is not \"upvote\" or \"test\"");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","type":"test"})").detail == "repeated field \"type\"");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","user":"3"})").detail == "repeated field \"user\"");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","isWeekend":1})").detail == "isWeekend is not a boolean");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","x":"\ud800"})").error == Error::invalid_json);
  CHECK(err("{\"bot\":\"1\",\"user\":\"2\",\"type\":\"upvote\",\"x\":\"\xff\"}").error == Error::invalid_json);
}

TEST_CASE("invalid JSON is described in the library's words, with the byte where it goes wrong") {
  topgg::BotVote v;
  auto detail = [&v](std::string_view body) {
    const DecodeStatus st = topgg::decode(body, v);
    CHECK(st.error == Error::invalid_json);
    return std::string(st.detail);
  };
  const std::string p = "body is not valid JSON: ";
  // The one simdjson called "Problem while parsing an atom starting with the letter 'n'".
  CHECK(detail(R"({"bot":"1","user":"2","type":"upvote","isWeekend": nope})") ==
        p + "invalid literal (true, false or null expected) at byte 51 ('n')");
  CHECK(detail("{") == p + "unexpected end of the body at byte 1");
  CHECK(detail("") == p + "it is empty");
  CHECK(detail(" \r\n") == p + "it is empty");
  CHECK(detail(R"({"bot":"1"} {})") == p + "more data after the JSON value at byte 12 ('{')");
  CHECK(detail(R"({"bot" "1"})") == p + "':' expected after an object key at byte 7 ('\"')");
  CHECK(detail(R"({"bot":"1",})") == p + "an object key (a string) expected at byte 11 ('}')");
  CHECK(detail(R"({"bot":"1" "user":"2"})") == p + "',' or '}' expected at byte 11 ('\"')");
  CHECK(detail(R"({"q":[1 2]})") == p + "',' or ']' expected at byte 8 ('2')");
  CHECK(detail(R"({"q":[1,]})") == p + "unexpected character at byte 8 (']')");
  CHECK(detail(R"({"q":01})") == p + "invalid number (no leading zeros) at byte 6 ('1')");
  CHECK(detail(R"({"q":1.})") == p + "invalid number at byte 7 ('}')");
  CHECK(detail(R"({"q":-})") == p + "invalid number at byte 6 ('}')");
  CHECK(detail(R"({"q":"a\qb"})") == p + "invalid escape in a string at byte 7 (0x5C)");
  CHECK(detail(R"({"q":"\u12G4"})") == p + "invalid \\u escape in a string (four hex digits expected) at byte 6 (0x5C)");
  CHECK(detail(R"({"q":"\ud800"})") == p + "unpaired UTF-16 surrogate in a \\u escape at byte 6 (0x5C)");
  CHECK(detail(R"({"q":"\udc00"})") == p + "unpaired UTF-16 surrogate in a \\u escape at byte 6 (0x5C)");
  CHECK(detail("{\"q\":\"ok\xc3\xa9\xff\"}") == p + "invalid UTF-8 at byte 10 (0xFF)");
  CHECK(detail("{\"q\":\"a\tb\"}") == p + "control character in a string (it must be escaped) at byte 7 (0x09)");
  CHECK(detail(R"({"q":"abc)") == p + "string not closed before the end of the body at byte 5 ('\"')");
  CHECK(detail(R"({"q":@})") == p + "unexpected character at byte 5 ('@')");
  CHECK(detail("\xef\xbb\xbf{}") == p + "unexpected character at byte 0 (0xEF)"); // RFC 8259: no byte order mark
  // Beyond the grammar: limits of the parser, said without a place.
  CHECK(detail(std::string(2000, '[') + std::string(2000, ']')) == p + "nested too deeply at byte 1024 ('[')");
  CHECK(detail(R"({"q":1e999})") == p + "a number is out of range");
}

TEST_CASE("decoding details never carry simdjson's wording, and outlive the next decode") {
  const char* bad[] = {"{",          "",         "nul",          "tru",           "fals",        "[1,]",
                       "{\"a\" 1}",  "\"\\x\"",  "\"\x01\"",       "\"\xff\"",       "1e999",       "{\"a\":--1}",
                       "[[[[[[[[[[", "{\"a\":1}x", "\"\\ud800\"", "{\"a\":\"abc",    "\x00",        "{,}"};
  topgg::BotVote v;
  for (std::string_view body : bad) {
    const DecodeStatus st = topgg::decode(body, v);
    CAPTURE(body);
    CHECK(st.error == Error::invalid_json);
    CHECK(st.detail.substr(0, 24) == "body is not valid JSON: ");
    for (int code = 1; code < simdjson::NUM_ERROR_CODES; ++code) {
      const std::string_view theirs = simdjson::error_message(static_cast<simdjson::error_code>(code));
      CHECK(st.detail.find(theirs) == std::string_view::npos);
    }
    CHECK(st.detail.find("atom") == std::string_view::npos);
  }
  // The pipeline tells the error hook, which may decode again, then answers
  // with the same detail: it must still hold its text.
  const DecodeStatus first = topgg::decode(R"({"q":@})", v);
  const std::string copy(first.detail);
  const DecodeStatus second = topgg::decode(R"({"bot":"1","user":"2","type":"upvote","type":"test"})", v);
  CHECK(second.detail == "repeated field \"type\"");
  CHECK(first.detail == copy);
}

TEST_CASE("a 400's body and the error hook both name the repeated field") {
  topgg::Router r;
  std::string told;
  r.dbl_webhook("/dbl", "k").on_bot_vote([](const topgg::BotVote&) {}).on_warning([](std::string_view) {});
  r.on_error([&told](const topgg::Rejection& rej) { told = rej.detail; });
  std::vector<topgg::Header> h{{"Host", "x"}, {"Authorization", "k"}};
  topgg::Request req;
  req.method = "POST";
  req.target = "/dbl";
  req.headers = h;
  req.body = R"({"bot":"1","user":"2","type":"upvote","user":"3"})";
  std::optional<topgg::Response> got;
  r.handle(req, th::at(0), [&got](topgg::Response res) { got = std::move(res); });
  REQUIRE(got);
  CHECK(got->status == 400);
  CHECK(got->body == "repeated field \"user\"");
  CHECK(told == "repeated field \"user\"");
  req.body = R"({"bot":"1","user":"2","isWeekend":nope})";
  r.handle(req, th::at(0), [&got](topgg::Response res) { got = std::move(res); });
  CHECK(got->status == 400);
  CHECK(got->body == "body is not valid JSON: invalid literal (true, false or null expected) at byte 34 ('n')");
  CHECK(told == got->body);
}
