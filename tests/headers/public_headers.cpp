// Every public header, included together: they compile on their own, and none
// drags in a dependency's header (the core's llhttp, simdjson and OpenSSL are
// private; so are libuv, SQLite, hiredis and libcurl for their libraries).
// Building this file is the test; running it checks nothing more.
#include "topgg/ack.hpp"
#include "topgg/connection.hpp"
#include "topgg/connection_store.hpp"
#include "topgg/driver.hpp"
#include "topgg/error.hpp"
#include "topgg/http.hpp"
#include "topgg/idempotency.hpp"
#include "topgg/integrations.hpp"
#include "topgg/manager.hpp"
#include "topgg/metrics.hpp"
#include "topgg/query.hpp"
#include "topgg/router.hpp"
#include "topgg/settings.hpp"
#include "topgg/snowflake.hpp"
#include "topgg/topgg.hpp"
#include "topgg/uv.hpp"
#include "topgg/v1.hpp"
#include "topgg/version.hpp"
#include "topgg/vote_book.hpp"
#include "topgg/vote_ledger.hpp"
#include "topgg/votes.hpp"
#if __has_include("topgg/api.hpp")
#include "topgg/api.hpp"
#include "topgg/catch_up.hpp"
#include "topgg/discord.hpp"
#include "topgg/post_queue.hpp"
#endif
#if __has_include("topgg/sqlite_store.hpp")
#include "topgg/sqlite_post_queue.hpp"
#include "topgg/sqlite_store.hpp"
#endif
#if __has_include("topgg/redis_store.hpp")
#include "topgg/redis_post_queue.hpp"
#include "topgg/redis_store.hpp"
#include "topgg/redis_stream.hpp"
#endif

#if defined(LLHTTP_VERSION_MAJOR) || defined(INCLUDE_LLHTTP_H_)
#error "a public header includes llhttp.h"
#endif
#if defined(SIMDJSON_VERSION) || defined(SIMDJSON_H)
#error "a public header includes simdjson.h"
#endif
#if defined(OPENSSL_VERSION_NUMBER) || defined(HEADER_CRYPTO_H) || defined(OPENSSL_CRYPTO_H)
#error "a public header includes an OpenSSL header"
#endif
#if defined(UV_VERSION_MAJOR)
#error "topgg/uv.hpp includes uv.h"
#endif
#if defined(SQLITE_VERSION) || defined(HIREDIS_MAJOR) || defined(LIBCURL_VERSION)
#error "a store's or the API client's header includes its library's header"
#endif

int main() { return 0; }
