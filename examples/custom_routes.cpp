// Custom routes beside the vote routes (the Python SDK's `webserver`): a
// health check for a load balancer and a tiny Prometheus-style /metrics page
// that counts the votes received. Custom routes run on the server's loop
// thread, so they must answer quickly and never block.
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_DSL_AUTH=s3cret2 ./custom_routes 8080
//   curl http://127.0.0.1:8080/health ; curl http://127.0.0.1:8080/metrics
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

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

  std::atomic<unsigned long> bot_votes{0}, server_votes{0}, refused{0};

  topgg::uv::WebhookManager webhooks;
  webhooks.dbl_webhook("/dbl", env_or("TOPGG_DBL_AUTH", "my-dbl-auth"))
      .dsl_webhook("/dsl", env_or("TOPGG_DSL_AUTH", "my-dsl-auth"))
      .on_bot_vote([&](const topgg::BotVote& v) {
        ++bot_votes;
        std::cout << "bot vote: user " << v.user.to_string() << " -> bot " << v.bot.to_string() << std::endl;
      })
      .on_server_vote([&](const topgg::ServerVote& v) {
        ++server_votes;
        std::cout << "server vote: user " << v.user.to_string() << " -> server " << v.guild.to_string() << std::endl;
      })
      .on_error([&](const topgg::Rejection& r) {
        ++refused;
        std::cerr << "refused " << r.status << ' ' << r.path << ": " << r.detail << '\n';
      })
      // Method "GET" only: other methods get 405 with an Allow header.
      .route("GET", "/health",
             [](const topgg::Request&) {
               return topgg::Response{200, {{"Content-Type", "text/plain"}}, "ok\n"};
             })
      .route("GET", "/metrics", [&](const topgg::Request&) {
        topgg::Response r;
        r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
        r.body = "# TYPE topgg_votes_total counter\n";
        r.body += "topgg_votes_total{kind=\"bot\"} " + std::to_string(bot_votes.load()) + '\n';
        r.body += "topgg_votes_total{kind=\"server\"} " + std::to_string(server_votes.load()) + '\n';
        r.body += "# TYPE topgg_refused_total counter\n";
        r.body += "topgg_refused_total " + std::to_string(refused.load()) + '\n';
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
