// Loopback integration tests, one source for both adapters: compiled once
// with TOPGG_TEST_UV and once with TOPGG_TEST_ASIO. Real sockets on port 0,
// blocking clients with receive timeouts on the test thread, the server on a
// background thread (owned, or an external loop the test runs itself).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "client.hpp"
#include "topgg/topgg.hpp"

#include "adapter.hpp"

#if defined(TOPGG_TEST_UV)
// A uv loop the test runs on its own thread.
struct ExternalLoop {
  uv_loop_t loop{};
  std::thread thread;
  ExternalLoop() { uv_loop_init(&loop); }
  std::unique_ptr<Manager> make() { return std::make_unique<Manager>(&loop); }
  void start() {
    thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
  }
  // uv_run returns once the manager closed all it had: joining proves it.
  void join() { thread.join(); }
  ~ExternalLoop() {
    if (thread.joinable())
      thread.join();
    uv_run(&loop, UV_RUN_DEFAULT); // close callbacks of a manager destroyed without close()
    CHECK(uv_loop_close(&loop) == 0);
  }
};
#elif defined(TOPGG_TEST_ASIO)
// An io_context the test runs on two threads: the adapter's server mutex must keep
// its handlers apart.
struct ExternalLoop {
  ::asio::io_context ctx;
  std::vector<std::thread> threads;
  std::unique_ptr<Manager> make() { return std::make_unique<Manager>(ctx); }
  void start() {
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([this] { ctx.run(); });
  }
  // run() returns once the manager has no work left: joining proves it.
  void join() {
    for (auto& t : threads)
      t.join();
    threads.clear();
  }
  ~ExternalLoop() {
    if (!threads.empty())
      join();
  }
};
#endif

using namespace std::chrono_literals;
using it::Client;
using it::Recorder;

namespace {

// SIGPIPE keeps its default (terminate) here on purpose: no peer behaviour
// may raise it in the server, on its own thread or on the test's loop. The
// test's own clients send with MSG_NOSIGNAL.

// Both vote routes with keys, a custom GET route, quiet warnings.
void standard(Manager& m, Recorder& rec) {
  m.dbl_webhook("/dbl", it::bot_key)
      .dsl_webhook("/dsl", it::server_key)
      .route("GET", "/health",
             [](const topgg::Request&) {
               topgg::Response r;
               r.body = "up";
               return r;
             })
      .on_bot_vote([&rec](const topgg::BotVote& v) { rec.add("bot " + v.user.to_string()); })
      .on_server_vote([&rec](const topgg::ServerVote& v) { rec.add("server " + v.user.to_string()); })
      .on_warning([](std::string_view) {});
}

std::unique_ptr<Manager> start(const std::function<void(Manager&)>& configure, const char* host = "127.0.0.1") {
  auto m = std::make_unique<Manager>();
  configure(*m);
  m->run(0, host);
  return m;
}

std::string health() { return "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"; }

/// Polls `done` until it holds or `limit` passes (generous: only a broken
/// server makes a test wait that long); returns done().
template <class Done> bool eventually(Done done, std::chrono::milliseconds limit = 30s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  return done();
}

std::vector<int> server_sockets(std::uint16_t port); // below, with the audit's adapter findings

// Acks handed to the test by an AckHandler, completed from the test's threads.
struct AckBox {
  std::mutex m;
  std::condition_variable cv;
  std::deque<topgg::Ack> acks;
  void push(topgg::Ack a) {
    std::lock_guard lock(m);
    acks.push_back(std::move(a));
    cv.notify_all();
  }
  std::optional<topgg::Ack> pop(int timeout_ms = it::patient_ms) {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !acks.empty(); }))
      return std::nullopt;
    auto a = std::move(acks.front());
    acks.pop_front();
    return a;
  }
};

} // namespace

TEST_CASE("votes on both routes: right keys 200 and delivered, wrong keys 401 and not") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  REQUIRE(m->port() != 0);
  Client c(m->port());
  REQUIRE(c.connected());

  c.send(it::bot_vote(1));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  c.send(it::server_vote(2));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  c.send(it::bot_vote(3, "wrong"));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 401);
  c.send(it::server_vote(4, it::bot_key));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 401);
  c.send(it::post("/dbl", "", it::bot_body(5)));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 401);

  CHECK(rec.events() == std::vector<std::string>{"bot " + it::user_id(1), "server " + it::user_id(2)});
}

namespace {
std::string signed_post(std::string_view body, std::string_view secret, std::string_view trace) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return "POST /topgg HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nx-topgg-signature: " +
         topgg::v1::sign(secret, now.count(), body) + "\r\nx-topgg-trace: " + std::string(trace) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}
const std::string v1_project = R"({"id":"p1","type":"bot","platform":"discord","platform_id":"264811613708746752"})";
const std::string v1_user = R"({"id":"u1","platform_id":"160105994217586689","name":"voter","avatar_url":null})";
} // namespace

TEST_CASE("v1 signed deliveries: all four event types round-trip; bad signatures refused") {
  Recorder rec;
  auto m = start([&](Manager& mg) {
    mg.v1_webhook("/topgg", {"whs_old", "whs_current"})
        .on_vote_create([&rec](const topgg::v1::VoteCreate& v) {
          rec.add("vote.create " + v.id + " w" + std::to_string(v.weight) + " " + v.user.platform_id + " " + v.trace);
        })
        .on_webhook_test(
            [&rec](const topgg::v1::WebhookTest& t) { rec.add("webhook.test " + t.project.id + " " + t.trace); })
        .on_integration_create([&rec](const topgg::v1::IntegrationCreate& c, topgg::Ack ack) {
          rec.add("integration.create " + c.connection_id + " " + c.webhook_secret);
          topgg::Response reply;
          reply.headers.emplace_back("Content-Type", "application/json");
          reply.body = R"({"webhook_url":"https://bot.example/topgg"})";
          std::thread([ack, reply] { ack.ok(reply); }).detach(); // answered from another thread
        })
        .on_integration_delete(
            [&rec](const topgg::v1::IntegrationDelete& d) { rec.add("integration.delete " + d.connection_id); })
        .on_warning([](std::string_view) {});
  });
  Client c(m->port());
  const std::string vote =
      R"({"type":"vote.create","data":{"id":"v1","weight":2,"created_at":"2026-02-09T00:47:14.25+00:00",)"
      R"("expires_at":"2026-02-09T12:47:14.25+00:00","project":)" +
      v1_project + R"(,"user":)" + v1_user + "}}";
  c.send(signed_post(vote, "whs_current", "t1"));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 204);
  c.send(signed_post(R"({"type":"webhook.test","data":{"project":)" + v1_project + R"(,"user":)" + v1_user + "}}",
                     "whs_old", "t2"));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 204);
  c.send(
      signed_post(R"({"type":"integration.create","data":{"connection_id":"c9","webhook_secret":"whs_c9","project":)" +
                      v1_project + R"(,"user":)" + v1_user + "}}",
                  "whs_current", "t3"));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"webhook_url":"https://bot.example/topgg"})");
  c.send(signed_post(R"({"type":"integration.delete","data":{"connection_id":"c9"}})", "whs_current", "t4"));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 204);
  c.send(signed_post(vote, "whs_current", "t5")); // Top.gg's retry of an answered vote: no second event
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 204);
  c.send(signed_post(vote, "whs_wrong", "t6"));
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 403);
  c.send("POST /topgg HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(rec.events() == std::vector<std::string>{"vote.create v1 w2 160105994217586689 t1", "webhook.test p1 t2",
                                                 "integration.create c9 whs_c9", "integration.delete c9"});
}

TEST_CASE("unknown path 404, wrong method 405 with Allow, custom route answered") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  Client c(m->port());
  c.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 404);
  c.send("GET /dbl HTTP/1.1\r\nHost: x\r\n\r\n");
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->head.find("Allow: POST") != std::string::npos);
  c.send(health());
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "up");
  CHECK(rec.size() == 0);
}

TEST_CASE("keep-alive and pipelined requests are answered in order") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  Client c(m->port());
  c.send(it::bot_vote(1) + health() + it::server_vote(2, "bad") + it::server_vote(3) +
         "GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
  const int want[] = {200, 200, 401, 200, 404};
  for (int status : want) {
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK_FALSE(r->closes());
  }
  // still open afterwards
  c.send(it::bot_vote(4));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.events() ==
        std::vector<std::string>{"bot " + it::user_id(1), "server " + it::user_id(3), "bot " + it::user_id(4)});
  // Connection: close is honoured
  c.send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  r = c.read();
  REQUIRE(r);
  CHECK(r->closes());
  CHECK(c.closed_by_peer());
}

TEST_CASE("a client sending one byte at a time") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  Client c(m->port());
  const std::string req = it::bot_vote(7) + it::server_vote(8);
  for (char ch : req) {
    REQUIRE(c.send(std::string_view(&ch, 1)));
    std::this_thread::sleep_for(50us);
  }
  for (int i = 0; i < 2; ++i) {
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(rec.events() == std::vector<std::string>{"bot " + it::user_id(7), "server " + it::user_id(8)});
}

TEST_CASE("clients disconnecting mid-body, resetting, half-closing: the server carries on") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  const std::string full = it::bot_vote(1);
  {
    Client c(m->port());
    c.send(full.substr(0, full.size() - 10)); // cut in the body, then gone
  }
  {
    Client c(m->port());
    c.send(full.substr(0, 30)); // cut in the head, then a reset
    std::this_thread::sleep_for(20ms);
    c.reset();
  }
  {
    Client c(m->port());
    c.send(it::bot_vote(2));
    c.shutdown_write(); // half-close: the answer still comes, then the close
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(c.closed_by_peer());
  }
  Client c(m->port());
  c.send(it::bot_vote(3));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.events() == std::vector<std::string>{"bot " + it::user_id(2), "bot " + it::user_id(3)});
}

// A custom route answering 1 MiB: responses that do not fit the socket; and
// one answering `huge` bytes.
void big_route(Manager& m, std::size_t huge = std::size_t{32} << 20, std::atomic<int>* huge_asked = nullptr) {
  m.route("GET", "/big",
          [](const topgg::Request&) {
            topgg::Response r;
            r.body.assign(1 << 20, 'x');
            return r;
          })
      .route("GET", "/huge",
             [huge, huge_asked](const topgg::Request&) {
               if (huge_asked)
                 ++*huge_asked;
               topgg::Response r;
               r.body.assign(huge, 'x');
               return r;
             })
      .on_warning([](std::string_view) {});
}

TEST_CASE("large answers to a slow reader: written in pieces, in order, reading paused meanwhile") {
  auto m = start([](Manager& mg) { big_route(mg); });
  Client c(m->port());
  std::string reqs;
  for (int i = 0; i < 6; ++i)
    reqs += "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  reqs += health(); // 404: no such route here
  REQUIRE(c.send(reqs));
  std::this_thread::sleep_for(200ms); // the server's output fills the socket
  for (int i = 0; i < 6; ++i) {
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.size() == std::size_t{1} << 20);
  }
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 404);
}

// The most a peer that reads nothing can take of our answer: the server's
// send buffer (the kernel grows it up to tcp_wmem's maximum; SO_SNDBUF may
// set up to twice wmem_max) and the peer's receive buffer. Read at run time:
// machines tune these (tcp_rmem's maximum is 32 MiB on some).
std::size_t unread_capacity(int receive_buffer) {
  auto field = [](const char* path, int n) -> std::size_t {
    std::size_t v = 0;
    if (std::FILE* f = std::fopen(path, "r")) {
      for (int i = 0; i <= n; ++i)
        if (std::fscanf(f, "%zu", &v) != 1)
          v = 0;
      std::fclose(f);
    }
    return v;
  };
  std::size_t send = std::max(field("/proc/sys/net/ipv4/tcp_wmem", 2), 2 * field("/proc/sys/net/core/wmem_max", 0));
  if (send == 0)
    send = std::size_t{64} << 20; // not Linux's /proc: assume a lot
  return send + static_cast<std::size_t>(receive_buffer);
}

TEST_CASE("a peer that never reads its last answer is given up on") {
  // The client's receive buffer is fixed (the kernel would grow it), and the
  // answer is larger than all the buffers on the way could hold: the server
  // cannot write it all, whatever the machine's socket buffer sizes.
  constexpr int receive_buffer = 256 << 10;
  const std::size_t huge = std::max(std::size_t{32} << 20, 2 * unread_capacity(2 * receive_buffer));
  std::atomic<int> asked{0};
  topgg::Settings s;
  s.body_timeout = 200ms;
  auto m = start([&](Manager& mg) {
    big_route(mg, huge, &asked);
    mg.settings(s);
  });
  Client c(m->port(), "127.0.0.1", it::patient_ms, receive_buffer);
  int rcvbuf = 0;
  socklen_t len = sizeof rcvbuf;
  REQUIRE(::getsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) == 0);
  REQUIRE(rcvbuf <= 2 * receive_buffer);
  REQUIRE(c.send("GET /huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  // Nothing is read until the server gave up (a body_timeout without
  // progress) and closed its side: reading earlier would be progress.
  REQUIRE(eventually([&] { return asked > 0; }));
  CHECK(eventually([&] { return server_sockets(m->port()).size() == 1; })); // the listener alone
  std::size_t got = 0;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(c.fd(), buf, sizeof buf, 0)) > 0)
    got += static_cast<std::size_t>(n);
  CHECK((n == 0 || errno == ECONNRESET)); // closed, not timed out
  CHECK(got > 0);
  CHECK(got < huge); // what the buffers held when it gave up, not the whole answer
}

// Descriptors in use by this process.
int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d))
      ++n;
    ::closedir(d);
  }
  return n - 3; // ".", ".." and the directory's own descriptor
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

TEST_CASE("EMFILE on accept: no spinning, accepting resumes once descriptors are free") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  // Sockets made before the limit drops (connecting needs no new descriptor);
  // the server can take two of them, then accept() fails with EMFILE.
  std::vector<int> socks;
  for (int i = 0; i < 6; ++i)
    socks.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(open_fds() + 2);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(m->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : socks)
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(400ms);
  const double spent = cpu_seconds() - cpu0;
  CHECK(spent < 0.2); // a loop retrying accept() at once would burn the whole 400 ms
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &old) == 0);
  for (int fd : socks)
    ::close(fd);
  int attempt = 0;
  CHECK(eventually([&] {
    Client c(m->port(), "127.0.0.1", 5000);
    c.send(it::bot_vote(attempt++));
    auto r = c.read();
    return r && r->status == 200;
  }));
}

TEST_CASE("200 concurrent connections each deliver one vote, once") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  constexpr int n = 200;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<Client>(m->port()));
    REQUIRE(clients.back()->connected());
  }
  for (int i = 0; i < n; ++i)
    REQUIRE(clients[static_cast<std::size_t>(i)]->send(it::bot_vote(i)));
  int ok = 0;
  for (auto& c : clients) {
    auto r = c->read();
    ok += r && r->status == 200;
  }
  CHECK(ok == n);
  const auto events = rec.events();
  CHECK(events.size() == n);
  CHECK(std::set<std::string>(events.begin(), events.end()).size() == n);
}

TEST_CASE("timeouts: 408 for a slow head or body, quiet close when idle or silent") {
  Recorder rec;
  topgg::Settings s;
  s.header_timeout = 200ms;
  s.body_timeout = 200ms;
  s.idle_timeout = 300ms;
  auto m = start([&](Manager& mg) {
    standard(mg, rec);
    mg.settings(s);
  });
  const std::string full = it::bot_vote(1);

  const auto t0 = std::chrono::steady_clock::now(); // before they connect: their clocks start later
  Client slow_head(m->port());
  slow_head.send("POST /dbl HTTP/1.1\r\nHost: x\r\n");
  Client slow_body(m->port());
  slow_body.send(full.substr(0, full.size() - 5));
  Client silent(m->port());
  Client idle(m->port());
  idle.send(health());
  auto r = idle.read();
  REQUIRE(r);
  CHECK(r->status == 200);

  r = slow_head.read();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(std::chrono::steady_clock::now() - t0 >= s.header_timeout); // not before its timeout
  CHECK(r->closes());
  CHECK(slow_head.closed_by_peer());
  r = slow_body.read();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(slow_body.closed_by_peer());
  CHECK(silent.closed_by_peer());
  CHECK(idle.closed_by_peer());
  // The settings are the ones applied, not the defaults (10 s, 60 s): a
  // bound far above these timeouts, which a busy machine cannot reach.
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(rec.size() == 0);
}

TEST_CASE("connection cap: the connection over it is closed, the others still work") {
  Recorder rec;
  topgg::Settings s;
  s.max_connections = 5;
  auto m = start([&](Manager& mg) {
    standard(mg, rec);
    mg.settings(s);
  });
  std::vector<std::unique_ptr<Client>> five;
  for (int i = 0; i < 5; ++i) {
    five.push_back(std::make_unique<Client>(m->port()));
    five.back()->send(health()); // answered: the server holds it now
    auto r = five.back()->read();
    REQUIRE(r);
  }
  Client sixth(m->port());
  CHECK(sixth.connected()); // accepted by the kernel ...
  sixth.send(health());
  CHECK(sixth.closed_by_peer()); // ... and closed by the server
  for (int i = 0; i < 5; ++i) {
    five[static_cast<std::size_t>(i)]->send(it::bot_vote(i));
    auto r = five[static_cast<std::size_t>(i)]->read();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  // One leaves: a newcomer gets its place once the server noticed.
  five.pop_back();
  CHECK(eventually([&] {
    Client again(m->port(), "127.0.0.1", 5000);
    again.send(health());
    auto r = again.read();
    return r && r->status == 200;
  }));
}

TEST_CASE("acknowledgement completed from another thread: ok 200, retry 503, twice harmless") {
  AckBox box;
  auto m = start([&](Manager& mg) {
    mg.dbl_webhook("/dbl", it::bot_key)
        .on_bot_vote([&box](const topgg::BotVote&, topgg::Ack a) { box.push(std::move(a)); })
        .on_warning([](std::string_view) {});
  });
  Client c(m->port());
  c.send(it::bot_vote(1) + it::bot_vote(2));
  auto a1 = box.pop();
  auto a2 = box.pop();
  REQUIRE(a1);
  REQUIRE(a2);
  std::thread worker([&] {
    std::this_thread::sleep_for(50ms);
    CHECK(a2->retry("database down")); // the second completes first: answers stay in order
    CHECK(a1->ok());
    CHECK_FALSE(a1->ok()); // twice: harmless, ignored
    CHECK_FALSE(a1->retry());
  });
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 503);
  worker.join();
  c.send(it::bot_vote(3));
  auto a3 = box.pop();
  REQUIRE(a3);
  a3->ok();
  r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("acknowledgement never completed: 503 after ack_timeout; completed late: harmless") {
  AckBox box;
  std::atomic<int> rejected{0};
  auto configure = [&](std::chrono::milliseconds ack_timeout) {
    return [&, ack_timeout](Manager& mg) {
      topgg::Settings s;
      s.ack_timeout = ack_timeout;
      mg.dbl_webhook("/dbl", it::bot_key)
          .on_bot_vote([&box](const topgg::BotVote&, topgg::Ack a) { box.push(std::move(a)); })
          .on_error([&](const topgg::Rejection& r) { rejected += r.error == topgg::Error::ack_timeout; })
          .on_warning([](std::string_view) {})
          .settings(s);
    };
  };
  auto m = start(configure(300ms));
  Client c(m->port());
  const auto t0 = std::chrono::steady_clock::now();
  c.send(it::bot_vote(1));
  auto a = box.pop();
  REQUIRE(a);
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
  CHECK(rejected == 1);
  CHECK_FALSE(a->ok()); // expired already
  CHECK(a->done());

  // Completed after its connection is gone (reset by the peer), on a server
  // whose ack_timeout cannot run out meanwhile, however slow the machine.
  m = start(configure(60'000ms));
  std::optional<topgg::Ack> late;
  {
    Client gone(m->port());
    gone.send(it::bot_vote(2));
    late = box.pop();
    REQUIRE(late);
    gone.reset();
  }
  CHECK(eventually([&] { return server_sockets(m->port()).size() == 1; })); // the reset seen: the listener alone
  std::thread([&] { late->ok(); }).join();
  Client c2(m->port());
  c2.send(it::bot_vote(3));
  auto a3 = box.pop();
  REQUIRE(a3);
  a3->ok();
  r = c2.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rejected == 1);
}

TEST_CASE("executor: vote handlers run on the thread the user chose") {
  Recorder rec;
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stop = false;
  std::thread bot_thread([&] {
    for (;;) {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return stop || !jobs.empty(); });
      if (jobs.empty())
        return;
      auto job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      job();
    }
  });
  const auto bot_id = bot_thread.get_id();
  {
    auto mgr = start([&](Manager& mg) {
      standard(mg, rec);
      mg.on_bot_vote([&](const topgg::BotVote& v) {
        rec.add(std::this_thread::get_id() == bot_id ? "on bot thread" : "elsewhere");
        if (v.user.value() == 160105994217586689ULL + 9)
          throw std::runtime_error("handler failed");
      });
      mg.executor([&](std::function<void()> job) {
        std::lock_guard lock(m);
        jobs.push_back(std::move(job));
        cv.notify_all();
      });
    });
    Client c(mgr->port());
    c.send(it::bot_vote(1));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    c.send(it::bot_vote(9));
    r = c.read();
    REQUIRE(r);
    CHECK(r->status == 500);
    CHECK(rec.events() == std::vector<std::string>{"on bot thread", "on bot thread"});
  }
  {
    std::lock_guard lock(m);
    stop = true;
    cv.notify_all();
  }
  bot_thread.join();
}

TEST_CASE("close() waits for acknowledgements of requests already received") {
  AckBox box;
  auto m = start([&](Manager& mg) {
    mg.dbl_webhook("/dbl", it::bot_key)
        .route("GET", "/health", [](const topgg::Request&) { return topgg::Response{}; })
        .on_bot_vote([&box](const topgg::BotVote&, topgg::Ack a) { box.push(std::move(a)); })
        .on_warning([](std::string_view) {});
  });
  const std::uint16_t port = m->port();
  Client c(port);
  Client idle(port); // kept alive between two requests: closed at once (a silent new one would be waited for)
  REQUIRE(idle.send(health()));
  REQUIRE(idle.read());
  c.send(it::bot_vote(1));
  auto a = box.pop();
  REQUIRE(a);
  std::atomic<bool> acking{false};
  std::thread acker([&] {
    std::this_thread::sleep_for(150ms);
    acking = true; // before ok(): close() may return as soon as ok() took effect
    a->ok();
  });
  m->close();    // owned loop: returns when all is closed
  CHECK(acking); // and that was after the acknowledgement, not before
  acker.join();
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(c.closed_by_peer());
  CHECK(idle.closed_by_peer());
  Client refused(port);
  CHECK_FALSE(refused.connected());
  m->close(); // twice: harmless
}

TEST_CASE("close() during traffic, from another thread, twice") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  const std::uint16_t port = m->port();
  std::atomic<int> ok{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      int i = 0;
      while (!done) {
        Client c(port, "127.0.0.1", 2000);
        if (!c.connected())
          return; // listener gone
        for (int k = 0; k < 20 && !done; ++k) {
          // Several pipelined: some are in flight when close() comes.
          if (!c.send(it::bot_vote(t * 100000 + i) + it::bot_vote(t * 100000 + i + 1)))
            break;
          i += 2;
          auto r1 = c.read();
          if (!r1)
            break;
          ok += r1->status == 200;
          auto r2 = c.read();
          if (!r2)
            break;
          ok += r2->status == 200;
        }
      }
    });
  CHECK(eventually([&] { return ok >= 10; })); // traffic flows, then close() comes
  std::thread closer([&] { m->close(); });
  m->close();
  closer.join();
  done = true;
  for (auto& t : clients)
    t.join();
  CHECK(ok > 0);
  // Every 200 was handled; a handled vote whose answer was cut off is possible
  // only for requests received before close() that lost their client.
  CHECK(static_cast<int>(rec.size()) >= ok.load());
  Client refused(port);
  CHECK_FALSE(refused.connected());
}

TEST_CASE("runs on an external loop the test drives itself") {
  Recorder rec;
  ExternalLoop loop;
  auto m = loop.make();
  standard(*m, rec);
  const std::uint16_t port = m->run(0, "127.0.0.1");
  CHECK(port == m->port());
  loop.start();
  {
    Client c(port);
    c.send(it::bot_vote(1) + it::server_vote(2));
    for (int i = 0; i < 2; ++i) {
      auto r = c.read();
      REQUIRE(r);
      CHECK(r->status == 200);
    }
    Client idle(port);
    std::thread([&] { m->close(); }).join(); // marshalled onto the loop
    loop.join();                             // the loop ends: nothing of ours left on it
    CHECK(c.closed_by_peer());
    CHECK(idle.closed_by_peer());
  }
  m.reset();
  CHECK(rec.size() == 2);
}

TEST_CASE("external loop: destroyed without close() while connections are open") {
  Recorder rec;
  ExternalLoop loop;
  auto m = loop.make();
  standard(*m, rec);
  const std::uint16_t port = m->run(0, "127.0.0.1");
  Client c(port); // queued in the backlog; the loop never runs
  c.send(it::bot_vote(1));
  m.reset();             // closes everything; the loop's close callbacks free the rest
  CHECK_FALSE(c.read()); // the queued connection is dropped, never answered
  CHECK(rec.size() == 0);
  // The listening socket went with it: the port can be listened on again.
  auto again = loop.make();
  standard(*again, rec);
  CHECK(again->run(port, "127.0.0.1") == port);
  again.reset();
}

TEST_CASE("IPv6 loopback") {
  Recorder rec;
  std::unique_ptr<Manager> m;
  try {
    m = start([&](Manager& mg) { standard(mg, rec); }, "::1");
  } catch (const std::system_error& e) {
    MESSAGE("IPv6 unavailable, skipped: " << e.what());
    return;
  }
  Client c(m->port(), "::1");
  REQUIRE(c.connected());
  c.send(it::bot_vote(1));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("\"::\" listens on IPv6 and IPv4, whatever the system's bindv6only default") {
  Recorder rec;
  std::unique_ptr<Manager> m;
  try {
    m = start([&](Manager& mg) { standard(mg, rec); }, "::");
  } catch (const std::system_error& e) {
    MESSAGE("IPv6 unavailable, skipped: " << e.what());
    return;
  }
  for (const char* peer : {"127.0.0.1", "::1"}) {
    Client c(m->port(), peer);
    REQUIRE(c.connected());
    c.send(it::bot_vote(2));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
}

TEST_CASE("run() reports bind failures and bad addresses") {
  Recorder rec;
  auto first = start([&](Manager& mg) { standard(mg, rec); });
  Manager second;
  standard(second, rec);
  CHECK_THROWS_AS(second.run(first->port(), "127.0.0.1"), std::system_error);
  Manager third;
  standard(third, rec);
  CHECK_THROWS_AS(third.run(0, "not an address"), std::system_error);
  Manager never_run; // destroyed without run(): nothing to do
  never_run.close();
}

TEST_CASE("configuring a running manager throws std::logic_error; after close() it may change and run again") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  REQUIRE(m->running());
  CHECK(m->address() == "127.0.0.1:" + std::to_string(m->port()));
  // Each of these would race the loop thread reading the configuration.
  CHECK_THROWS_AS(m->on_bot_vote([](const topgg::BotVote&) {}), std::logic_error);
  CHECK_THROWS_AS(m->dbl_webhook("/other", "k"), std::logic_error);
  CHECK_THROWS_AS(m->v1_webhook("/topgg", "whs_x"), std::logic_error);
  CHECK_THROWS_AS(m->route("GET", "/x", [](const topgg::Request&) { return topgg::Response{}; }), std::logic_error);
  CHECK_THROWS_AS(m->on_error([](const topgg::Rejection&) {}), std::logic_error);
  CHECK_THROWS_AS(m->on_warning([](std::string_view) {}), std::logic_error);
  CHECK_THROWS_AS(m->settings(topgg::Settings{}), std::logic_error);
  CHECK_THROWS_AS(m->executor([](std::function<void()> job) { job(); }), std::logic_error);
  CHECK_THROWS_AS(m->idempotency_store(std::make_shared<topgg::MemoryStore>()), std::logic_error);
  {
    Client c(m->port());
    c.send(it::bot_vote(1));
    auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200); // the refused calls changed nothing
    CHECK(rec.wait_count(1));
  }
  m->close();
  CHECK_FALSE(m->running());
  CHECK(m->address().empty());
  // Closed: configurable again, and the new route is served by the next run().
  m->dbl_webhook("/bot2", "bot2-key");
  REQUIRE(m->run(0, "127.0.0.1") != 0);
  Client c(m->port());
  c.send(it::post("/bot2", "bot2-key", it::bot_body(2)));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.wait_count(2));
}

TEST_CASE("close() from a handler on the owned loop's thread, then run() again: served") {
  Recorder rec;
  std::atomic<Manager*> self{nullptr};
  auto m = start([&](Manager& mg) {
    standard(mg, rec);
    mg.route("POST", "/stop", [&self](const topgg::Request&) {
      self.load()->close(); // on the loop thread: close() cannot join it
      return topgg::Response{};
    });
  });
  self = m.get();
  {
    Client c(m->port());
    c.send(it::post("/stop", "", "{}"));
    (void)c.read();
  }
  REQUIRE(eventually([&] { return !m->running(); }));
  REQUIRE(m->run(0, "127.0.0.1") != 0); // joined the ended loop thread (std::terminate before)
  Client c(m->port());
  c.send(it::bot_vote(4));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.wait_count(1));
  m->close();
}

TEST_CASE("a run() that failed (port busy) leaves the manager stopped, configurable and able to run") {
  Recorder rec;
  auto first = start([&](Manager& mg) { standard(mg, rec); });
  Manager second;
  standard(second, rec);
  CHECK_THROWS_AS(second.run(first->port(), "127.0.0.1"), std::system_error);
  CHECK_FALSE(second.running());
  CHECK(second.port() == 0);
  CHECK(second.address().empty());
  CHECK_THROWS_AS(second.run(first->port(), "127.0.0.1"), std::system_error); // still "busy", not "running"
  second.dsl_webhook("/dsl2", it::server_key);                                // not frozen by the failed attempts
  const std::uint16_t port = second.run(0, "127.0.0.1");
  REQUIRE(port != 0);
  CHECK(second.running());
  CHECK_THROWS_AS(second.run(0, "127.0.0.1"), std::logic_error); // running: a second run() is a mistake
  Client c(port);
  c.send(it::bot_vote(3));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(rec.wait_count(1));
  second.close();
}

TEST_CASE("run() resolves a host name: localhost") {
  Recorder rec;
  Manager m;
  standard(m, rec);
  const std::uint16_t port = m.run(0, "localhost");
  REQUIRE(port != 0);
  const std::string a = m.address(); // the numeric address the name resolved to
  CHECK((a == "127.0.0.1:" + std::to_string(port) || a == "[::1]:" + std::to_string(port)));
  Client c(port, a[0] == '[' ? "::1" : "127.0.0.1");
  REQUIRE(c.connected());
  c.send(it::bot_vote(4));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
  m.close();
}

// ---- the security audit's adapter findings (issue 15) -----------------------

namespace {
// Every socket of this process bound to `port` (the listener and the server's
// side of each connection): the server's descriptors.
std::vector<int> server_sockets(std::uint16_t port) {
  std::vector<int> fds;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      const int fd = std::atoi(e->d_name);
      sockaddr_storage a{};
      socklen_t len = sizeof a;
      if (e->d_name[0] == '.' || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        continue;
      const std::uint16_t p = a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                                      : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
      if (p == port)
        fds.push_back(fd);
    }
    ::closedir(d);
  }
  return fds;
}
} // namespace

TEST_CASE("every descriptor the server holds is close-on-exec (children get none)") {
  Recorder rec;
  auto m = start([&](Manager& mg) { standard(mg, rec); });
  Client a(m->port()), b(m->port());
  a.send(it::bot_vote(1));
  REQUIRE(a.read());
  b.send(health());
  REQUIRE(b.read());
  const std::vector<int> fds = server_sockets(m->port());
  CHECK(fds.size() >= 3); // the listener and both connections
  for (int fd : fds) {
    CAPTURE(fd);
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
}

TEST_CASE("a peer that resets while answers are still due cannot raise SIGPIPE (owned and external loop)") {
  // The audit's reproduction: two requests, the sending side shut down, the
  // socket closed without reading; the answers come later (two delayed Acks),
  // so the server writes to a connection the peer has reset. With SIGPIPE at
  // its default, a write without MSG_NOSIGNAL would end this process.
  auto scenario = [](Manager& m, std::uint16_t port, AckBox& box) {
    std::optional<topgg::Ack> first, second;
    {
      Client c(port);
      c.send(it::bot_vote(1) + it::bot_vote(2));
      first = box.pop();
      second = box.pop();
      REQUIRE(first);
      REQUIRE(second);
      c.shutdown_write();
    } // closed without reading: the first answer draws a reset, the second meets it
    std::this_thread::sleep_for(50ms);
    first->ok();
    std::this_thread::sleep_for(100ms);
    second->ok();
    std::this_thread::sleep_for(100ms);
    Client again(port); // the server still serves
    again.send(health());
    auto r = again.read();
    REQUIRE(r);
    CHECK(r->status == 200);
    (void)m;
  };
  auto configure = [](Manager& mg, AckBox& box) {
    mg.dbl_webhook("/dbl", it::bot_key)
        .route("GET", "/health", [](const topgg::Request&) { return topgg::Response{}; })
        .on_bot_vote([&box](const topgg::BotVote&, topgg::Ack a) { box.push(std::move(a)); })
        .on_warning([](std::string_view) {});
  };
  {
    AckBox box;
    auto m = start([&](Manager& mg) { configure(mg, box); });
    scenario(*m, m->port(), box);
  }
  {
    AckBox box;
    ExternalLoop loop;
    auto m = loop.make();
    configure(*m, box);
    const std::uint16_t port = m->run(0, "127.0.0.1");
    loop.start();
    scenario(*m, port, box);
    m->close();
    loop.join();
  }
}

TEST_CASE("hundreds of connections at once on an external loop (Asio: two threads): 404s and 401s pipelined, "
          "resets before the answers") {
  // Asio: whichever thread drops a connection's last reference frees it, and
  // its destructor gives buffers back to pools the server's other connections
  // use under its mutex: ThreadSanitizer finds any free made outside it. The
  // refused requests and the resets make many connections end while others are
  // being read and answered.
  Recorder rec;
  ExternalLoop loop;
  auto m = loop.make();
  standard(*m, rec);
  std::atomic<std::size_t> rejected{0}; // told on the loop's threads
  m->on_error([&](const topgg::Rejection&) { ++rejected; });
  const std::uint16_t port = m->run(0, "127.0.0.1");
  loop.start();
  const std::string refused = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n" + it::bot_vote(0, "wrong") +
                              it::server_vote(0, "") +
                              "POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
  const std::vector<int> refused_statuses{404, 401, 401, 404};
  constexpr int client_threads = 4, per_thread = 96, batch = 12; // batches of connections open at once
  enum Kind { reads_all, resets_at_once, resets_after_one };     // connection n is of kind n % 3
  std::mutex failures_m;
  std::vector<std::string> failures;
  auto fail = [&](int n, const std::string& what) {
    std::lock_guard lock(failures_m);
    failures.push_back("connection " + std::to_string(n) + ": " + what);
  };
  // Reads `want` in order; the deadline is generous, only a server that never answers hits it.
  auto expect = [&](it::Client& c, int n, const std::vector<int>& want) {
    for (int status : want) {
      const auto r = c.read();
      if (!r)
        return fail(n, "no answer where " + std::to_string(status) + " was due");
      if (r->status != status)
        return fail(n, std::to_string(r->status) + " where " + std::to_string(status) + " was due");
    }
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < client_threads; ++t)
    clients.emplace_back([&, t] {
      for (int first = t * per_thread; first < (t + 1) * per_thread; first += batch) {
        std::vector<std::unique_ptr<Client>> open;
        for (int n = first; n < first + batch; ++n) {
          open.push_back(std::make_unique<Client>(port, "127.0.0.1", 60000));
          Client& c = *open.back();
          if (!c.connected() || !c.send(n % 3 == reads_all ? refused + it::bot_vote(1000 + n) : refused))
            fail(n, "not connected or not sent");
          if (n % 3 == resets_at_once)
            c.reset();
        }
        for (int n = first; n < first + batch; ++n) {
          Client& c = *open[static_cast<std::size_t>(n - first)];
          if (n % 3 == reads_all) {
            std::vector<int> want = refused_statuses;
            want.push_back(200);
            expect(c, n, want);
          } else if (n % 3 == resets_after_one) {
            expect(c, n, {404});
            c.reset(); // three answers unread
          }
        }
      }
    });
  for (auto& c : clients)
    c.join();
  {
    std::lock_guard lock(failures_m);
    CHECK(failures.empty());
    for (std::size_t i = 0; i < failures.size() && i < 10; ++i)
      MESSAGE(failures[i]);
  }
  // The handler ran once for each valid vote (each one answered 200 above), and never for a refused request.
  constexpr std::size_t votes = (client_threads * per_thread + 2) / 3;
  CHECK(rejected >= votes * refused_statuses.size()); // and more, from the connections that reset
  std::vector<std::string> seen = rec.events();
  CHECK(seen.size() == votes);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
  {
    Client c(port); // still serving
    c.send(it::bot_vote(1));
    const auto r = c.read();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(rec.size() == votes + 1);
  m->close();
  loop.join();
}

#if defined(TOPGG_TEST_UV)
TEST_CASE("external loop: the manager destroyed from inside a handler (documented as allowed)") {
  ExternalLoop loop;
  std::unique_ptr<Manager> m = loop.make();
  std::atomic<int> votes{0};
  m->dbl_webhook("/dbl", it::bot_key)
      .on_bot_vote([&](const topgg::BotVote&) {
        ++votes;
        m.reset(); // on the loop thread, mid-request: no use after free (ASan)
      })
      .on_warning([](std::string_view) {});
  const std::uint16_t port = m->run(0, "127.0.0.1");
  loop.start();
  Client c(port);
  c.send(it::bot_vote(1));
  auto r = c.read(); // the answer may or may not be written: the connection is closed at once
  loop.join();       // and the loop ends: nothing of the manager's is left on it
  CHECK(votes == 1);
  CHECK(c.closed_by_peer());
}
#endif

#if defined(TOPGG_TEST_ASIO)
TEST_CASE("destroyed on one thread while the context runs handlers on two others") {
  for (int round = 0; round < 20; ++round) {
    Recorder rec;
    ExternalLoop loop;
    auto m = loop.make();
    standard(*m, rec);
    const std::uint16_t port = m->run(0, "127.0.0.1");
    loop.start();
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 8; ++i) {
      clients.push_back(std::make_unique<Client>(port));
      clients.back()->send(it::bot_vote(100 + i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 4));
    m.reset(); // races the handlers on the two threads unless serialised with them (ThreadSanitizer checks)
    loop.join();
    // Each vote was handled once at most, and only a handled vote was answered 200.
    std::size_t answered = 0;
    for (auto& c : clients)
      if (auto r = c->read()) {
        CHECK(r->status == 200);
        ++answered;
      }
    const std::vector<std::string> seen = rec.events();
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());
    CHECK(answered <= seen.size());
    CHECK(seen.size() <= clients.size());
  }
}
#endif
