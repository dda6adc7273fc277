// SqliteStore's vote ledger against real files: the ledger's contract
// (ledger_cases.hpp), the records across a reopen, two store objects on one
// file claiming expiries, the upgrade of a schema 1 file, and a record kept
// through a failed batch.
#include <doctest/doctest.h>

#include "ledger_cases.hpp"
#include "sqlite_raw.hpp"
#include "topgg/sqlite_store.hpp"

using namespace std::chrono_literals;
using topgg::SqliteOptions;
using topgg::SqliteStore;
using namespace ts;

TEST_CASE("sqlite vote ledger: records with the key's first confirm; the rules as in memory") {
  TempDir dir;
  SqliteStore s(dir.file("votes.db"));
  REQUIRE(s.vote_ledger());
  ledger_records(s);
}

TEST_CASE("sqlite vote ledger: expiries in order, claimed until the lease ends, finished or retried") {
  TempDir dir;
  SqliteStore s(dir.file("votes.db"));
  ledger_expiries(s, "sqlite");
}

TEST_CASE("sqlite vote ledger: the file holds one row per subject and user, in microseconds; survives reopening") {
  TempDir dir;
  const std::string path = dir.file("votes.db");
  {
    SqliteStore s(path);
    s.vote_ledger()->record("k1", wall_at(t0), 1h, vote("160105994217586689", t0, 2s), grace);
    CHECK(find(*s.vote_ledger(), "160105994217586689")->count == 1); // written before this answer
    Raw raw(path);
    CHECK(raw.one("PRAGMA user_version") == std::to_string(SqliteStore::schema_version));
    CHECK(raw.one("SELECT subject || ' ' || user || ' ' || route FROM votes") ==
          "project/803190510032756736 160105994217586689 /topgg");
    CHECK(raw.one("SELECT voted_at || ' ' || expires_at || ' ' || due FROM votes") ==
          "1770598034251014 1770598036251014 1770598036251014");
    CHECK(raw.one("SELECT streak || ' ' || count || ' ' || attempts || ' ' || ifnull(token, 'none') FROM votes") ==
          "1 1 0 none");
    CHECK(raw.one("SELECT subject FROM vote_subjects") == "project/803190510032756736");
    CHECK(raw.one("SELECT state FROM claims WHERE key = 'k1'") == "done");
  }
  SqliteStore s(path);
  VoteLedger& l = *s.vote_ledger();
  CHECK(find(l, "160105994217586689")->expires_at == t0 + 2s);
  CHECK(l.next_due() == t0 + 2s);
  auto due = l.take_due(t0 + 3s, 10, t0 + 40s, "after-restart"); // ran out while nothing ran: handed out now
  REQUIRE(due.size() == 1);
  l.finish(due[0], "after-restart", true, {});
  CHECK_FALSE(l.next_due());
  Raw raw(path);
  CHECK(raw.one("SELECT ifnull(due, 'none') || ' ' || ifnull(token, 'none') FROM votes") == "none none");
}

TEST_CASE("sqlite vote ledger: two store objects on one file never both get an expiry") {
  TempDir dir;
  const std::string path = dir.file("votes.db");
  SqliteStore a(path), b(path);
  ledger_two_takers(*a.vote_ledger(), *b.vote_ledger(), 40, 20);
}

TEST_CASE("sqlite vote ledger: a schema 1 file is upgraded in place, its keys kept") {
  TempDir dir;
  const std::string path = dir.file("old.db");
  {
    Raw old(path);
    old.exec("PRAGMA journal_mode=WAL;"
             "CREATE TABLE claims (key TEXT PRIMARY KEY NOT NULL,"
             " state TEXT NOT NULL CHECK (state IN ('claimed', 'done')), expires INTEGER NOT NULL, token TEXT)"
             " WITHOUT ROWID;"
             "CREATE INDEX claims_expires ON claims (expires);"
             "CREATE TABLE marks (name TEXT PRIMARY KEY NOT NULL, micros INTEGER NOT NULL) WITHOUT ROWID;"
             "INSERT INTO claims VALUES ('handled', 'done', 9999999999999, NULL);"
             "INSERT INTO marks VALUES ('catch-up/1', 42);"
             "PRAGMA user_version = 1;");
  }
  SqliteStore s(path);
  CHECK(claim(s, "handled", at(0)) == topgg::ClaimResult::done);
  CHECK(s.load_mark("catch-up/1")->time_since_epoch().count() == 42);
  s.vote_ledger()->record("new", wall_at(t0), 1h, vote("1", t0), grace);
  CHECK(find(*s.vote_ledger(), "1")->count == 1);
  Raw raw(path);
  CHECK(raw.one("PRAGMA user_version") == std::to_string(SqliteStore::schema_version)); // upgraded to this library's
}

TEST_CASE("sqlite vote ledger: a record whose batch failed is written with the next; reads answer unavailable") {
  TempDir dir;
  const std::string path = dir.file("votes.db");
  SqliteOptions o;
  o.busy_timeout = 50ms;
  SqliteStore s(path, o);
  Reports reports;
  reports.attach(s);
  VoteLedger& l = *s.vote_ledger();
  REQUIRE(claim(s, "k1", wall_at(t0)) == topgg::ClaimResult::claimed);
  auto blocker = std::make_unique<Raw>(path);
  blocker->exec("BEGIN IMMEDIATE");
  l.record("k1", wall_at(t0), 1h, vote("1", t0), grace);
  bool ok = true;
  CHECK_FALSE(find(l, "1", &ok));
  CHECK_FALSE(ok);
  CHECK_THROWS_AS(l.take_due(t0, 10, t0 + 1h, "a"), std::runtime_error);
  CHECK_THROWS_AS(l.next_due(), std::runtime_error);
  blocker->exec("COMMIT");
  blocker.reset();
  auto r = find(l, "1", &ok);
  CHECK(ok);
  REQUIRE(r);
  CHECK(r->count == 1);
  CHECK(claim(s, "k1", wall_at(t0)) == topgg::ClaimResult::done);
  CHECK(reports.wait_for(2));
}
