// A bot process reading the events `topgg-webhook listen --redis-stream NAME`
// adds: every process of the bot runs one, with its own consumer name, in one
// consumer group; each event reaches one of them.
//
//   redis_stream_consumer redis://127.0.0.1:6379 topgg:events bot shard-0 [CLAIM_IDLE_MS] [hold]
//
// Prints one line per event handled: "<consumer> <entry ID> <event> <user>".
// `hold`: the handler of each entry prints "<consumer> holding <entry ID>" and
// never returns (a process that hangs or is killed before acknowledging): the
// tests kill it and watch another consumer take its entries over.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "topgg/redis_stream.hpp"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s REDIS_URL STREAM GROUP CONSUMER [CLAIM_IDLE_MS] [hold]\n", argv[0]);
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  topgg::RedisStreamReaderOptions o;
  o.redis = topgg::RedisOptions::from_url(argv[1]);
  o.stream = argv[2];
  o.group = argv[3];
  o.consumer = argv[4];
  o.block = std::chrono::milliseconds(500);
  if (argc > 5)
    o.claim_idle = std::chrono::milliseconds(std::stol(argv[5]));
  const bool hold = argc > 6 && std::string(argv[6]) == "hold";
  const std::string me = o.consumer;

  topgg::RedisStreamReader reader(o);
  auto print = [&](const topgg::RedisStreamEntry& e, const std::string& user) {
    if (hold) {
      std::printf("%s holding %s\n", me.c_str(), e.id.c_str());
      std::fflush(stdout);
      for (;;)
        std::this_thread::sleep_for(std::chrono::hours(1));
    }
    std::printf("%s %s %s %s\n", me.c_str(), e.id.c_str(), e.event.c_str(), user.c_str());
    std::fflush(stdout);
  };
  // The same structs as webhook handlers get.
  reader.on<topgg::BotVote>([&](const topgg::BotVote& v, const topgg::RedisStreamEntry& e) { print(e, v.user.to_string()); })
      .on<topgg::ServerVote>([&](const topgg::ServerVote& v, const topgg::RedisStreamEntry& e) { print(e, v.user.to_string()); })
      .on<topgg::v1::VoteCreate>([&](const topgg::v1::VoteCreate& v, const topgg::RedisStreamEntry& e) { print(e, v.user.id); })
      .on_error([](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); });

  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    reader.stop(); // run() returns after the read under way
  });
  std::fprintf(stderr, "%s reading %s\n", me.c_str(), o.stream.c_str());
  reader.run();
  stopper.join();
  return 0;
}
