#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>
#include <vector>

#include "json.hpp"
#include "topgg/v1.hpp"

using namespace std::chrono;
namespace v1 = topgg::v1;
using topgg::Error;

namespace {

const std::string secret = "whs_5f9c2a1e7d";
const std::string test_body = R"({"type":"webhook.test","data":{}})";

// printf '%s' '1700000000.{"type":"webhook.test","data":{}}' | openssl dgst -sha256 -hmac 'whs_5f9c2a1e7d'
// → SHA2-256(stdin)= 9e0aaa307342b70746d0a76437672e13758faecf3d76815032806f309adad830   (OpenSSL 3.0 CLI)
const std::string vector_mac = "9e0aaa307342b70746d0a76437672e13758faecf3d76815032806f309adad830";
// printf '%s' '1700000000.' | openssl dgst -sha256 -hmac 'whs_5f9c2a1e7d'
const std::string empty_body_mac = "3f2b6f3aec1894710c95022d1838e7f7ea26aa319849a4b6be58436677e07f83";
// printf '%s' '0001700000000.{"type":"webhook.test","data":{}}' | openssl dgst -sha256 -hmac 'whs_5f9c2a1e7d'
const std::string leading_zeros_mac = "1f2ddb9af996f80acbdb9dba1f5b1cc401170dae229595c64acce0ebac884997";

constexpr std::int64_t t0 = 1'700'000'000;

system_clock::time_point at_unix(std::int64_t s) { return system_clock::time_point{seconds{s}}; }

// A MAC that is well-formed but matches nothing signed here.
std::string other_mac(char c) { return std::string(64, c); }

v1::Timestamp utc(year_month_day d, hours h, minutes m, seconds s, microseconds us = microseconds{0}) {
  return sys_days{d} + h + m + s + us;
}

} // namespace

TEST_CASE("v1 signature: fixed vector computed with the openssl CLI") {
  const std::string header = "t=1700000000,v1=" + vector_mac;
  CHECK(v1::sign(secret, t0, test_body) == header);
  CHECK(v1::verify(header, std::vector<std::string>{secret}, test_body, at_unix(t0)) == Error::ok);

  CHECK(v1::sign(secret, t0, "") == "t=1700000000,v1=" + empty_body_mac);
  CHECK(v1::verify("t=1700000000,v1=" + empty_body_mac, std::vector<std::string>{secret}, "", at_unix(t0)) ==
        Error::ok);

  v1::SignatureHeader sig;
  REQUIRE(v1::parse_signature(header, sig) == Error::ok);
  CHECK(sig.timestamp == t0);
  CHECK(sig.timestamp_digits() == "1700000000");
  REQUIRE(sig.mac_count == 1);
  CHECK(sig.macs[0][0] == 0x9e);
  CHECK(sig.macs[0][31] == 0x30);
  CHECK(v1::signature_matches(sig, secret, test_body));
}

TEST_CASE("v1 signature: the message uses t exactly as sent, leading zeros included") {
  const std::string header = "t=0001700000000,v1=" + leading_zeros_mac;
  v1::SignatureHeader sig;
  REQUIRE(v1::parse_signature(header, sig) == Error::ok);
  CHECK(sig.timestamp == t0);
  CHECK(sig.timestamp_digits() == "0001700000000");
  CHECK(v1::signature_matches(sig, secret, test_body));
  // The canonical digits' MAC does not match a header that spelled t differently.
  CHECK(v1::verify("t=0001700000000,v1=" + vector_mac, std::vector<std::string>{secret}, test_body, at_unix(t0)) ==
        Error::signature_mismatch);
}

TEST_CASE("v1 signature: extra parameters and whitespace are tolerated") {
  const std::vector<std::string> secrets{secret};
  for (const std::string& header : std::vector<std::string>{
           " t=1700000000 , v1=" + vector_mac + " ",
           "t = 1700000000,\tv1 =\t" + vector_mac,
           "v0=abc,t=1700000000,scheme=hmac,v1=" + vector_mac + ",v2=whatever",
           "v1=" + vector_mac + ",t=1700000000", // order does not matter
           "t=1700000000,,v1=" + vector_mac + ",", // empty parameters skipped
       }) {
    CAPTURE(header);
    CHECK(v1::verify(header, secrets, test_body, at_unix(t0)) == Error::ok);
  }
}

TEST_CASE("v1 signature: several v1 values, any match passes (rotation)") {
  const std::vector<std::string> secrets{secret};
  const std::string a = other_mac('a'), b = other_mac('b');
  CHECK(v1::verify("t=1700000000,v1=" + vector_mac + ",v1=" + a + ",v1=" + b, secrets, test_body, at_unix(t0)) ==
        Error::ok);
  CHECK(v1::verify("t=1700000000,v1=" + a + ",v1=" + vector_mac + ",v1=" + b, secrets, test_body, at_unix(t0)) ==
        Error::ok);
  CHECK(v1::verify("t=1700000000,v1=" + a + ",v1=" + b + ",v1=" + vector_mac, secrets, test_body, at_unix(t0)) ==
        Error::ok);
  CHECK(v1::verify("t=1700000000,v1=" + a + ",v1=" + b, secrets, test_body, at_unix(t0)) ==
        Error::signature_mismatch);

  // Several configured secrets: the one that signed matches, wherever it is.
  CHECK(v1::verify("t=1700000000,v1=" + vector_mac, std::vector<std::string>{"whs_old", secret}, test_body,
                   at_unix(t0)) == Error::ok);
  CHECK(v1::verify("t=1700000000,v1=" + vector_mac, std::vector<std::string>{secret, "whs_new"}, test_body,
                   at_unix(t0)) == Error::ok);
}

TEST_CASE("v1 signature: at most 16 v1 values and 32 parameters") {
  std::string header = "t=1700000000";
  for (int i = 0; i < 15; ++i)
    header += ",v1=" + other_mac('c');
  header += ",v1=" + vector_mac;
  v1::SignatureHeader sig;
  REQUIRE(v1::parse_signature(header, sig) == Error::ok);
  CHECK(sig.mac_count == 16);
  CHECK(v1::signature_matches(sig, secret, test_body));
  CHECK(v1::parse_signature(header + ",v1=" + other_mac('d'), sig) == Error::signature_malformed);

  std::string many = "t=1700000000,v1=" + vector_mac;
  for (int i = 0; i < 30; ++i)
    many += ",x=1";
  CHECK(v1::parse_signature(many, sig) == Error::ok); // 32 parameters
  CHECK(v1::parse_signature(many + ",x=1", sig) == Error::signature_malformed);
}

TEST_CASE("v1 signature: upper-case hex is decoded case-insensitively and matches") {
  std::string upper = vector_mac;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  REQUIRE(upper != vector_mac);
  CHECK(v1::verify("t=1700000000,v1=" + upper, std::vector<std::string>{secret}, test_body, at_unix(t0)) ==
        Error::ok);
  std::string mixed = vector_mac;
  mixed[1] = 'E';
  CHECK(v1::verify("t=1700000000,v1=" + mixed, std::vector<std::string>{secret}, test_body, at_unix(t0)) ==
        Error::ok);
}

TEST_CASE("v1 signature: malformed headers") {
  v1::SignatureHeader sig;
  const std::string hex = vector_mac;
  for (const std::string& header : std::vector<std::string>{
           std::string{},
           std::string{"   "},
           std::string{","},
           "v1=" + hex,                                  // no t
           std::string{"t=1700000000"},                  // no v1
           "t=1700000000,v1=",                           // empty v1
           "t=1700000000,v1=" + hex.substr(0, 63),       // truncated
           "t=1700000000,v1=" + hex.substr(0, 62),       // truncated by a whole byte
           "t=1700000000,v1=" + hex + "0",               // too long
           "t=1700000000,v1=" + hex.substr(0, 63) + "g", // not hex
           "t=1700000000,v1=" + hex.substr(0, 31) + " " + hex.substr(32),
           "t=,v1=" + hex,
           "t=abc,v1=" + hex,
           "t=-1,v1=" + hex,
           "t=+1700000000,v1=" + hex,
           "t=1700000000.5,v1=" + hex,
           "t=17000x0000,v1=" + hex,
           "t=0x10,v1=" + hex,
           "t=1 700,v1=" + hex,
           "t=9223372036854775808,v1=" + hex,  // INT64_MAX + 1: overflow
           "t=99999999999999999999,v1=" + hex, // 20 digits
           "t=00000000000000000001,v1=" + hex, // 20 digits, even if small
           "t=1700000000,t=1700000000,v1=" + hex, // repeated t
           "t=1700000000,v1" + hex,               // no '='
           "t=1700000000;v1=" + hex,              // wrong separator
           "T=1700000000,v1=" + hex,              // keys are case-sensitive: no t
           "t=1700000000,V1=" + hex,              // … and no v1
       }) {
    CAPTURE(header);
    CHECK(v1::parse_signature(header, sig) == Error::signature_malformed);
    CHECK(v1::verify(header, std::vector<std::string>{secret}, test_body, at_unix(t0)) == Error::signature_malformed);
  }
  REQUIRE(v1::parse_signature("t=9223372036854775807,v1=" + hex, sig) == Error::ok);
  CHECK(sig.timestamp == 9223372036854775807);
  REQUIRE(v1::parse_signature("t=0,v1=" + hex, sig) == Error::ok);
  CHECK(sig.timestamp == 0);
}

TEST_CASE("v1 signature: replay window edges") {
  const std::vector<std::string> secrets{secret};
  const std::string header = "t=1700000000,v1=" + vector_mac;
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 - 300)) == Error::ok);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 300)) == Error::ok);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 - 301)) == Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 301)) == Error::timestamp_out_of_window);
  // The comparison keeps the precision of `now`.
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 300) + milliseconds{1}) ==
        Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 - 300) - milliseconds{1}) ==
        Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 - 300) + milliseconds{1}) == Error::ok);

  // The window is a setting.
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 30), seconds{30}) == Error::ok);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 31), seconds{30}) == Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0), seconds{0}) == Error::ok);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 + 1), seconds{0}) == Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0), seconds{-5}) == Error::ok);
  CHECK(v1::verify(header, secrets, test_body, at_unix(t0 - 1), seconds{-5}) == Error::timestamp_out_of_window);

  // Extremes neither overflow nor pass.
  CHECK(v1::verify("t=9223372036854775807,v1=" + vector_mac, secrets, test_body, at_unix(t0),
                   seconds{std::numeric_limits<std::int64_t>::max()}) == Error::signature_mismatch);
  CHECK(v1::verify("t=9223372036854775807,v1=" + vector_mac, secrets, test_body, at_unix(t0)) ==
        Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, system_clock::time_point::min()) == Error::timestamp_out_of_window);
  CHECK(v1::verify(header, secrets, test_body, system_clock::time_point::max()) == Error::timestamp_out_of_window);
}

TEST_CASE("v1 signature: the window is checked before the MAC, the header before both") {
  const std::vector<std::string> secrets{secret};
  // A stale delivery with a wrong MAC is refused as stale (both are 403).
  CHECK(v1::verify("t=1700000000,v1=" + other_mac('e'), secrets, test_body, at_unix(t0 + 3600)) ==
        Error::timestamp_out_of_window);
  // A stale, malformed header is refused as malformed (422).
  CHECK(v1::verify("t=1700000000,v1=zz", secrets, test_body, at_unix(t0 + 3600)) == Error::signature_malformed);
}

TEST_CASE("v1 signature: any change to the body, t or secret is a mismatch") {
  const std::vector<std::string> secrets{secret};
  const std::string header = "t=1700000000,v1=" + vector_mac;
  for (std::size_t i = 0; i < test_body.size(); ++i) {
    for (unsigned char flip : {0x01, 0x80}) {
      std::string tampered = test_body;
      tampered[i] = static_cast<char>(static_cast<unsigned char>(tampered[i]) ^ flip);
      CAPTURE(i);
      CHECK(v1::verify(header, secrets, tampered, at_unix(t0)) == Error::signature_mismatch);
    }
  }
  CHECK(v1::verify(header, secrets, test_body + " ", at_unix(t0)) == Error::signature_mismatch);
  CHECK(v1::verify(header, secrets, test_body.substr(1), at_unix(t0)) == Error::signature_mismatch);
  CHECK(v1::verify("t=1700000001,v1=" + vector_mac, secrets, test_body, at_unix(t0)) == Error::signature_mismatch);

  CHECK(v1::verify(header, std::vector<std::string>{"whs_5f9c2a1e7e"}, test_body, at_unix(t0)) ==
        Error::signature_mismatch);
  CHECK(v1::verify(header, std::vector<std::string>{"5f9c2a1e7d"}, test_body, at_unix(t0)) ==
        Error::signature_mismatch); // the whs_ prefix is part of the key
  CHECK(v1::verify(header, std::vector<std::string>{}, test_body, at_unix(t0)) == Error::signature_mismatch);
}

TEST_CASE("v1 signature: an empty secret never matches") {
  // printf '%s' '1700000000.{"type":"webhook.test","data":{}}' | openssl dgst -sha256 -hmac ''
  const std::string empty_key_mac = "37114736bc8a52a8b5ca65893a042e4b7dd2a094d130aed17496faf01cd49281";
  const std::string header = "t=1700000000,v1=" + empty_key_mac;
  CHECK(v1::verify(header, std::vector<std::string>{""}, test_body, at_unix(t0)) == Error::signature_mismatch);
  v1::SignatureHeader sig;
  REQUIRE(v1::parse_signature(header, sig) == Error::ok);
  CHECK_FALSE(v1::signature_matches(sig, "", test_body));
  CHECK_FALSE(v1::signature_matches(sig, std::string_view{}, test_body));

  // sign() does use an empty key, and a null one is the empty key, never the
  // key of the previous MAC computed on this thread.
  REQUIRE(v1::sign(secret, t0, test_body) == "t=1700000000,v1=" + vector_mac);
  CHECK(v1::sign(std::string_view{}, t0, test_body) == header);
  REQUIRE(v1::sign(secret, t0, test_body) == "t=1700000000,v1=" + vector_mac);
  CHECK(v1::sign("", t0, test_body) == header);
}

TEST_CASE("v1 signature: sign round-trips through verify for long secrets and bodies") {
  const std::string long_secret(200, 'k'); // longer than the SHA-256 block: hashed first
  std::string body(10000, 'x');
  const std::string header = v1::sign(long_secret, 42, body);
  CHECK(header.rfind("t=42,v1=", 0) == 0);
  CHECK(v1::verify(header, std::vector<std::string>{long_secret}, body, at_unix(42)) == Error::ok);
  body.back() = 'y';
  CHECK(v1::verify(header, std::vector<std::string>{long_secret}, body, at_unix(42)) == Error::signature_mismatch);
  CHECK(v1::sign(secret, -1, test_body).empty());
}

TEST_CASE("v1 rfc3339: valid date-times") {
  using std::chrono::February;
  const auto date = 2026y / February / 9;
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14.2510149+00:00") ==
        utc(date, hours{0}, minutes{47}, seconds{14}, microseconds{251014}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14Z") == utc(date, hours{0}, minutes{47}, seconds{14}));
  CHECK(v1::parse_rfc3339("2026-02-09t00:47:14z") == utc(date, hours{0}, minutes{47}, seconds{14}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14.5Z") ==
        utc(date, hours{0}, minutes{47}, seconds{14}, microseconds{500000}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14.000001Z") ==
        utc(date, hours{0}, minutes{47}, seconds{14}, microseconds{1}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14.123456789123456789Z") ==
        utc(date, hours{0}, minutes{47}, seconds{14}, microseconds{123456}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:47:14.9999999Z") ==
        utc(date, hours{0}, minutes{47}, seconds{14}, microseconds{999999})); // truncated, not rounded
  // Offsets: the local time minus the offset.
  CHECK(v1::parse_rfc3339("2026-02-09T05:30:00+05:30") == utc(date, hours{0}, minutes{0}, seconds{0}));
  CHECK(v1::parse_rfc3339("2026-02-08T16:00:00-08:00") == utc(date, hours{0}, minutes{0}, seconds{0}));
  CHECK(v1::parse_rfc3339("2026-02-09T00:00:00-00:00") == utc(date, hours{0}, minutes{0}, seconds{0}));
  CHECK(v1::parse_rfc3339("2026-12-31T23:59:59-23:59") ==
        utc(2027y / January / 1, hours{23}, minutes{58}, seconds{59}));
  CHECK(v1::parse_rfc3339("1970-01-01T00:00:00Z") == v1::Timestamp{});
  CHECK(v1::parse_rfc3339("0000-01-01T00:00:00Z").has_value());
  CHECK(v1::parse_rfc3339("9999-12-31T23:59:59.999999Z").has_value());
  // Leap years.
  CHECK(v1::parse_rfc3339("2024-02-29T12:00:00Z") == utc(2024y / February / 29, hours{12}, minutes{0}, seconds{0}));
  CHECK(v1::parse_rfc3339("2000-02-29T00:00:00Z").has_value());
}

TEST_CASE("v1 rfc3339: refused") {
  for (const char* text : {
           "",
           "2026-02-09",
           "2026-02-09T00:47:14",        // no offset
           "2026-13-01T00:00:00Z",       // month 13
           "2026-00-01T00:00:00Z",       // month 0
           "2026-01-00T00:00:00Z",       // day 0
           "2026-01-32T00:00:00Z",       // day 32
           "2026-02-30T00:00:00Z",       // Feb 30
           "2023-02-29T00:00:00Z",       // not a leap year
           "1900-02-29T00:00:00Z",       // centuries are not leap years…
           "2026-04-31T00:00:00Z",       // April has 30 days
           "2026-02-09T24:00:00Z",       // hour 24
           "2026-02-09T23:60:00Z",       // minute 60
           "2026-02-09T23:59:60Z",       // leap second
           "2026-02-09T00:00:00+24:00",  // offset hour 24
           "2026-02-09T00:00:00+05:60",  // offset minute 60
           "2026-02-09T00:00:00+0530",   // offset without ':'
           "2026-02-09T00:00:00+05",     // short offset
           "2026-02-09T00:00:00.Z",      // empty fraction
           "2026-02-09T00:00:00,5Z",     // comma fraction
           "2026-02-09 00:00:00Z",       // space separator
           "2026-02-09T00:00:00ZZ",      // trailing bytes
           "2026-02-09T00:00:00Z ",      // trailing space
           " 2026-02-09T00:00:00Z",      // leading space
           "26-02-09T00:00:00Z",         // two-digit year
           "2026-2-09T00:00:00Z",        // one-digit month
           "2026-02-09T0:00:00Z",        // one-digit hour
           "+2026-02-09T00:00:00Z",      // signed year
           "2026-02-09T00:00:0aZ",       // not a digit
           "2026/02/09T00:00:00Z",       // wrong separators
       }) {
    CAPTURE(text);
    CHECK_FALSE(v1::parse_rfc3339(text).has_value());
  }
}

namespace {

const std::string vote_body = R"({
  "type": "vote.create",
  "data": {
    "id": "808499215864008704",
    "weight": 2,
    "created_at": "2026-02-09T00:47:14.2510149+00:00",
    "expires_at": "2026-02-09T12:47:14.2510149+00:00",
    "project": {"id": "803190510032756736", "type": "bot", "platform": "discord",
                "platform_id": "160105994217586689", "name": "ignored"},
    "user": {"id": "top.gg id", "platform_id": "discord id", "name": "username",
             "avatar_url": "https://example.com/a.png", "extra": [1, {"x": null}]},
    "query": {"ref": "home", "n": 3},
    "unknown": {"nested": true}
  },
  "extra": "ignored"
})";

const std::string integration_create_body = R"({"type":"integration.create","data":{
  "connection_id":"112402021105124","webhook_secret":"whs_abcd",
  "project":{"id":"1230954036934033243","platform":"discord","platform_id":"3949456393249234923","type":"bot"},
  "user":{"id":"u1","platform_id":"p1","name":"adder","avatar_url":null}}})";

std::string replace(std::string s, std::string_view from, std::string_view to) {
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  return s.replace(pos, from.size(), to);
}

} // namespace

TEST_CASE("v1 decode: vote.create field by field") {
  v1::Event e;
  const auto st = v1::decode(vote_body, e);
  REQUIRE_MESSAGE(st, st.detail);
  REQUIRE(e.type == v1::EventType::vote_create);
  const auto& v = e.get<v1::VoteCreate>();
  CHECK(v.id == "808499215864008704");
  CHECK(v.weight == 2);
  CHECK(v.created_at == utc(2026y / February / 9, hours{0}, minutes{47}, seconds{14}, microseconds{251014}));
  CHECK(v.expires_at == utc(2026y / February / 9, hours{12}, minutes{47}, seconds{14}, microseconds{251014}));
  CHECK(v.project.id == "803190510032756736");
  CHECK(v.project.type == "bot");
  CHECK(v.project.platform == "discord");
  CHECK(v.project.platform_id == "160105994217586689");
  CHECK(v.user.id == "top.gg id");
  CHECK(v.user.platform_id == "discord id");
  CHECK(v.user.name == "username");
  CHECK(v.user.avatar_url == "https://example.com/a.png");
  REQUIRE(v.query.size() == 2);
  CHECK(v.query.get("ref") == "home");
  CHECK(v.query.get("n") == "3");
  CHECK(v.trace.empty());

  e.set_trace("trace-123");
  CHECK(e.get<v1::VoteCreate>().trace == "trace-123");
  CHECK(e.get<v1::WebhookTest>().trace.empty());

  // Reusing the event: a vote without query leaves no stale query, and the trace is cleared.
  std::string no_query = replace(vote_body, R"("query": {"ref": "home", "n": 3},)", "");
  REQUIRE(v1::decode(no_query, e));
  CHECK(e.get<v1::VoteCreate>().query.empty());
  CHECK(e.get<v1::VoteCreate>().trace.empty());
  // A query string is accepted too.
  REQUIRE(v1::decode(replace(vote_body, R"({"ref": "home", "n": 3})", R"("?a=1&b=2")"), e));
  REQUIRE(e.get<v1::VoteCreate>().query.size() == 2);
  CHECK(e.get<v1::VoteCreate>().query.get("b") == "2");
  // An integral weight written as a double is an integer.
  REQUIRE(v1::decode(replace(vote_body, R"("weight": 2,)", R"("weight": 3.0,)"), e));
  CHECK(e.get<v1::VoteCreate>().weight == 3);
}

TEST_CASE("v1 decode: webhook.test field by field") {
  const std::string body = R"({"data":{"user":{"id":"u","platform_id":"pu","name":"n","avatar_url":"a"},
    "project":{"id":"p","type":"server","platform":"discord","platform_id":"pp"}},"type":"webhook.test"})";
  v1::Event e;
  const auto st = v1::decode(body, e);
  REQUIRE_MESSAGE(st, st.detail);
  REQUIRE(e.type == v1::EventType::webhook_test);
  const auto& w = e.get<v1::WebhookTest>();
  CHECK(w.project.id == "p");
  CHECK(w.project.type == "server");
  CHECK(w.project.platform == "discord");
  CHECK(w.project.platform_id == "pp");
  CHECK(w.user.id == "u");
  CHECK(w.user.platform_id == "pu");
  CHECK(w.user.name == "n");
  CHECK(w.user.avatar_url == "a");
  e.set_trace("t1");
  CHECK(e.get<v1::WebhookTest>().trace == "t1");
}

TEST_CASE("v1 decode: integration.create and integration.delete field by field") {
  v1::Event e;
  auto st = v1::decode(integration_create_body, e);
  REQUIRE_MESSAGE(st, st.detail);
  REQUIRE(e.type == v1::EventType::integration_create);
  const auto& c = e.get<v1::IntegrationCreate>();
  CHECK(c.connection_id == "112402021105124");
  CHECK(c.webhook_secret == "whs_abcd");
  CHECK(c.project.id == "1230954036934033243");
  CHECK(c.project.platform == "discord");
  CHECK(c.project.platform_id == "3949456393249234923");
  CHECK(c.project.type == "bot");
  CHECK(c.user.id == "u1");
  CHECK(c.user.platform_id == "p1");
  CHECK(c.user.name == "adder");
  CHECK(c.user.avatar_url.empty()); // null

  // avatar_url may also be absent; a previous value does not survive.
  e.get<v1::IntegrationCreate>().user.avatar_url = "stale";
  REQUIRE(v1::decode(replace(integration_create_body, R"(,"avatar_url":null)", ""), e));
  CHECK(e.get<v1::IntegrationCreate>().user.avatar_url.empty());

  // The documented example has a trailing comma, which is not JSON: refused as such.
  CHECK(v1::decode(R"({"type":"integration.delete","data":{"connection_id":"112402021105124",}})", e).error ==
        Error::invalid_json);
  st = v1::decode(R"({"type":"integration.delete","data":{"connection_id":"112402021105124","x":1}})", e);
  REQUIRE_MESSAGE(st, st.detail);
  REQUIRE(e.type == v1::EventType::integration_delete);
  CHECK(e.get<v1::IntegrationDelete>().connection_id == "112402021105124");
  e.set_trace("t2");
  CHECK(e.get<v1::IntegrationDelete>().trace == "t2");
}

TEST_CASE("v1 decode: unknown type is not an error") {
  v1::Event e;
  e.type = v1::EventType::vote_create;
  auto st = v1::decode(R"({"type":"vote.delete","data":{"anything":[1,2,3]}})", e);
  CHECK(st.error == Error::ok);
  CHECK(e.type == v1::EventType::unknown);
  st = v1::decode(R"({"type":"something.new"})", e); // no data needed
  CHECK(st.error == Error::ok);
  CHECK(e.type == v1::EventType::unknown);
  e.set_trace("x"); // nothing to store into, and no crash
  CHECK(v1::to_string(v1::EventType::unknown) == "unknown");
  CHECK(v1::to_string(v1::EventType::vote_create) == "vote.create");
  CHECK(v1::to_string(v1::EventType::integration_delete) == "integration.delete");
}

TEST_CASE("v1 decode: invalid JSON") {
  v1::Event e;
  for (const std::string& body : std::vector<std::string>{
           std::string{},
           std::string{"{"},
           std::string{"not json"},
           vote_body + "x",
           vote_body + "{}",
           std::string{R"({"type":"vote.create","data":{"id":"1",}})"},
           std::string{"{\"type\":\"webhook.test\",\"data\":{},\"s\":\"\xff\"}"}, // invalid UTF-8
       }) {
    CAPTURE(body);
    const auto st = v1::decode(body, e);
    CHECK(st.error == Error::invalid_json);
    CHECK_FALSE(st.detail.empty());
    CHECK(e.type == v1::EventType::unknown);
  }
}

TEST_CASE("v1 decode: wrong shapes are invalid_payload") {
  v1::Event e;
  const std::string ic = integration_create_body;
  for (const std::string& body : std::vector<std::string>{
           std::string{"[]"},
           std::string{R"("vote.create")"},
           std::string{R"({"data":{}})"},                     // no type
           std::string{R"({"type":1,"data":{}})"},            // type not a string
           std::string{R"({"type":"vote.create"})"},          // no data
           std::string{R"({"type":"webhook.test","data":[]})"},
           std::string{R"({"type":"webhook.test","data":null})"},
           std::string{R"({"type":"webhook.test","type":"webhook.test","data":{}})"}, // repeated
           std::string{R"({"type":"integration.delete","data":{}})"},
           std::string{R"({"type":"integration.delete","data":{"connection_id":112402021105124}})"},
           std::string{R"({"type":"integration.delete","data":{"connection_id":"1"},"data":{"connection_id":"1"}})"},
           std::string{R"({"type":"integration.delete","data":{"connection_id":"1","connection_id":"2"}})"},
           replace(vote_body, R"("id": "808499215864008704",)", ""),
           replace(vote_body, R"("id": "808499215864008704")", R"("id": 808499215864008704)"),
           replace(vote_body, R"("weight": 2,)", ""),
           replace(vote_body, R"("weight": 2,)", R"("weight": "2",)"),
           replace(vote_body, R"("weight": 2,)", R"("weight": 2.5,)"),
           replace(vote_body, R"("weight": 2,)", R"("weight": 18446744073709551615,)"),
           replace(vote_body, R"("weight": 2,)", R"("weight": 1e300,)"),
           replace(vote_body, R"("weight": 2,)", R"("weight": 2, "weight": 2,)"),
           replace(vote_body, R"("created_at": "2026-02-09T00:47:14.2510149+00:00",)", ""),
           replace(vote_body, R"("2026-02-09T00:47:14.2510149+00:00")", R"("2026-02-30T00:47:14Z")"),
           replace(vote_body, R"("2026-02-09T00:47:14.2510149+00:00")", "1770598034"),
           replace(vote_body, R"("2026-02-09T12:47:14.2510149+00:00")", R"("yesterday")"),
           replace(vote_body, R"("query": {"ref": "home", "n": 3},)", R"("query": {}, "query": {},)"),
           replace(vote_body, R"("project": {)", R"("project": 1, "p": {)"),
           replace(vote_body, R"("type": "bot", )", ""),
           replace(vote_body, R"("type": "bot", )", R"("type": "bot", "type": "bot", )"),
           replace(vote_body, R"("platform": "discord",)", R"("platform": null,)"),
           replace(vote_body, R"("platform_id": "160105994217586689",)", ""),
           replace(vote_body, R"("id": "top.gg id", )", ""),
           replace(vote_body, R"("id": "top.gg id", )", R"("id": "top.gg id", "id": "x", )"),
           replace(vote_body, R"("name": "username",)", R"("name": null,)"),
           replace(vote_body, R"("platform_id": "discord id", )", ""),
           replace(vote_body, R"("avatar_url": "https://example.com/a.png",)", R"("avatar_url": 5,)"),
           replace(vote_body, R"("user": {)", R"("user": [], "u": {)"),
           replace(ic, R"("webhook_secret":"whs_abcd",)", ""),
           replace(ic, R"("webhook_secret":"whs_abcd",)", R"("webhook_secret":null,)"),
           replace(ic, R"("connection_id":"112402021105124",)", ""),
           replace(ic, R"("user":{)", R"("u":{)"),
           replace(ic, R"("project":{)", R"("p":{)"),
       }) {
    CAPTURE(body);
    const auto st = v1::decode(body, e);
    CHECK(st.error == Error::invalid_payload);
    CHECK_FALSE(st.detail.empty());
    CHECK(e.type == v1::EventType::unknown);
  }
}

TEST_CASE("v1 decode: a repeated field is named, with its object's name when nested") {
  v1::Event e;
  const std::pair<std::string, std::string_view> cases[] = {
      {R"({"type":"webhook.test","type":"webhook.test","data":{}})", "repeated field \"type\""},
      {replace(vote_body, R"("weight": 2,)", R"("weight": 2, "weight": 2,)"), "repeated field \"weight\""},
      {replace(vote_body, R"("type": "bot", )", R"("type": "bot", "type": "bot", )"),
       "repeated field \"project.type\""},
      {replace(vote_body, R"("id": "top.gg id", )", R"("id": "top.gg id", "id": "x", )"), "repeated field \"user.id\""},
  };
  for (const auto& [body, want] : cases) {
    CAPTURE(body);
    CHECK(v1::decode(body, e).detail == want);
  }
  const auto st = v1::decode(R"({"type":"vote.create","data":{"weight":2.})", e);
  CHECK(st.error == Error::invalid_json);
  CHECK(st.detail == "body is not valid JSON: invalid number at byte 41 ('}')");
}

TEST_CASE("v1 decode_padded: reads a caller-owned padded buffer") {
  std::string buf = test_body;
  topgg::detail::reserve_padding(buf);
  v1::Event e;
  REQUIRE(v1::decode_padded(buf, e).error == Error::invalid_payload); // webhook.test without project/user
  buf = integration_create_body;
  topgg::detail::reserve_padding(buf);
  REQUIRE(v1::decode_padded(buf, e));
  CHECK(e.type == v1::EventType::integration_create);
  CHECK(e.get<v1::IntegrationCreate>().webhook_secret == "whs_abcd");
}

TEST_CASE("v1 end to end: verify, then decode the signed bytes") {
  const std::string header = v1::sign(secret, t0, vote_body);
  REQUIRE(v1::verify(header, std::vector<std::string>{secret}, vote_body, at_unix(t0 + 5)) == Error::ok);
  v1::Event e;
  REQUIRE(v1::decode(vote_body, e));
  CHECK(e.type == v1::EventType::vote_create);
  CHECK(e.get<v1::VoteCreate>().user.name == "username");
}
