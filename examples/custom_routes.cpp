// Custom routes beside the vote routes (the Python SDK's `webserver`): a
// health check for a load balancer and the library's own counters
// (topgg::Metrics) as a Prometheus /metrics page. Custom routes run on the
// server's loop thread, so they must answer quickly and never block. In
// production, serve /metrics from a second manager on a private address
// (as `topgg-webhook listen --metrics` does), not on the port Top.gg reaches.
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_DSL_AUTH=s3cret2 ./custom_routes 8080
//   curl http://127.0.0.1:8080/health ; curl http://127.0.0.1:8080/metrics
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <topgg/metrics.hpp>
#include <topgg/uv.hpp>

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

} // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // before any thread starts

  // Requests by route and status, events, refusals by reason, handler latency:
  // counted by the library, timed on the steady clock.
  auto metrics = std::make_shared<topgg::Metrics>(&std::chrono::steady_clock::now);

  topgg::uv::WebhookManager webhooks;
  webhooks.metrics(metrics)
      .dbl_webhook("/dbl", env_or("TOPGG_DBL_AUTH", "my-dbl-auth"))
      .dsl_webhook("/dsl", env_or("TOPGG_DSL_AUTH", "my-dsl-auth"))
      .on_bot_vote([](const topgg::BotVote& v) {
        std::cout << "bot vote: user " << v.user.to_string() << " -> bot " << v.bot.to_string() << std::endl;
      })
      .on_server_vote([](const topgg::ServerVote& v) {
        std::cout << "server vote: user " << v.user.to_string() << " -> server " << v.guild.to_string() << std::endl;
      })
      .on_error([](const topgg::Rejection& r) {
        std::cerr << "refused " << r.status << ' ' << r.path << ": " << r.detail << '\n';
      })
      // Method "GET" only: other methods get 405 with an Allow header.
      .route("GET", "/health",
             [](const topgg::Request&) {
               return topgg::Response{200, {{"Content-Type", "text/plain"}}, "ok\n"};
             })
      .route("GET", "/metrics", [metrics](const topgg::Request&) {
        topgg::Response r;
        r.headers.emplace_back("Content-Type", std::string(topgg::Metrics::prometheus_content_type));
        metrics->write_prometheus(r.body); // topgg_webhook_events_total{event="dbl_vote"} …
        return r;
      });
  try {
    const unsigned bound = webhooks.run(static_cast<std::uint16_t>(port));
    std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", bound);
  } catch (const std::exception& e) {
    std::cerr << "cannot listen: " << e.what() << '\n';
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "closing\n";
  webhooks.close();
}
