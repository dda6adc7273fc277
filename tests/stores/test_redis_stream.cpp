// Redis Streams (topgg/redis_stream.hpp) against a real redis-server: every
// event line decoded back into the struct it was written from, the writer's
// XADDs, trimming and outages, and the reader's acknowledgements, retries of
// failed handlers and entries it cannot use. Two consumers, a consumer
// killed before XACK, and the tool's --redis-stream are in tests/streams.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

#include "../../examples/tool/events_json.hpp" // the writer of the lines (header only)
#include "redis_server.hpp"
#include "topgg/redis_stream.hpp"
#include "topgg/router.hpp"

using namespace std::chrono_literals;
using ts::patient;
using ts::RedisServer;

namespace {

/// Decodes `line` as an Event and writes it again: the same line.
template <class Event> std::string round_trip(const std::string& line) {
  Event back;
  std::string why;
  if (!topgg::decode_event_line(line, back, why))
    return "refused: " + why;
  return tool::to_json(back);
}

/// What a writer's add()s answered, and its error hook's lines.
struct Outcomes {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<bool, std::string>> done;
  std::vector<std::string> lines;
  topgg::RedisStreamWriter::Done on_done() {
    return [this](bool ok, std::string_view text) {
      std::lock_guard lock(m);
      done.emplace_back(ok, std::string(text));
      cv.notify_all();
    };
  }
  void hook(std::string_view line) {
    std::lock_guard lock(m);
    lines.emplace_back(line);
    cv.notify_all();
  }
  bool wait_done(std::size_t n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, 60s, [&] { return done.size() >= n; });
  }
  bool wait_lines(std::size_t n) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, 60s, [&] { return lines.size() >= n; });
  }
};

topgg::RedisStreamWriter::Fields vote_fields(int n) {
  topgg::BotVote v;
  v.bot = *topgg::Snowflake::parse("264811613708746752");
  v.user = *topgg::Snowflake::parse(std::to_string(100000 + n));
  v.route = "/dbl";
  return {{"event", "dbl_vote"}, {"json", tool::to_json(v)}};
}

} // namespace

TEST_CASE("stream lines: every event decodes back into the struct it was written from") {
  topgg::BotVote bot;
  bot.bot = *topgg::Snowflake::parse("264811613708746752");
  bot.user = *topgg::Snowflake::parse("160105994217586689");
  bot.type = topgg::VoteType::test;
  bot.is_weekend = true;
  bot.query.add("ref", "home");
  bot.query.add("ref", "second \xE2\x9C\x93 \"quoted\"");
  bot.route = "/dbl";
  CHECK(round_trip<topgg::BotVote>(tool::to_json(bot)) == tool::to_json(bot));

  topgg::ServerVote server;
  server.guild = *topgg::Snowflake::parse("1");
  server.user = *topgg::Snowflake::parse("18446744073709551615");
  server.route = "/dsl";
  CHECK(round_trip<topgg::ServerVote>(tool::to_json(server)) == tool::to_json(server));

  topgg::v1::VoteCreate vote;
  vote.id = "808499215864008704";
  vote.weight = 2;
  vote.created_at = *topgg::v1::parse_rfc3339("2026-02-09T00:47:14.251014Z");
  vote.expires_at = *topgg::v1::parse_rfc3339("2026-02-09T12:47:14.251014Z");
  vote.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  vote.user = {"u1", "160105994217586689", "voter \xF0\x9F\x8E\x89", ""};
  vote.query.add("a", "1");
  vote.trace = "trace-7";
  vote.route = "/topgg";
  CHECK(round_trip<topgg::v1::VoteCreate>(tool::to_json(vote)) == tool::to_json(vote));
  vote.source = topgg::v1::Source::catch_up;
  vote.id.clear();
  CHECK(round_trip<topgg::v1::VoteCreate>(tool::to_json(vote)) == tool::to_json(vote));
  vote.source = topgg::v1::Source::webhook;
  vote.connection_id = "conn-1"; // through an integration's connection
  CHECK(tool::to_json(vote).find("\"connection_id\":\"conn-1\"") != std::string::npos);
  CHECK(round_trip<topgg::v1::VoteCreate>(tool::to_json(vote)) == tool::to_json(vote));

  topgg::v1::WebhookTest test;
  test.project = vote.project;
  test.user = vote.user;
  test.route = "/topgg";
  CHECK(round_trip<topgg::v1::WebhookTest>(tool::to_json(test)) == tool::to_json(test));
  test.connection_id = "conn-1";
  CHECK(round_trip<topgg::v1::WebhookTest>(tool::to_json(test)) == tool::to_json(test));

  topgg::v1::IntegrationCreate created;
  created.connection_id = "c1";
  created.webhook_secret = "whs_secret";
  created.project = vote.project;
  created.user = vote.user;
  created.route = "/topgg";
  // Without the secret (the tool's default) and with it (--print-integration-secret).
  CHECK(tool::to_json(created).find("whs_secret") == std::string::npos);
  CHECK(round_trip<topgg::v1::IntegrationCreate>(tool::to_json(created)) == tool::to_json(created));
  tool::print_integration_secret = true;
  CHECK(tool::to_json(created).find("whs_secret") != std::string::npos);
  CHECK(round_trip<topgg::v1::IntegrationCreate>(tool::to_json(created)) == tool::to_json(created));
  tool::print_integration_secret = false;

  topgg::v1::IntegrationDelete deleted;
  deleted.connection_id = "c1";
  deleted.route = "/topgg";
  CHECK(round_trip<topgg::v1::IntegrationDelete>(tool::to_json(deleted)) == tool::to_json(deleted));

  topgg::VoteExpired expired;
  expired.subject = topgg::VoteSubject::guild(*topgg::Snowflake::parse("42"));
  expired.user = "160105994217586689";
  expired.route = "/dsl";
  expired.voted_at = vote.created_at;
  expired.expired_at = vote.expires_at;
  expired.streak = 3;
  CHECK(round_trip<topgg::VoteExpired>(tool::to_json(expired)) == tool::to_json(expired));

  // And what is not such a line is refused, with why.
  CHECK(round_trip<topgg::BotVote>("{}").rfind("refused: missing string", 0) == 0);
  CHECK(round_trip<topgg::BotVote>("not json") == "refused: not a JSON object");
  CHECK(round_trip<topgg::BotVote>(R"({"route":"/dbl","bot":"x","user":"1","type":"upvote","is_weekend":false})") ==
        "refused: not a Discord ID: \"bot\"");
  CHECK(round_trip<topgg::v1::VoteCreate>(tool::to_json(vote).replace(tool::to_json(vote).find("2026-02-09T00"), 4,
                                                                      "20x6")) ==
        "refused: not an RFC 3339 time: \"created_at\"");
  std::string why;
  CHECK_FALSE(topgg::RedisStreamReader::decode("vote.deleted", "{}", [](const auto&) {}, why));
  CHECK(why == "unknown event 'vote.deleted'");
}

TEST_CASE("stream writer: each add() is one entry with its fields in order; MAXLEN ~ trims") {
  RedisServer redis;
  Outcomes out;
  {
    topgg::RedisStreamOptions so;
    so.redis = patient(redis.port());
    so.stream = "s";
    so.max_len = 10;
    topgg::RedisStreamWriter w(so);
    w.on_error([&](std::string_view l) { out.hook(l); });
    constexpr int n = 1000;
    for (int i = 0; i < n; ++i)
      w.add(vote_fields(i), out.on_done());
    REQUIRE(out.wait_done(n));
    CHECK(w.counts().added == n);
    CHECK(w.counts().failed == 0);
    for (auto& [ok, id] : out.done)
      CHECK((ok && id.find('-') != std::string::npos));
  }
  RedisServer::Client c(redis.port());
  const long len = std::stol(c.command({"XLEN", "s"}));
  CHECK(len >= 10);   // never below MAXLEN
  CHECK(len < 1000);  // trimmed, by whole nodes (approximately)
  CHECK(out.lines.empty());
  auto* r = static_cast<redisReply*>(redisCommand(c.c, "XREVRANGE s + - COUNT 1"));
  REQUIRE(r);
  REQUIRE(r->elements == 1);
  const redisReply* f = r->element[0]->element[1];
  REQUIRE(f->elements == 4);
  CHECK(std::string(f->element[0]->str) == "event");
  CHECK(std::string(f->element[1]->str) == "dbl_vote");
  CHECK(std::string(f->element[2]->str) == "json");
  CHECK(std::string(f->element[3]->str) == vote_fields(999)[1].second); // the last one added is the newest
  freeReplyObject(r);
}

TEST_CASE("stream writer: Redis stopped fails every add with one line; back, adds again with one line") {
  RedisServer redis;
  topgg::RedisStreamOptions so;
  so.redis = patient(redis.port());
  so.stream = "s";
  topgg::RedisStreamWriter w(so);
  Outcomes out;
  w.on_error([&](std::string_view l) { out.hook(l); });
  w.add(vote_fields(0), out.on_done());
  REQUIRE(out.wait_done(1));
  CHECK(out.done[0].first);
  CHECK(w.available());
  redis.stop();
  for (int i = 1; i <= 20; ++i)
    w.add(vote_fields(i), out.on_done());
  REQUIRE(out.wait_done(21));
  for (std::size_t i = 1; i < out.done.size(); ++i)
    CHECK_FALSE(out.done[i].first);
  CHECK_FALSE(w.available());
  CHECK(w.unavailable_reason().find("redis stream s at redis 127.0.0.1:") == 0);
  REQUIRE(out.wait_lines(1));
  redis.start();
  REQUIRE(out.wait_lines(2)); // the writer reconnects by itself: "adding again" without an add()
  CHECK(w.available());
  w.add(vote_fields(21), out.on_done());
  REQUIRE(out.wait_done(22));
  CHECK(out.done[21].first);
  std::lock_guard lock(out.m);
  REQUIRE(out.lines.size() == 2);
  CHECK(out.lines[0].find("deliveries are answered 503 until it is back") != std::string::npos);
  CHECK(out.lines[1].find("adding again after") != std::string::npos);
  CHECK(w.counts().added == 2);
  CHECK(w.counts().failed == 20);
  RedisServer::Client c(redis.port());
  CHECK(c.command({"XLEN", "s"}) == "1"); // a Redis without persistence: only what came after the restart
}

TEST_CASE("stream writer: an add no longer wanted (its delivery was answered) is not added; probe tells a wrong password") {
  RedisServer redis({"--requirepass", "right"});
  topgg::RedisStreamOptions so;
  so.redis = patient(redis.port());
  so.redis.password = "wrong";
  so.stream = "s";
  {
    topgg::RedisStreamWriter w(so);
    w.on_error([](std::string_view) {});
    const topgg::RedisProbe p = w.probe(60s);
    CHECK(p.kind == topgg::RedisProbe::Kind::permanent);
    CHECK(p.why.find("AUTH refused") != std::string::npos);
    CHECK(p.why.find("wrong") == std::string::npos);
  }
  so.redis.password = "right";
  topgg::RedisStreamWriter w(so);
  CHECK(w.probe(60s).ok());
  Outcomes out;
  w.add(vote_fields(1), out.on_done(), [] { return false; });
  w.add(vote_fields(2), out.on_done(), [] { return true; });
  REQUIRE(out.wait_done(2));
  CHECK_FALSE(out.done[0].first);
  CHECK(out.done[1].first);
  RedisServer::Client c(redis.port());
  CHECK(c.command({"AUTH", "right"}) == "OK");
  CHECK(c.command({"XLEN", "s"}) == "1");
}

TEST_CASE("stream reader: acknowledged after the handler; a handler that throws gets the entry again after "
          "claim_idle; unknown and broken entries are reported and acknowledged") {
  RedisServer redis;
  RedisServer::Client c(redis.port());
  for (int i = 0; i < 3; ++i) {
    auto f = vote_fields(i);
    c.command({"XADD", "s", "*", f[0].first, f[0].second, f[1].first, f[1].second});
  }
  c.command({"XADD", "s", "*", "event", "vote.deleted", "json", "{}"});
  c.command({"XADD", "s", "*", "event", "dbl_vote", "json", "{\"route\":1}"});

  topgg::RedisStreamReaderOptions o;
  o.redis = patient(redis.port());
  o.stream = "s";
  o.group = "g";
  o.consumer = "me";
  o.claim_idle = 200ms;
  topgg::RedisStreamReader reader(o);
  std::vector<std::string> users, lines;
  int calls = 0;
  reader
      .on<topgg::BotVote>([&](const topgg::BotVote& v, const topgg::RedisStreamEntry& e) {
        ++calls;
        if (v.user.to_string() == "100001" && !e.claimed)
          throw std::runtime_error("the database is down");
        users.push_back(v.user.to_string() + (e.claimed ? " again" : ""));
      })
      .on_error([&](std::string_view l) { lines.emplace_back(l); });
  CHECK(reader.poll(0ms) == 5);
  CHECK(users == std::vector<std::string>{"100000", "100002"});
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("threw (the database is down)") != std::string::npos);
  CHECK(lines[1].find("unknown event 'vote.deleted'") != std::string::npos);
  CHECK(lines[2].find("missing string \"route\"") != std::string::npos);
  CHECK(c.command({"XLEN", "s"}) == "5");
  // One entry pending: handled again once idle for claim_idle (polls meanwhile find nothing).
  for (int i = 0; i < 600 && users.size() < 3; ++i)
    reader.poll(50ms);
  CHECK(users == std::vector<std::string>{"100000", "100002", "100001 again"});
  CHECK(calls == 4);
  auto* r = static_cast<redisReply*>(redisCommand(c.c, "XPENDING s g"));
  REQUIRE(r);
  CHECK(r->element[0]->integer == 0);
  freeReplyObject(r);
  // A new entry while polling: read once.
  auto f = vote_fields(7);
  c.command({"XADD", "s", "*", f[0].first, f[0].second, f[1].first, f[1].second});
  CHECK(reader.poll(30'000ms) == 1);
  CHECK(users.back() == "100007");
}

TEST_CASE("stream reader: after a restart with the same consumer name, its own unacknowledged entries come first") {
  RedisServer redis;
  RedisServer::Client c(redis.port());
  auto f = vote_fields(5);
  c.command({"XADD", "s", "*", f[0].first, f[0].second, f[1].first, f[1].second});
  c.command({"XGROUP", "CREATE", "s", "g", "0"});
  // What a process that crashed in its handler leaves: read by "me", never acknowledged.
  auto* r = static_cast<redisReply*>(redisCommand(c.c, "XREADGROUP GROUP g me STREAMS s >"));
  REQUIRE(r);
  freeReplyObject(r);
  topgg::RedisStreamReaderOptions o;
  o.redis = patient(redis.port());
  o.stream = "s";
  o.group = "g";
  o.consumer = "me";
  o.claim_idle = 3'600'000ms; // never by the timeout here
  topgg::RedisStreamReader reader(o);
  std::vector<std::string> users;
  reader.on<topgg::BotVote>([&](const topgg::BotVote& v) { users.push_back(v.user.to_string()); });
  CHECK(reader.poll(0ms) == 1);
  CHECK(users == std::vector<std::string>{"100005"});
  CHECK(reader.poll(0ms) == 0); // nothing new: answered at once (BLOCK 0 would wait for ever)
}

TEST_CASE("stream writer: add(event, json, ack) answers a delivery 200 once the entry is in, 503 while Redis is "
          "stopped") {
  RedisServer redis;
  topgg::RedisStreamOptions so;
  so.redis = patient(redis.port());
  so.stream = "s";
  topgg::RedisStreamWriter w(so);
  w.on_error([](std::string_view) {});
  topgg::Router router;
  router.dbl_webhook("/dbl", "key")
      .on<topgg::BotVote>(topgg::AckHandler<topgg::BotVote>([&](const topgg::BotVote& v, topgg::Ack ack) {
        w.add("dbl_vote", tool::to_json(v), std::move(ack));
      }))
      .on_error([](const topgg::Rejection&) {})
      .on_warning([](std::string_view) {});
  auto deliver = [&](const std::string& user) {
    const std::string body = R"({"bot":"264811613708746752","user":")" + user + R"(","type":"upvote"})";
    const topgg::Header headers[] = {{"Authorization", "key"}, {"Content-Type", "application/json"}};
    topgg::Request req{"POST", "/dbl", "/dbl", headers, body};
    std::mutex m;
    std::condition_variable cv;
    std::optional<int> status;
    router.handle(req, topgg::Now::current(), [&](topgg::Response r) {
      std::lock_guard lock(m);
      status = r.status;
      cv.notify_all();
    });
    std::unique_lock lock(m);
    cv.wait_for(lock, 60s, [&] { return status.has_value(); });
    return status.value_or(0);
  };
  RedisServer::Client c(redis.port());
  CHECK(deliver("1") == 200);
  CHECK(c.command({"XLEN", "s"}) == "1");
  redis.stop();
  CHECK(deliver("2") == 503);
  CHECK(w.counts().failed == 1);
}
