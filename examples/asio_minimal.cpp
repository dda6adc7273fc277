// Minimal bot-vote server on standalone Asio, on the application's own
// io_context, run by main(). Ctrl-C / SIGTERM closes it gracefully and run()
// returns once the server has no work left.
//
//   TOPGG_DBL_AUTH=s3cret ./asio_minimal 8080      (port 0 picks a free one)
//   topgg-webhook send http://127.0.0.1:8080/dbl --kind dbl --auth s3cret
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <topgg/asio.hpp>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* auth = std::getenv("TOPGG_DBL_AUTH"); // the Authorization set on Top.gg

  asio::io_context io;
  topgg::asio::WebhookManager webhooks(io);
  webhooks.dbl_webhook("/dbl", auth ? auth : "my-dbl-auth")
      .on_bot_vote([](const topgg::BotVote& vote) { // runs on io.run()'s thread; return → 200
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

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& ec, int) {
    if (ec)
      return;
    std::cerr << "closing\n";
    webhooks.close(); // graceful: requests already received are answered, then the server's work ends
  });
  io.run(); // the rest of the application's work would run here too
}
