// RedisStore's integration connections against a real redis-server: the
// contract (connection_cases.hpp), two store objects on one Redis, what is
// written under the prefix, and a call while Redis is down.
#include <doctest/doctest.h>

#include <stdexcept>

#include "connection_cases.hpp"
#include "redis_server.hpp"
#include "topgg/redis_store.hpp"

using namespace std::chrono_literals;
using topgg::RedisStore;
using namespace ts;


TEST_CASE("redis connections: put, rotate, erase, load, version") {
  RedisServer srv;
  RedisStore s(quick_options(srv.port()));
  REQUIRE(s.connection_store());
  connections_contract(*s.connection_store());
}

TEST_CASE("redis connections: shared by two receivers; one hash and one counter under the prefix") {
  RedisServer srv;
  RedisStore a(quick_options(srv.port())), b(quick_options(srv.port()));
  connections_shared(*a.connection_store(), *b.connection_store());
  a.connection_store()->put(connection("c1", "whs_one"));
  RedisServer::Client raw(srv.port());
  CHECK(raw.command({"HLEN", "topgg:integrations"}) == "1");
  CHECK(raw.command({"HEXISTS", "topgg:integrations", "c1"}) == "1");
  CHECK(raw.command({"GET", "topgg:integrations-version"}) == "3"); // put, erase, put
}

TEST_CASE("redis connections: Redis down → the call throws (within command_timeout), no answer invented") {
  RedisServer srv;
  RedisStore s(quick_options(srv.port(), 300ms));
  s.connection_store()->put(connection("c1", "whs_one"));
  srv.stop();
  CHECK_THROWS_AS(s.connection_store()->load(), std::runtime_error);
  CHECK_THROWS_AS(s.connection_store()->put(connection("c2", "whs_two")), std::runtime_error);
}
