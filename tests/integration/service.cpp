// Running as a service, on each adapter (compiled into the integration
// programs beside integration.cpp): a listening socket adopted with run_on()
// (socket activation) and handed on across a restart with no connection
// refused, a key replaced while serving without closing a connection, and a
// graceful close that answers a request still on its way.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "client.hpp"
#include "topgg/topgg.hpp"

#include "adapter.hpp"

using namespace std::chrono_literals;

namespace {

void quiet(Manager& m, it::Recorder& rec) {
  m.dbl_webhook("/dbl", it::bot_key)
      .on_bot_vote([&rec](const topgg::BotVote& v) { rec.add("bot " + v.user.to_string()); })
      .on_warning([](std::string_view) {})
      .on_error([](const topgg::Rejection&) {});
}

} // namespace

TEST_CASE("close(): a connection accepted before it but silent so far gets its request answered, with "
          "Connection: close; an idle kept-alive one is closed") {
  it::Recorder rec;
  Manager m;
  quiet(m, rec);
  const std::uint16_t port = m.run(0, "127.0.0.1");
  it::Client idle(port);
  REQUIRE(idle.send(it::bot_vote(20)));
  REQUIRE(idle.read());
  it::Client fresh(port);
  REQUIRE(fresh.connected());
  // Accepted (it is in the server's set once a request on another
  // connection is answered after it: the loop accepts before it reads).
  it::Client probe(port);
  REQUIRE(probe.send(it::bot_vote(21)));
  REQUIRE(probe.read());
  std::thread closer([&m] { m.close(); });
  CHECK(idle.closed_by_peer());
  REQUIRE(fresh.send(it::bot_vote(22)));
  auto r = fresh.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->closes());
  CHECK(fresh.closed_by_peer());
  closer.join();
  CHECK(rec.wait_count(3, 10000));
}
