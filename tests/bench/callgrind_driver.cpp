// Drives one keep-alive Connection through N identical deliveries, for
// tests/bench/callgrind: run with two N, the difference of the instruction
// counts divided by the difference of N is the cost of one request, free of
// start-up. Exits 1 if any answer is not the expected success. The baselines
// (bench_bare.hpp) run the same bytes through the bare libraries:
//   llhttp, simdjson, simdjson-dom   the bot vote (request bytes; body On-Demand or DOM)
//   llhttp-v1, simdjson-v1, hmac     the signed v1 vote (request; body DOM; HMAC-SHA256 of "<t>." + body)
//   auth                             the Authorization value against the key (CRYPTO_memcmp)
// and "handle" is Router::handle with the bot vote already parsed (request level).
// A "-metrics" suffix (bot-metrics, v1-dedup-metrics, …) runs the same with
// topgg::Metrics on, timed on steady_clock as the CLI does.
//
//   bench-callgrind KIND N
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
  if (kind.starts_with("llhttp") && n >= 0) {
    const std::string r = kind == "llhttp-v1" ? v1_request() : bot_request();
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
  if (kind == "simdjson-v1" && n >= 0) {
    const simdjson::padded_string body(v1_body);
    simdjson::dom::parser parser;
    for (long i = 0; i < n + 4; ++i)
      if (!read_v1_dom(parser, body))
        return 1;
    return 0;
  }
  if (kind == "hmac" && n >= 0) {
    BareHmac h(v1_secret);
    const std::string t = std::to_string(v1_timestamp);
    unsigned char mac[32];
    for (long i = 0; i < n + 4; ++i)
      if (!h.mac(t, v1_body, mac))
        return 1;
    sink = mac[0];
    return 0;
  }
  if (kind == "auth" && n >= 0) {
    const std::string key(dbl_auth);
    const std::string given(dbl_auth); // another buffer, as a request's header is
    std::size_t ok = 0;
    for (long i = 0; i < n + 4; ++i) {
      ok += bare_auth(given, key);
      sink = ok;
    }
    return ok == static_cast<std::size_t>(n + 4) ? 0 : 1;
  }
  if (kind == "simdjson-dom" && n >= 0) {
    const simdjson::padded_string body(bot_body);
    simdjson::dom::parser parser;
    for (long i = 0; i < n + 4; ++i)
      if (!read_vote_dom(parser, body))
        return 1;
    return 0;
  }
  // "-metrics": counted into a Metrics. "-dedup": de-duplication on (the
  // default memory store), every delivery a new vote (another voter), so each
  // one is claimed and confirmed.
  const bool metered = kind.ends_with("-metrics");
  const std::string unmetered = metered ? kind.substr(0, kind.size() - 8) : kind;
  const bool dedup = unmetered.ends_with("-dedup");
  const std::string base = dedup ? unmetered.substr(0, unmetered.size() - 6) : unmetered;
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
    else if (base == "handle")
      reqs.emplace_back();
  }
  if (reqs.empty() || n < 0) {
    std::fprintf(stderr,
                 "usage: %s bot|server|v1|bot-dedup|v1-dedup|handle[-metrics]|llhttp|llhttp-v1|simdjson|simdjson-dom|"
                 "simdjson-v1|hmac|auth N\n",
                 argv[0]);
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
  if (metered)
    router.metrics(std::make_shared<topgg::Metrics>(&topgg::Clock::now));
  const topgg::Now now = bench_now();
  if (base == "handle") { // request level: parsing is the caller's
    const topgg::Request& req = bot_parsed();
    for (long i = 0; i < n + 4; ++i)
      router.handle(req, now, [&](topgg::Response r) { bad += r.status != 200; });
    if (bad || events != static_cast<unsigned long>(n + 4)) {
      std::fprintf(stderr, "bench-callgrind: %lu bad answers, %lu events\n", bad, events);
      return 1;
    }
    return 0;
  }
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
