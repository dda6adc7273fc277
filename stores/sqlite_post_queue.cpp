// The Discord poster's queue in the SQLite store's file (topgg/sqlite_post_queue.hpp): its own
// connection, one statement per operation; AUTOINCREMENT keeps sequence numbers growing across
// restarts even after the queue emptied, so order never goes back.
#include "topgg/sqlite_post_queue.hpp"

#include <sqlite3.h>

#include <mutex>
#include <stdexcept>

#include "sqlite_statement.hpp"

namespace topgg {

using detail::sqlite::Run;
using detail::sqlite::Statement;

struct __attribute__((visibility("hidden"))) SqlitePostQueue::Impl {
  sqlite3* db = nullptr;
  std::size_t capacity = 0;
  std::mutex m;
  Statement count, insert, first, remove;

  ~Impl() {
    count = {};
    insert = {};
    first = {};
    remove = {};
    sqlite3_close_v2(db);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("the Discord queue in SQLite: " + what + ": " + sqlite3_errmsg(db));
  }
  void exec(const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      fail(sql);
  }
};

SqlitePostQueue::SqlitePostQueue(const std::string& path, std::size_t capacity) : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  i.capacity = capacity;
  if (sqlite3_open_v2(path.c_str(), &i.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    i.fail("cannot open " + path);
  sqlite3_busy_timeout(i.db, 5000);
  {
    Statement version(i.db, "PRAGMA user_version");
    Run r(version);
    if (r.step() != SQLITE_ROW || r.column_int(0) < 1)
      throw std::invalid_argument("the Discord queue goes in a topgg-webhook store's file: open the SqliteStore on " +
                                  path + " first");
  }
  i.exec("PRAGMA synchronous=NORMAL");
  i.exec("CREATE TABLE IF NOT EXISTS discord_posts (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)");
  i.count = Statement(i.db, "SELECT count(*) FROM discord_posts");
  i.insert = Statement(i.db, "INSERT INTO discord_posts (body) VALUES (?1)");
  i.first = Statement(i.db, "SELECT seq, body FROM discord_posts ORDER BY seq LIMIT 1");
  i.remove = Statement(i.db, "DELETE FROM discord_posts WHERE seq = ?1");
}

SqlitePostQueue::~SqlitePostQueue() = default;

std::size_t SqlitePostQueue::size() {
  std::lock_guard lock(impl_->m);
  Run r(impl_->count);
  if (r.step() != SQLITE_ROW)
    impl_->fail("count");
  return static_cast<std::size_t>(r.column_int(0));
}

bool SqlitePostQueue::push(std::string_view body) {
  if (size() >= impl_->capacity)
    return false;
  std::lock_guard lock(impl_->m);
  Run r(impl_->insert);
  r.text(1, body);
  if (r.step() != SQLITE_DONE)
    impl_->fail("insert");
  return true;
}

std::optional<QueuedPost> SqlitePostQueue::front() {
  std::lock_guard lock(impl_->m);
  Run r(impl_->first);
  const int rc = r.step();
  if (rc == SQLITE_DONE)
    return std::nullopt;
  if (rc != SQLITE_ROW)
    impl_->fail("select");
  return QueuedPost{static_cast<std::uint64_t>(r.column_int(0)), std::string(r.column_text(1))};
}

void SqlitePostQueue::pop(std::uint64_t seq) {
  std::lock_guard lock(impl_->m);
  Run r(impl_->remove);
  r.integer(1, static_cast<std::int64_t>(seq));
  if (r.step() != SQLITE_DONE)
    impl_->fail("delete");
}

} // namespace topgg
