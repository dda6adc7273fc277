// A vote ledger in SQLite: the pattern for never losing a vote. Each vote is
// committed to the database *before* the handler returns, and only then does
// Top.gg get its 2xx; if the commit fails the handler throws, Top.gg gets 500
// and delivers the vote again. Deliveries repeated by Top.gg (retries after a
// lost answer, or after a restart) hit the unique key and are ignored, so the
// ledger holds each vote once.
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_V1_SECRET=whs_... ./sqlite_ledger votes.db 8080
//   sqlite3 votes.db 'SELECT * FROM votes'
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include <topgg/uv.hpp>

namespace {

class Ledger {
public:
  explicit Ledger(const char* path) {
    if (sqlite3_open(path, &db_) != SQLITE_OK)
      throw std::runtime_error(std::string("cannot open database: ") + sqlite3_errmsg(db_));
    sqlite3_busy_timeout(db_, 2000); // another writer: wait a little (Top.gg waits 5 s for the answer)
    // WAL + synchronous=FULL: a committed INSERT survives a crash or power loss.
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
         "CREATE TABLE IF NOT EXISTS votes ("
         "  delivery TEXT PRIMARY KEY," // what makes a repeated delivery a duplicate
         "  kind TEXT NOT NULL, project TEXT NOT NULL, user TEXT NOT NULL,"
         "  weight INTEGER NOT NULL, query TEXT NOT NULL, received_at INTEGER NOT NULL)");
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO votes VALUES (?1, ?2, ?3, ?4, ?5, ?6, CAST(strftime('%s', 'now') AS INTEGER))"
                           " ON CONFLICT (delivery) DO NOTHING",
                           -1, &insert_, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
  }
  ~Ledger() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  /// Commits one vote (autocommit: one transaction). True if new, false if a
  /// duplicate. Throws if it could not be stored, so the delivery is retried.
  bool record(const std::string& delivery, const char* kind, const std::string& project, const std::string& user,
              long long weight, const std::string& query) {
    sqlite3_reset(insert_);
    sqlite3_bind_text(insert_, 1, delivery.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert_, 3, project.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert_, 4, user.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert_, 5, weight);
    sqlite3_bind_text(insert_, 6, query.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert_) != SQLITE_DONE)
      throw std::runtime_error(std::string("vote not stored: ") + sqlite3_errmsg(db_));
    return sqlite3_changes(db_) == 1;
  }

private:
  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      throw std::runtime_error(sqlite3_errmsg(db_));
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

void report(bool added, const std::string& delivery) {
  std::cout << (added ? "recorded " : "duplicate ignored ") << delivery << std::endl;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: sqlite_ledger DATABASE [PORT]\n";
    return 2;
  }
  const int port = argc > 2 ? std::atoi(argv[2]) : 8080;
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // before any thread starts

  try {
    Ledger ledger(argv[1]);
    // Handlers run one at a time on the server's loop thread, so one sqlite3
    // connection is enough. A commit takes milliseconds; under heavy traffic
    // give the manager an .executor() that runs them on a writer thread.
    topgg::uv::WebhookManager webhooks;
    webhooks.dbl_webhook("/dbl", env_or("TOPGG_DBL_AUTH", "my-dbl-auth"))
        .v1_webhook("/topgg", env_or("TOPGG_V1_SECRET", "whs_my-secret"))
        .on_bot_vote([&](const topgg::BotVote& v) {
          // Legacy votes carry no ID. Top.gg accepts one vote per user and bot
          // every 12 hours, so that period names the vote (a retry straddling
          // the period's end would be counted twice: prefer v1 deliveries).
          using namespace std::chrono;
          const auto period = duration_cast<hours>(system_clock::now().time_since_epoch()).count() / 12;
          const std::string key = "dbl:" + v.bot.to_string() + ':' + v.user.to_string() + ':' +
                                  std::string(topgg::to_string(v.type)) + ':' + std::to_string(period);
          const int weight = v.is_weekend ? 2 : 1; // as Top.gg counts weekend votes
          report(ledger.record(key, "dbl", v.bot.to_string(), v.user.to_string(), weight, v.query.encode()), key);
        })
        .on_vote_create([&](const topgg::v1::VoteCreate& v) { // v1: the vote's own ID is the key
          const std::string key = "v1:" + v.id;
          report(ledger.record(key, "v1", v.project.platform_id, v.user.platform_id, v.weight, v.query.encode()), key);
        })
        .on_error([](const topgg::Rejection& r) {
          std::cerr << "refused " << r.status << ' ' << r.path << ": " << r.detail << '\n';
        });
    const unsigned bound = webhooks.run(static_cast<std::uint16_t>(port));
    std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", bound);
    int sig = 0;
    sigwait(&stop, &sig);
    std::cerr << "closing\n";
    webhooks.close(); // answers the votes in flight; the ledger closes after it
  } catch (const std::exception& e) {
    std::cerr << "sqlite_ledger: " << e.what() << '\n';
    return 1;
  }
}
