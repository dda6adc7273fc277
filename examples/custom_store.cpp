// Your own idempotency store: de-duplication keys kept in your bot's own
// database, so that a vote Top.gg delivers again (after a timeout, a 5xx, or
// while you restart) reaches your handler once. Here the database is SQLite
// through its C API; any database works the same way.
//
// The library calls claim() on its loop thread, which must never wait for
// disk or network. So the store only queues each operation; its own thread
// runs them, and answers each claim by completing the ClaimTicket it got from
// `later.defer()`. The delivery waits (no thread blocked) and goes on when
// the ticket completes: your handler runs, then confirm() or release().
//
// One gap remains, whatever the store: if the process dies after your handler
// succeeded but before confirm() is written, Top.gg's retry is handled again
// (at least once). For exactly once, record the vote and its key in one
// transaction of your own (see sqlite_ledger.cpp).
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_V1_SECRET=whs_... ./custom_store bot.db 8080
//   sqlite3 bot.db 'SELECT * FROM webhook_deliveries'
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <topgg/uv.hpp>

namespace {

class BotDatabaseStore final : public topgg::IdempotencyStore {
public:
  explicit BotDatabaseStore(const char* path) {
    if (sqlite3_open(path, &db_) != SQLITE_OK)
      throw std::runtime_error(std::string("cannot open database: ") + sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 1000);
    exec("PRAGMA journal_mode=WAL;"
         "CREATE TABLE IF NOT EXISTS webhook_deliveries ("
         "  key TEXT PRIMARY KEY, state TEXT NOT NULL, expires_ms INTEGER NOT NULL)");
    prepare("SELECT state, expires_ms FROM webhook_deliveries WHERE key = ?1", &select_);
    prepare("INSERT OR REPLACE INTO webhook_deliveries VALUES (?1, ?2, ?3)", &put_);
    prepare("DELETE FROM webhook_deliveries WHERE key = ?1 AND state = 'claimed'", &release_);
    exec(("DELETE FROM webhook_deliveries WHERE expires_ms <= " + std::to_string(ms(topgg::Now::current()))).c_str());
    worker_ = std::thread([this] { run(); });
  }

  // Writes what is still queued (the last confirms), then closes.
  ~BotDatabaseStore() override {
    {
      std::lock_guard lock(m_);
      stopping_ = true;
    }
    cv_.notify_one();
    worker_.join();
    for (sqlite3_stmt* s : {select_, put_, release_})
      sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  // On the loop thread: queue, and answer later through the ticket.
  std::optional<topgg::ClaimResult> claim(std::string_view key, topgg::Now now, std::chrono::milliseconds lease,
                                          topgg::ClaimDeferral& later) override {
    push({Op::claim, std::string(key), ms(now) + lease.count(), later.defer()});
    return std::nullopt;
  }
  void confirm(std::string_view key, topgg::Now now, std::chrono::milliseconds ttl) override {
    push({Op::confirm, std::string(key), ms(now) + ttl.count(), {}});
  }
  void release(std::string_view key, topgg::Now) override { push({Op::release, std::string(key), 0, {}}); }

private:
  struct Op {
    enum Kind { claim, confirm, release } kind;
    std::string key;
    long long expires_ms; // wall clock, so that a lease or TTL runs on across a restart
    topgg::ClaimTicket ticket;
  };

  static long long ms(topgg::Now now) {
    using namespace std::chrono;
    return duration_cast<milliseconds>(now.wall.time_since_epoch()).count();
  }

  void push(Op op) {
    {
      std::lock_guard lock(m_);
      queue_.push_back(std::move(op));
    }
    cv_.notify_one();
  }

  // The store's thread: everything queued meanwhile is one transaction; the
  // claims are answered once it is committed.
  void run() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stopping, and everything written
      std::deque<Op> batch;
      batch.swap(queue_);
      lock.unlock();
      std::vector<topgg::ClaimResult> results;
      const long long now = ms(topgg::Now::current());
      bool ok = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
      for (Op& op : batch)
        if (ok)
          ok = apply(op, now, results);
      ok = ok && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
      if (!ok) {
        report(std::string("bot database: ") + sqlite3_errmsg(db_)); // the library's error hook
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      }
      std::size_t next = 0;
      for (Op& op : batch) // unavailable → 503, and Top.gg delivers again
        if (op.kind == Op::claim)
          op.ticket.complete(ok ? results[next++] : topgg::ClaimResult::unavailable);
      lock.lock();
    }
  }

  bool apply(const Op& op, long long now, std::vector<topgg::ClaimResult>& results) {
    if (op.kind == Op::release)
      return step(release_, op.key, nullptr, 0);
    if (op.kind == Op::confirm)
      return step(put_, op.key, "done", op.expires_ms);
    // A claim: a live row says whether the delivery was handled or is being handled now.
    sqlite3_reset(select_);
    sqlite3_bind_text(select_, 1, op.key.data(), int(op.key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(select_);
    const bool live = rc == SQLITE_ROW && sqlite3_column_int64(select_, 1) > now;
    const auto* state = live ? reinterpret_cast<const char*>(sqlite3_column_text(select_, 0)) : nullptr;
    const bool done = state && std::string_view(state) == "done"; // else "claimed"
    sqlite3_reset(select_);                                       // before writing
    if (live) {
      results.push_back(done ? topgg::ClaimResult::done : topgg::ClaimResult::in_progress);
      return true;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return false;
    results.push_back(topgg::ClaimResult::claimed);
    return step(put_, op.key, "claimed", op.expires_ms);
  }

  bool step(sqlite3_stmt* s, const std::string& key, const char* state, long long expires_ms) {
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, key.data(), int(key.size()), SQLITE_STATIC);
    if (state) {
      sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, expires_ms);
    }
    return sqlite3_step(s) == SQLITE_DONE;
  }

  void prepare(const char* sql, sqlite3_stmt** s) {
    if (sqlite3_prepare_v2(db_, sql, -1, s, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt *select_ = nullptr, *put_ = nullptr, *release_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  bool stopping_ = false;
  std::thread worker_; // last: started once everything above exists
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: custom_store DATABASE [PORT]\n";
    return 2;
  }
  const int port = argc > 2 ? std::atoi(argv[2]) : 8080;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // before any thread starts

  try {
    auto store = std::make_shared<BotDatabaseStore>(argv[1]); // outlives the manager below
    topgg::uv::WebhookManager webhooks;
    webhooks.idempotency_store(store)
        .dbl_webhook("/dbl", env_or("TOPGG_DBL_AUTH", "my-dbl-auth"))
        .v1_webhook("/topgg", env_or("TOPGG_V1_SECRET", "whs_my-secret"))
        .on_bot_vote([](const topgg::BotVote& v) { // runs once the claim is answered, on the loop thread
          std::cout << "rewarded user " << v.user.to_string() << " (bot vote)" << std::endl;
        })
        .on_vote_create([](const topgg::v1::VoteCreate& v) {
          std::cout << "rewarded user " << v.user.platform_id << " (vote.create " << v.id << ")" << std::endl;
        })
        .on_error([](const topgg::Rejection& r) {
          std::cerr << "refused " << r.status << ' ' << r.path << ": " << r.detail << '\n';
        })
        .on_duplicate([](const topgg::Rejection& r) { // a retry of a handled delivery: answered 2xx, no event
          std::cerr << "duplicate " << r.status << ' ' << r.path << '\n';
        });
    const unsigned bound = webhooks.run(static_cast<std::uint16_t>(port));
    std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", bound);
    int sig = 0;
    sigwait(&stop, &sig);
    std::cerr << "closing\n";
    webhooks.close(); // answers the deliveries in flight; the store writes its queue after it
  } catch (const std::exception& e) {
    std::cerr << "custom_store: " << e.what() << '\n';
    return 1;
  }
}
