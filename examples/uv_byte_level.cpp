// Byte-level embedding: the application owns the libuv loop, the listening
// socket and every connection; topgg::Connection only turns bytes into
// answers. Per TCP connection, the whole contract is:
//   read → conn.receive(bytes, now)        EOF → conn.receive_eof(now)
//   write conn.output(); once written → conn.consume(n), then conn.resume(now)
//   read only while conn.want_read(); one timer at conn.deadline() → conn.on_timer(now)
//   close the socket when conn.finished() and the output is written.
// (With Ack handlers completed on other threads, also set_waker() and call
// resume() on the loop thread; adapters/uv/uv.cpp does it with a uv_async_t.)
//
//   TOPGG_DBL_AUTH=s3cret ./uv_byte_level 8080
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <utility>

#include <topgg/connection.hpp>

namespace {

uv_loop_t* loop = nullptr;
uv_tcp_t listener;
uv_signal_t sigint, sigterm;
topgg::Router router;

template <class T> uv_handle_t* as_handle(T* h) { return reinterpret_cast<uv_handle_t*>(h); }
uv_stream_t* as_stream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }

struct Client {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  topgg::Connection conn{router, topgg::Now::current()};
  std::string writing; // a copy of output() while uv_write sends it
  bool reading = false, eof = false, closing = false;
  int open_handles = 2;
};
std::set<Client*> clients;

void on_closed(uv_handle_t* h) {
  auto* c = static_cast<Client*>(h->data);
  if (--c->open_handles == 0)
    delete c;
}

void close_client(Client* c) {
  if (c->closing)
    return;
  c->closing = true;
  clients.erase(c);
  uv_close(as_handle(&c->tcp), on_closed); // cancels a write in flight
  uv_close(as_handle(&c->timer), on_closed);
}

void settle(Client* c);

void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  static char storage[64 * 1024]; // the Connection copies whatever it keeps
  *buf = uv_buf_init(storage, sizeof storage);
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(s->data);
  if (n == UV_EOF) {
    c->eof = true;
    c->conn.receive_eof(topgg::Now::current());
  } else if (n < 0) {
    return close_client(c);
  } else if (n > 0) {
    c->conn.receive({buf->base, static_cast<std::size_t>(n)}, topgg::Now::current());
  }
  settle(c);
}

void on_write(uv_write_t* req, int status) {
  auto* c = static_cast<Client*>(req->data);
  if (c->closing)
    return;
  if (status < 0)
    return close_client(c);
  c->conn.consume(c->writing.size());
  c->writing.clear();
  c->conn.resume(topgg::Now::current()); // input held back while output was full may go on
  settle(c);
}

void on_timer(uv_timer_t* t) {
  auto* c = static_cast<Client*>(t->data);
  c->conn.on_timer(topgg::Now::current());
  settle(c);
}

// After every call into the Connection: write, close, read or not, re-arm the timer.
void settle(Client* c) {
  if (c->writing.empty() && !c->conn.output().empty()) {
    c->writing.assign(c->conn.output()); // output() may move on later calls: send a copy
    uv_buf_t b = uv_buf_init(c->writing.data(), static_cast<unsigned>(c->writing.size()));
    c->write_req.data = c;
    if (uv_write(&c->write_req, as_stream(&c->tcp), &b, 1, on_write) != 0)
      return close_client(c);
  }
  if (c->conn.finished() && c->writing.empty())
    return close_client(c);
  const bool want = c->conn.want_read() && !c->eof;
  if (want != c->reading)
    want ? uv_read_start(as_stream(&c->tcp), on_alloc, on_read) : uv_read_stop(as_stream(&c->tcp));
  c->reading = want;
  uv_timer_stop(&c->timer);
  if (const auto d = c->conn.deadline()) {
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*d - topgg::Clock::now()).count();
    uv_timer_start(&c->timer, on_timer, static_cast<std::uint64_t>(std::max<long long>(ms, 0)), 0);
  }
}

void on_connection(uv_stream_t* server, int status) {
  if (status < 0)
    return;
  auto* c = new Client;
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  clients.insert(c);
  if (uv_accept(server, as_stream(&c->tcp)) != 0)
    return close_client(c);
  settle(c);
}

// Graceful: answer what was received, close the rest; the loop then runs dry.
void on_signal(uv_signal_t*, int) {
  if (uv_is_closing(as_handle(&listener)))
    return;
  std::cerr << "closing\n";
  for (auto* h : {as_handle(&listener), as_handle(&sigint), as_handle(&sigterm)})
    uv_close(h, nullptr);
  for (Client* c : std::set<Client*>(clients)) { // a copy: settle() may erase from `clients`
    c->conn.shutdown(topgg::Now::current());
    settle(c);
  }
}

} // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* auth = std::getenv("TOPGG_DBL_AUTH");
  router.dbl_webhook("/dbl", auth ? auth : "my-dbl-auth").on_bot_vote([](const topgg::BotVote& v) {
    std::cout << "vote: user " << v.user.to_string() << " voted for bot " << v.bot.to_string() << std::endl;
  });

  loop = uv_default_loop();
  sockaddr_in addr{};
  uv_ip4_addr("0.0.0.0", port, &addr);
  uv_tcp_init(loop, &listener);
  int err = uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (err != 0 || (err = uv_listen(as_stream(&listener), 128, on_connection)) != 0) {
    std::cerr << "cannot listen: " << uv_strerror(err) << '\n';
    return 1;
  }
  int len = sizeof addr;
  uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", unsigned(ntohs(addr.sin_port)));

  for (auto [handle, signum] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
    uv_signal_init(loop, handle);
    uv_signal_start(handle, on_signal, signum);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
