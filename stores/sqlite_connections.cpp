// The SQLite store's integration connections: each call is one Op::call that
// the store's thread runs inside its next batch's transaction, the caller
// waiting for the commit. Rare (a connection made or ended, a reload), so the
// statements are prepared per call.
#include "sqlite_impl.hpp"

namespace topgg {

using namespace detail::sqlite;

namespace {

void step_done(sqlite3* db, Run& r) {
  const int rc = r.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw SqliteError{sqlite3_errmsg(db)};
}

Statement prepare(sqlite3* db, const char* sql) {
  try {
    return Statement(db, sql);
  } catch (const std::runtime_error& e) {
    throw SqliteError{e.what()};
  }
}

void bump(sqlite3* db) {
  Statement s = prepare(db, "UPDATE integration_version SET version = version + 1");
  Run r(s);
  step_done(db, r);
}

std::uint64_t read_version(sqlite3* db) {
  Statement s = prepare(db, "SELECT version FROM integration_version");
  Run r(s);
  const int rc = r.step();
  if (rc == SQLITE_ROW)
    return static_cast<std::uint64_t>(r.column_int(0));
  if (rc != SQLITE_DONE)
    throw SqliteError{sqlite3_errmsg(db)};
  return 0;
}

} // namespace

void SqliteStore::Connections::call(std::function<void(sqlite3*)> f) {
  Op op(Op::call, {}, INT64_MIN, 0);
  op.run = std::move(f);
  impl->call_mark(std::move(op));
}

void SqliteStore::Connections::put(const IntegrationConnection& c) {
  const std::string record = detail::encode_connection(c);
  call([&](sqlite3* db) {
    Statement s = prepare(db, "INSERT OR REPLACE INTO integration_connections (connection_id, record) VALUES (?1, ?2)");
    Run w(s);
    w.text(1, c.connection_id);
    w.text(2, record);
    step_done(db, w);
    bump(db);
  });
}

bool SqliteStore::Connections::erase(std::string_view connection_id) {
  bool gone = false;
  call([&](sqlite3* db) {
    Statement s = prepare(db, "DELETE FROM integration_connections WHERE connection_id = ?1");
    Run w(s);
    w.text(1, connection_id);
    step_done(db, w);
    gone = sqlite3_changes(db) > 0;
    if (gone)
      bump(db);
  });
  return gone;
}

ConnectionSnapshot SqliteStore::Connections::load() {
  ConnectionSnapshot out;
  call([&](sqlite3* db) {
    out = {};
    out.version = read_version(db);
    Statement s = prepare(db, "SELECT connection_id, record FROM integration_connections");
    Run r(s);
    int rc;
    while ((rc = r.step()) == SQLITE_ROW) {
      IntegrationConnection c;
      c.connection_id.assign(r.column_text(0));
      if (detail::decode_connection(r.column_text(1), c)) // else not written by this library: skipped
        out.connections.push_back(std::move(c));
    }
    if (rc != SQLITE_DONE)
      throw SqliteError{sqlite3_errmsg(db)};
  });
  return out;
}

std::uint64_t SqliteStore::Connections::version() {
  std::uint64_t v = 0;
  call([&](sqlite3* db) { v = read_version(db); });
  return v;
}

} // namespace topgg
