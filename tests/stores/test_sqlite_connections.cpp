// SqliteStore's integration connections against real files: the contract
// (connection_cases.hpp), across a reopen, two store objects on one file, and
// the rows the file holds.
#include <doctest/doctest.h>

#include "connection_cases.hpp"
#include "sqlite_raw.hpp"
#include "support.hpp"
#include "topgg/sqlite_store.hpp"

using topgg::SqliteStore;
using namespace ts;

TEST_CASE("sqlite connections: put, rotate, erase, load, version") {
  TempDir dir;
  SqliteStore s(dir.file("topgg.db"));
  REQUIRE(s.connection_store());
  connections_contract(*s.connection_store());
}

TEST_CASE("sqlite connections: kept across a reopen, shared by two store objects on one file") {
  TempDir dir;
  const std::string path = dir.file("topgg.db");
  {
    SqliteStore s(path);
    s.connection_store()->put(connection("c1", "whs_one"));
  }
  SqliteStore a(path), b(path);
  CHECK(a.connection_store()->load().connections ==
        std::vector<topgg::IntegrationConnection>{connection("c1", "whs_one")});
  connections_shared(*a.connection_store(), *b.connection_store());
  Raw raw(path);
  CHECK(raw.one("SELECT count(*) FROM integration_connections") == "1");
  CHECK(raw.one("SELECT connection_id FROM integration_connections") == "c1");
}
