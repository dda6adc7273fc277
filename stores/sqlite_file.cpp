// The SQLite store's file: opened in WAL mode, its schema created or checked,
// its statements prepared; closed with the store.
#include <algorithm>
#include <climits>
#include <stdexcept>

#include "sqlite_impl.hpp"

namespace topgg {

using namespace detail::sqlite;

[[noreturn]] void SqliteStore::Impl::fail_open(std::string_view what) {
  std::string msg = "sqlite " + path + ": " + std::string(what);
  close();
  throw std::runtime_error(msg);
}

void SqliteStore::Impl::close() noexcept {
  begin = {}, commit = {}, rollback = {}, select_key = {}, put_key = {}, release_key = {}, purge = {};
  get_mark = {}, put_mark = {};
  select_vote = {}, put_vote = {}, add_subject = {}, list_subjects = {}, due_votes = {}, claim_vote = {};
  first_due = {}, vote_delivered = {}, vote_retry = {};
  sqlite3_close_v2(db);
  db = nullptr;
}

void SqliteStore::Impl::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw SqliteError{std::move(msg)};
  }
}

std::int64_t SqliteStore::Impl::pragma_int(const char* sql) {
  Statement s(db, sql);
  Run r(s);
  if (r.step() != SQLITE_ROW)
    throw SqliteError{sqlite3_errmsg(db)};
  return r.column_int(0);
}

void SqliteStore::Impl::open() {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    fail_open(db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(std::clamp<milliseconds::rep>(opt.busy_timeout.count(), 0, INT_MAX)));
  try {
    {
      Statement s(db, "PRAGMA journal_mode=WAL");
      Run r(s);
      if (r.step() != SQLITE_ROW)
        throw SqliteError{sqlite3_errmsg(db)};
      if (r.column_text(0) != "wal")
        throw SqliteError{"cannot use a write-ahead log (journal_mode is " + std::string(r.column_text(0)) + ")"};
    }
    exec(opt.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    create_schema();
    prepare_statements();
  } catch (const SqliteError& e) {
    fail_open(e.message);
  } catch (const std::runtime_error& e) { // Statement's
    fail_open(e.what());
  }
}

/// Within open(), which tells what this throws with the path.
void SqliteStore::Impl::create_schema() {
  // Created once, by whichever process gets the write lock first.
  exec("BEGIN IMMEDIATE");
  try {
    const std::int64_t version = pragma_int("PRAGMA user_version");
    if (version > schema_version)
      throw SqliteError{"schema version " + std::to_string(version) + " is newer than this library's (" +
                        std::to_string(schema_version) + ")"};
    if (version == 0) {
      if (pragma_int("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'") != 0)
        throw SqliteError{"not a topgg-webhook store (it has other tables and no schema version)"};
      exec("CREATE TABLE claims (key TEXT PRIMARY KEY NOT NULL,"
           " state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),"
           " expires INTEGER NOT NULL,"  // Unix ms, wall clock: survives a restart
           " token TEXT) WITHOUT ROWID;" // the claiming store's; NULL once done
           "CREATE INDEX claims_expires ON claims (expires);"
           "CREATE TABLE marks (name TEXT PRIMARY KEY NOT NULL, micros INTEGER NOT NULL) WITHOUT ROWID;");
    }
    if (version < 2) {
      // The vote book (schema 2): one row per subject and user; `due` is set while an
      // expiry is owed (the index holds only those), `token` while a receiver holds it.
      exec("CREATE TABLE votes (subject TEXT NOT NULL," // "project/<id>", "bot/<id>", "guild/<id>"
           " user TEXT NOT NULL,"
           " route TEXT NOT NULL,"
           " voted_at INTEGER NOT NULL,"   // Unix µs
           " expires_at INTEGER NOT NULL," // Unix µs
           " weight INTEGER NOT NULL, streak INTEGER NOT NULL, count INTEGER NOT NULL,"
           " due INTEGER,"                         // Unix µs: when the owed expiry is handed out next
           " attempts INTEGER NOT NULL DEFAULT 0," // failed deliveries of it
           " token TEXT,"                          // the receiver holding it now
           " PRIMARY KEY (subject, user)) WITHOUT ROWID;"
           "CREATE INDEX votes_due ON votes (due) WHERE due IS NOT NULL;"
           "CREATE TABLE vote_subjects (subject TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
           "PRAGMA user_version = 2;");
    }
    if (version < 3) {
      // Integration connections (schema 3): the record is detail::encode_connection()'s
      // string, the webhook secret in it as given; `version` counts changes, for receivers
      // that poll it.
      exec("CREATE TABLE integration_connections (connection_id TEXT PRIMARY KEY NOT NULL,"
           " record TEXT NOT NULL) WITHOUT ROWID;"
           "CREATE TABLE integration_version (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);"
           "INSERT INTO integration_version VALUES (1, 0);"
           "PRAGMA user_version = 3;");
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

/// Within open(), as create_schema().
void SqliteStore::Impl::prepare_statements() {
  begin = Statement(db, "BEGIN IMMEDIATE");
  commit = Statement(db, "COMMIT");
  rollback = Statement(db, "ROLLBACK");
  select_key = Statement(db, "SELECT state, expires FROM claims WHERE key = ?1");
  put_key = Statement(db, "INSERT OR REPLACE INTO claims (key, state, expires, token) VALUES (?1, ?2, ?3, ?4)");
  release_key = Statement(db, "DELETE FROM claims WHERE key = ?1 AND state = 'claimed' AND token = ?2");
  purge = Statement(db, "DELETE FROM claims WHERE expires <= ?1");
  get_mark = Statement(db, "SELECT micros FROM marks WHERE name = ?1");
  put_mark = Statement(db, "INSERT OR REPLACE INTO marks (name, micros) VALUES (?1, ?2)");
  prepare_vote_statements();
}

} // namespace topgg
