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

/// A listening socket on 127.0.0.1, as systemd's .socket unit holds one.
int listening_socket(std::uint16_t& port, int type = SOCK_STREAM, bool listen = true) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listen)
    REQUIRE(::listen(fd, 64) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

bool open_descriptor(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

void quiet(Manager& m, it::Recorder& rec) {
  m.dbl_webhook("/dbl", it::bot_key)
      .on_bot_vote([&rec](const topgg::BotVote& v) { rec.add("bot " + v.user.to_string()); })
      .on_warning([](std::string_view) {})
      .on_error([](const topgg::Rejection&) {});
}

} // namespace

TEST_CASE("run_on(): serves a socket already listening; a connection waiting in its backlog across a restart is "
          "answered by the next run") {
  std::uint16_t port = 0;
  const int held = listening_socket(port); // what systemd keeps open
  it::Recorder rec;
  {
    Manager m;
    quiet(m, rec);
    CHECK(m.run_on(::dup(held)) == port);
    CHECK(m.port() == port);
    CHECK(m.address() == "127.0.0.1:" + std::to_string(port));
    it::Client c(port);
    REQUIRE(c.send(it::bot_vote(1)));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    m.close();
  }
  CHECK(open_descriptor(held)); // only the manager's descriptor was closed
  // Between two runs: the kernel completes the handshake and keeps the request.
  it::Client waiting(port);
  REQUIRE(waiting.connected());
  REQUIRE(waiting.send(it::bot_vote(2)));
  Manager next;
  quiet(next, rec);
  next.run_on(::dup(held));
  auto r = waiting.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.wait_count(2, 10000));
  next.close();
  ::close(held);
}

TEST_CASE("run_on(): refuses what is not a listening TCP socket, leaving the descriptor open and the manager "
          "runnable") {
  it::Recorder rec;
  Manager m;
  quiet(m, rec);
  std::uint16_t port = 0;
  const int udp = listening_socket(port, SOCK_DGRAM, false);
  CHECK_THROWS_AS(m.run_on(udp), std::invalid_argument);
  CHECK(open_descriptor(udp));
  const int unlistened = listening_socket(port, SOCK_STREAM, false);
  CHECK_THROWS_AS(m.run_on(unlistened), std::invalid_argument);
  CHECK(open_descriptor(unlistened));
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  CHECK_THROWS_AS(m.run_on(pipe_fds[0]), std::invalid_argument);
  CHECK(open_descriptor(pipe_fds[0]));
  const int closed = ::dup(udp);
  ::close(closed);
  CHECK_THROWS_AS(m.run_on(closed), std::system_error);
  CHECK_FALSE(m.running());
  for (int fd : {udp, unlistened, pipe_fds[0], pipe_fds[1]})
    ::close(fd);
  const int good = listening_socket(port);
  ::fcntl(good, F_SETFD, 0); // inherited as systemd passes it: not close-on-exec, blocking
  m.run_on(good);
  CHECK((::fcntl(good, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(good, F_GETFL) & O_NONBLOCK) != 0);
  it::Client c(port);
  REQUIRE(c.send(it::bot_vote(3)));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  m.close();
  CHECK_FALSE(open_descriptor(good)); // the manager's: closed at close()
}

TEST_CASE("replace_auth_key() from another thread while serving: old key 401, new 200, on one kept-alive "
          "connection") {
  it::Recorder rec;
  Manager m;
  quiet(m, rec);
  const std::uint16_t port = m.run(0, "127.0.0.1");
  it::Client c(port);
  REQUIRE(c.send(it::bot_vote(10)));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_FALSE(r->closes());
  CHECK_THROWS_AS(m.replace_auth_key("/nope", "k"), std::invalid_argument); // checked on the calling thread
  std::promise<std::thread::id> made;
  std::thread([&] {
    m.replace_auth_key("/dbl", "rotated", [&made] { made.set_value(std::this_thread::get_id()); });
  }).join();
  auto when = made.get_future();
  REQUIRE(when.wait_for(10s) == std::future_status::ready);
  CHECK(when.get() != std::this_thread::get_id()); // made on the loop thread
  REQUIRE(c.send(it::bot_vote(11, "rotated")));    // the connection from before the change
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(c.send(it::bot_vote(12)));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 401);
  m.close();
  // Not running: made at once, on this thread; it lasts into the next run.
  bool done = false;
  m.replace_auth_key("/dbl", "third", [&done] { done = true; });
  CHECK(done);
  m.run(0, "127.0.0.1");
  it::Client e(m.port());
  REQUIRE(e.send(it::bot_vote(14, "third")));
  r = e.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  m.close();
}

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
