// Drives one keep-alive Connection through N identical deliveries, for
// tests/bench/callgrind: run with two N, the difference of the instruction
// counts divided by the difference of N is the cost of one request, free of
// start-up. Exits 1 if any answer is not the expected success. The baselines
// run the bot-vote bytes through bare llhttp or bare simdjson On-Demand.
//
//   bench-callgrind bot|server|v1|llhttp|simdjson|simdjson-dom N
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_bare.hpp"
#include "bench_requests.hpp"
#include "topgg/topgg.hpp"

int main(int argc, char** argv) {
  using namespace topgg_bench;
  const std::string kind = argc == 3 ? argv[1] : "";
  const long n = argc == 3 ? std::atol(argv[2]) : -1;
  if (kind == "llhttp" && n >= 0) {
    const std::string r = bot_request();
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &bare_settings());
    for (long i = 0; i < n + 4; ++i)
      if (llhttp_execute(&p, r.data(), r.size()) != HPE_OK)
        return 1;
    return 0;
  }
  if (kind == "simdjson" && n >= 0) {
    const simdjson::padded_string body(bot_body);
    simdjson::ondemand::parser parser;
    for (long i = 0; i < n + 4; ++i)
      if (!read_vote<true>(parser, body))
        return 1;
    return 0;
  }
  if (kind == "simdjson-dom" && n >= 0) {
    const simdjson::padded_string body(bot_body);
    simdjson::dom::parser parser;
    for (long i = 0; i < n + 4; ++i)
      if (!read_vote_dom(parser, body))
        return 1;
    return 0;
  }
  // "-dedup": de-duplication on (the default memory store), every delivery a
  // new vote (another voter), so each one is claimed and confirmed.
  const bool dedup = kind.ends_with("-dedup");
  const std::string base = dedup ? kind.substr(0, kind.size() - 6) : kind;
  // A fixed number of distinct requests, whatever N: building them costs the
  // same in both runs of tests/bench/callgrind and cancels out.
  std::vector<std::string> reqs;
  for (long i = 0; i < (dedup ? std::max(n, 11'000L) + 4 : 1) && n >= 0; ++i) {
    if (base == "bot")
      reqs.push_back(dedup ? bot_request_from(i) : bot_request());
    else if (base == "server")
      reqs.push_back(server_request());
    else if (base == "v1")
      reqs.push_back(dedup ? v1_request_from(i) : v1_request());
  }
  if (reqs.empty() || n < 0) {
    std::fprintf(stderr, "usage: %s bot|server|v1|bot-dedup|v1-dedup|llhttp|simdjson|simdjson-dom N\n", argv[0]);
    return 2;
  }
  topgg::Settings s;
  s.max_requests_per_connection = 0xffffffffu;
  if (!dedup)
    s.dedup_ttl = std::chrono::seconds(0); // the same delivery again and again: each is handled
  unsigned long events = 0, bad = 0;
  topgg::Router router;
  router.dbl_webhook("/dbl", std::string(dbl_auth))
      .dsl_webhook("/dsl", std::string(dsl_auth))
      .v1_webhook("/v1", std::string(v1_secret))
      .on_bot_vote([&](const topgg::BotVote&) { ++events; })
      .on_server_vote([&](const topgg::ServerVote&) { ++events; })
      .on_vote_create([&](const topgg::v1::VoteCreate&) { ++events; })
      .on_error([&](const topgg::Rejection&) { ++bad; })
      .settings(s);
  const topgg::Now now = bench_now();
  topgg::Connection c(router, now);
  const std::string_view ok = base == "v1" ? "HTTP/1.1 204" : "HTTP/1.1 200";
  for (long i = 0; i < n + 4; ++i) { // 4 warm-up requests in every run: they cancel out
    c.receive(reqs[static_cast<std::size_t>(i) % reqs.size()], now);
    const std::string_view out = c.output();
    if (out.substr(0, ok.size()) != ok)
      ++bad;
    c.consume(out.size());
  }
  if (bad || events != static_cast<unsigned long>(n + 4)) {
    std::fprintf(stderr, "bench-callgrind: %lu bad answers, %lu events\n", bad, events);
    return 1;
  }
  return 0;
}
