// Minimal bot-vote server on libuv: the WebhookManager owns its loop and runs
// it on a background thread; main() only waits for Ctrl-C / SIGTERM.
//
//   TOPGG_DBL_AUTH=s3cret ./uv_minimal 8080        (port 0 picks a free one)
//   topgg-webhook send http://127.0.0.1:8080/dbl --kind dbl --auth s3cret
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <topgg/uv.hpp>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* auth = std::getenv("TOPGG_DBL_AUTH"); // the Authorization set on Top.gg

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and sigwait() below is the only one to receive them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  topgg::uv::WebhookManager webhooks;
  webhooks.dbl_webhook("/dbl", auth ? auth : "my-dbl-auth")
      .on_bot_vote([](const topgg::BotVote& vote) { // return → 200; throw → 500 and Top.gg retries
        std::cout << "vote: user " << vote.user.to_string() << " voted for bot " << vote.bot.to_string() << " ("
                  << topgg::to_string(vote.type) << (vote.is_weekend ? ", weekend" : "") << ")" << std::endl;
      });
  try {
    const auto bound = webhooks.run(static_cast<std::uint16_t>(port), "0.0.0.0");
    std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", unsigned(bound));
  } catch (const std::exception& e) {
    std::cerr << "cannot listen: " << e.what() << '\n';
    return 1;
  }

  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "closing\n";
  webhooks.close(); // graceful: votes already received are answered first
}
