// Votes handled on the bot's own worker pool — what a D++ bot copies.
//
// The libuv WebhookManager reads and answers requests on its own loop thread;
// `executor(...)` hands each vote handler to a pool of the bot's instead, and
// the delivery is answered when the handler returns (200, or 204 on v1
// routes), fails (throw → 500) or its Ack completes. Top.gg delivers again
// after a 5xx or no answer within 5 s, so a handler may see one vote twice
// across failures and restarts: make its write idempotent (keyed by the vote,
// as examples/sqlite_ledger.cpp does).
//
// In D++: the cluster runs its event callbacks on its own thread pool and
// takes other work with `cluster::queue_work(int priority, std::function<void()>)`
// — replace WorkerPool below with the cluster:
//
//   dpp::cluster bot(token);
//   topgg::uv::WebhookManager webhooks;          // its loop runs on a thread of its own
//   webhooks.dbl_webhook("/dbl", auth)
//       .executor([&bot](std::function<void()> job) { bot.queue_work(0, std::move(job)); })
//       .on_bot_vote([&bot](const topgg::BotVote& v, topgg::Ack ack) {
//         // Runs on a D++ pool thread. D++ replies asynchronously: keep the Ack
//         // (and copies of what you need: `v` is valid during this call only)
//         // and complete it in the completion callback.
//         bot.direct_message_create(v.user.value(), dpp::message("Thanks for voting!"),
//                                   [ack](const dpp::confirmation_callback_t& cc) {
//                                     cc.is_error() ? ack.retry("DM failed") : ack.ok();
//                                   });
//       });
//   webhooks.run(8080);                          // returns once bound
//   bot.start(dpp::st_wait);
//   webhooks.close();                            // before the cluster goes away
//
// Order at shutdown: close the manager while the pool still runs — close()
// waits for the votes in flight, whose handlers need the pool — then stop the
// pool. A job the pool drops without running is answered 503 (Top.gg retries).
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_V1_SECRET=whs_... ./uv_worker_pool 8080
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <topgg/uv.hpp>

namespace {

thread_local int worker_number = 0; // 1..n on the pool's threads

/// Stands for the bot library's pool (dpp::cluster::queue_work): n threads
/// taking jobs in order. The priority is only there to match D++'s call.
class WorkerPool {
public:
  explicit WorkerPool(int n) {
    for (int i = 1; i <= n; ++i)
      threads_.emplace_back([this, i] {
        worker_number = i;
        work();
      });
  }
  /// Runs what is queued, then joins the threads.
  ~WorkerPool() {
    {
      std::lock_guard lock(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }
  void queue_work(int /*priority*/, std::function<void()> job) {
    {
      std::lock_guard lock(m_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(m_);
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty())
          return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job(); // the library's jobs never throw: a handler's exception is its 500
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

std::mutex out;
void say(const std::string& line) {
  std::lock_guard lock(out);
  std::cout << "worker " << worker_number << ": " << line << std::endl;
}

} // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* auth = std::getenv("TOPGG_DBL_AUTH");
  const char* secret = std::getenv("TOPGG_V1_SECRET");
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // before any thread starts

  WorkerPool pool(4); // declared first: destroyed after the manager
  topgg::uv::WebhookManager webhooks;
  webhooks.dbl_webhook("/dbl", auth ? auth : "my-dbl-auth")
      .v1_webhook("/topgg", secret ? secret : "whs_my-secret")
      .executor([&pool](std::function<void()> job) { pool.queue_work(0, std::move(job)); })
      // A plain handler on a pool thread: returns → 200, throws → 500 (the
      // exception's text goes to the error hook, never into the answer).
      .on_bot_vote([](const topgg::BotVote& v) {
        if (v.query.get("fail"))
          throw std::runtime_error("could not store the reward");
        say("rewarding user " + v.user.to_string() + " for bot " + v.bot.to_string());
        std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the bot's own work
        say("rewarded user " + v.user.to_string());
      })
      // With an Ack: finished later by another job, as an asynchronous D++
      // call's completion callback would. The event is copied into the job.
      .on_vote_create([&pool](const topgg::v1::VoteCreate& v, topgg::Ack ack) {
        pool.queue_work(0, [user = v.user.platform_id, weight = v.weight, ack] {
          say("vote.create by " + user + " (weight " + std::to_string(weight) + ") handled");
          if (!ack.ok()) // false: answered already (503 after Settings::ack_timeout) — Top.gg sends it again
            say("too late: Top.gg will deliver this vote again");
        });
      });
  try {
    webhooks.run(static_cast<std::uint16_t>(port), "0.0.0.0");
    std::fprintf(stderr, "listening on http://%s\n", webhooks.address().c_str());
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  std::cerr << "closing\n";
  webhooks.close(); // answers the votes in flight: the pool still runs them
}
