#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "topgg/votes.hpp"

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
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","type":"test"})").detail == "repeated field");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","isWeekend":1})").detail == "isWeekend is not a boolean");
  CHECK(err(R"({"bot":"1","user":"2","type":"upvote","x":"\ud800"})").error == Error::invalid_json);
  CHECK(err("{\"bot\":\"1\",\"user\":\"2\",\"type\":\"upvote\",\"x\":\"\xff\"}").error == Error::invalid_json);
}
