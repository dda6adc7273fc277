// topgg-webhook: receive Top.gg webhooks from the command line (`listen`,
// listen.cpp), send a delivery the way Top.gg does, to test a setup (`send`),
// print the vote history (`votes`, votes.cpp), or what the vote book knows of
// a user (`status`, status.cpp).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "events_json.hpp"
#include "integrations.hpp"
#include "listen.hpp"
#include "options.hpp"
#include "send.hpp"
#include "vote_book.hpp"
#include "votes.hpp"
#include "topgg/topgg.hpp"

namespace {

constexpr const char* send_help = R"(usage: topgg-webhook send URL --kind dbl|dsl|vote.create|webhook.test [options]

Sends one delivery exactly as Top.gg would (v1 ones signed with the current
time), prints the answer's status and body, and exits 1 unless it is 2xx.

  --auth KEY        Authorization for dbl/dsl (default $TOPGG_DBL_AUTH / $TOPGG_DSL_AUTH)
  --secret S        v1 signing secret (default $TOPGG_V1_SECRET)
  --bot ID          bot / project platform ID (default 264811613708746752)
  --guild ID        server ID for dsl (default 5678)
  --user ID         the voter (default: Discord ID 160105994217586689); for v1, also
                    its Top.gg user ID, which is otherwise new at each send (so
                    that test votes sent within a second are not one vote)
  --type upvote|test  (default test)
  --query Q         query string the voter's link carried, e.g. '?ref=home'

examples:
  topgg-webhook send http://127.0.0.1:8080/dbl --kind dbl --auth s3cret --query '?ref=readme'
  topgg-webhook send http://127.0.0.1:8080/topgg --kind vote.create --secret whs_...
)";

std::string rfc3339_at(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t);
  return tool::rfc3339(topgg::v1::Timestamp{us.time_since_epoch()});
}

int send_main(int argc, char** argv) {
  using tool::usage_error;
  const tool::Options o(argc, argv, 2, {{"kind", "auth", "secret", "bot", "guild", "user", "type", "query"}});
  if (o.help()) {
    std::fputs(send_help, stdout);
    return 0;
  }
  if (o.positional().size() != 1)
    usage_error("send needs exactly one URL");
  const std::string kind = o.get("kind");
  const std::string type = o.get("type", "test");
  if (type != "upvote" && type != "test")
    usage_error("--type must be upvote or test");
  for (const char* id : {"bot", "guild", "user"})
    if (o.has(id) && !topgg::Snowflake::parse(o.get(id)))
      usage_error(std::string("--") + id + " must be a Discord ID (digits)");
  const std::string bot = o.get("bot", "264811613708746752"), user = o.get("user", "160105994217586689");
  std::string body, headers = "Content-Type: application/json\r\n";
  auto q = [](std::string_view s) {
    std::string out;
    tool::json_string(out, s);
    return out;
  };
  if (kind == "dbl" || kind == "dsl") {
    const char* env = std::getenv(kind == "dbl" ? "TOPGG_DBL_AUTH" : "TOPGG_DSL_AUTH");
    const std::string auth = o.has("auth") ? o.get("auth") : std::string(env ? env : "");
    body = kind == "dbl" ? "{\"bot\":" + q(bot) : "{\"guild\":" + q(o.get("guild", "5678"));
    body += ",\"user\":" + q(user) + ",\"type\":" + q(type);
    if (kind == "dbl")
      body += ",\"isWeekend\":false";
    if (o.has("query"))
      body += ",\"query\":" + q(o.get("query"));
    body += "}";
    if (!auth.empty())
      headers += "Authorization: " + auth + "\r\n";
  } else if (kind == "vote.create" || kind == "webhook.test") {
    const char* env = std::getenv("TOPGG_V1_SECRET");
    const std::string secret = o.has("secret") ? o.get("secret") : std::string(env ? env : "");
    if (secret.empty())
      usage_error("v1 deliveries need --secret or $TOPGG_V1_SECRET");
    std::mt19937_64 rng{std::random_device{}()};
    const std::string id = std::to_string(rng() >> 2);
    const std::string project =
        R"({"id":"803190510032756736","type":"bot","platform":"discord","platform_id":)" + q(bot) + "}";
    // The Top.gg user ID is part of a vote's identity (with its second): one
    // fixed ID made test votes sent within a second one vote.
    const std::string topgg_user = o.has("user") ? user : "test-user-" + std::to_string(rng() >> 2);
    const std::string voter =
        R"({"id":)" + q(topgg_user) + R"(,"platform_id":)" + q(user) + R"(,"name":"test-voter","avatar_url":null})";
    if (kind == "vote.create") {
      const auto now = std::chrono::system_clock::now();
      body = R"({"type":"vote.create","data":{"id":)" + q(id) + R"(,"weight":1,"created_at":)" + q(rfc3339_at(now)) +
             R"(,"expires_at":)" + q(rfc3339_at(now + std::chrono::hours(12))) + R"(,"project":)" + project +
             R"(,"user":)" + voter;
      if (o.has("query")) {
        topgg::Query parsed;
        parsed.parse(o.get("query"));
        body += R"(,"query":{)";
        for (std::size_t i = 0; i < parsed.size(); ++i)
          body += (i ? "," : "") + q(parsed[i].key) + ":" + q(parsed[i].value);
        body += "}";
      }
      body += "}}";
    } else {
      body = R"({"type":"webhook.test","data":{"project":)" + project + R"(,"user":)" + voter + "}}";
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    headers += "x-topgg-signature: " + topgg::v1::sign(secret, now.count(), body) + "\r\n";
    headers += "x-topgg-trace: send-" + id + "\r\n";
  } else {
    usage_error("--kind must be dbl, dsl, vote.create or webhook.test");
  }
  const tool::HttpResult r = tool::http_post(o.positional()[0], headers, body);
  if (r.status == 0) {
    std::fprintf(stderr, "topgg-webhook: %s\n", r.error.c_str());
    return 1;
  }
  std::printf("%d %s\n%s%s", r.status, std::string(topgg::reason_phrase(r.status)).c_str(), r.body.c_str(),
              r.body.empty() || r.body.back() == '\n' ? "" : "\n");
  return r.status >= 200 && r.status < 300 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "listen")
    return tool::listen_main(argc, argv);
  if (cmd == "votes")
    return tool::votes_main(argc, argv);
  if (cmd == "send")
    return send_main(argc, argv);
  if (cmd == "status")
    return tool::status_main(argc, argv);
  if (cmd == "integrations")
    return tool::integrations_main(argc, argv);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::printf("usage: topgg-webhook listen|send|votes|status|integrations [options]   (topgg-webhook <command> --help)\n"
                "version %s\n",
                TOPGG_WEBHOOK_VERSION);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("%s\n", TOPGG_WEBHOOK_VERSION);
    return 0;
  }
  tool::usage_error(cmd.empty() ? "missing command: listen, send, votes, status or integrations" : "unknown command '" + cmd + "'");
}
