// Votes handed to the bot's own thread. The webhook server (Asio, on a thread
// of its own) puts each vote with its Ack on a queue; the "bot" thread — where
// a Discord library would run — takes it, rewards the voter, and only then
// acknowledges. Top.gg gets 200 after the reward, or 503 (and delivers again)
// if the bot failed or did not answer within Settings::ack_timeout.
// (To run plain handlers on the bot's thread instead, give the manager an
// `.executor([&](std::function<void()> job) { queue.push(std::move(job)); })`.)
//
//   TOPGG_DBL_AUTH=s3cret ./bot_thread 8080
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <topgg/asio.hpp>

namespace {

// A blocking queue: any thread pushes, the bot thread pops until close().
template <class T> class Queue {
public:
  void push(T item) {
    {
      std::lock_guard lock(m_);
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
  }
  std::optional<T> pop() { // nullopt once closed and drained
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return closed_ || !items_.empty(); });
    if (items_.empty())
      return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    {
      std::lock_guard lock(m_);
      closed_ = true;
    }
    cv_.notify_all();
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

// Stands for the bot's work per vote: a database update, a Discord message...
void reward(const topgg::BotVote& vote) {
  std::cout << "bot: rewarding user " << vote.user.to_string() << std::endl;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::cout << "bot: rewarded user " << vote.user.to_string() << " for voting for bot " << vote.bot.to_string()
            << std::endl;
}

} // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* auth = std::getenv("TOPGG_DBL_AUTH");
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // before any thread starts

  Queue<std::pair<topgg::BotVote, topgg::Ack>> votes;
  std::thread bot([&votes] {
    while (auto item = votes.pop()) {
      auto& [vote, ack] = *item;
      try {
        reward(vote);
        ack.ok(); // now Top.gg gets its 200
      } catch (const std::exception& e) {
        ack.retry(e.what()); // 503: Top.gg delivers the vote again later
      }
    }
  });

  {
    topgg::asio::WebhookManager webhooks; // owns an io_context on a background thread
    webhooks.dbl_webhook("/dbl", auth ? auth : "my-dbl-auth")
        .on_bot_vote([&votes](const topgg::BotVote& vote, topgg::Ack ack) {
          votes.push({vote, std::move(ack)}); // copy: the reference is valid only during this call
        });
    try {
      const unsigned bound = webhooks.run(static_cast<std::uint16_t>(port));
      std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", bound);
    } catch (const std::exception& e) {
      std::cerr << "cannot listen: " << e.what() << '\n';
      votes.close();
      bot.join();
      return 1;
    }
    int sig = 0;
    sigwait(&stop, &sig);
    std::cerr << "closing\n";
    webhooks.close(); // waits for the votes in flight: the bot thread still runs
  }
  votes.close(); // then the bot finishes what is queued and stops
  bot.join();
}
