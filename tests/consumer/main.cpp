// A tiny project that uses the installed library, as a user's would: one
// bot vote through the core (recorded by the vote book), then the libuv
// adapter bound on port 0.
#include <topgg/topgg.hpp>
#include <topgg/uv.hpp>
#include <topgg/vote_book.hpp>

#include <cstdio>
#include <string>

int main() {
  topgg::Router router;
  int votes = 0;
  router.dbl_webhook("/dbl", "key").on_bot_vote([&votes](const topgg::BotVote& v) { votes += v.user.value() == 2; });
  topgg::VoteBook book(router);
  topgg::Connection c(router, topgg::Now::current());
  const std::string body = R"({"bot":"1","user":"2","type":"upvote"})";
  c.receive("POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: key\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n\r\n" + body,
            topgg::Now::current());
  const bool ok = c.output().starts_with("HTTP/1.1 200 OK") && votes == 1 &&
                  book.status(topgg::VoteSubject::bot(topgg::Snowflake(1)), "2").count == 1;

  topgg::uv::WebhookManager webhooks;
  const auto port = webhooks.dbl_webhook("/dbl", "key").on_bot_vote([](const topgg::BotVote&) {}).run(0, "127.0.0.1");
  webhooks.close();
  std::printf("topgg-webhook %s: core %s, uv adapter bound port %u\n", TOPGG_WEBHOOK_VERSION, ok ? "ok" : "FAILED",
              port);
  return ok && port != 0 ? 0 : 1;
}
