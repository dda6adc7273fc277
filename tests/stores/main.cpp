// The store tests' main. The Redis tests need a redis-server to start: without
// one they are skipped (exit 77, which meson counts as a skip). The SQLite
// tests' executable also serves as the second process of the two-process test.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#ifdef STORES_REDIS_TESTS
#include "redis_server.hpp"
#endif

int sqlite_child(int argc, char** argv); // test_sqlite_store.cpp

int main(int argc, char** argv) {
#ifdef STORES_SQLITE_TESTS
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0)
    return sqlite_child(argc, argv);
#endif
#ifdef STORES_REDIS_TESTS
  if (ts::redis_server_program().empty()) {
    std::puts("SKIP: redis-server is not installed (tools/setup installs it): the Redis store tests need one");
    return 77;
  }
#endif
  doctest::Context context(argc, argv);
  return context.run();
}
