// The ceiling of the load test: a libuv server on one thread that answers
// every request with a fixed 200 without parsing it. A request is counted by
// its end of headers ("\r\n\r\n", tracked across reads); the vote bodies the
// load test sends never contain one. Same socket handling as the uv adapter:
// one shared read buffer, TCP_NODELAY, uv_try_write first.
//
//   null-server PORT      (127.0.0.1; SIGINT/SIGTERM stop it and print the count)
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK";
constexpr std::size_t answer_len = sizeof answer - 1;
constexpr std::size_t batch = 64;
char answers[answer_len * batch];
char read_buf[64 * 1024];
unsigned long long requests = 0;

struct Conn {
  uv_tcp_t tcp;
  unsigned match = 0; // how much of "\r\n\r\n" the previous bytes ended with
  std::string pending;
  bool writing = false;
};

void on_closed(uv_handle_t* h) { delete reinterpret_cast<Conn*>(h); }

void on_write(uv_write_t* req, int) {
  auto* c = static_cast<Conn*>(req->data);
  c->writing = false;
  c->pending.clear();
  delete req;
}

void send(Conn* c, std::size_t count) {
  while (count > 0) {
    const std::size_t k = count < batch ? count : batch;
    count -= k;
    const std::size_t len = k * answer_len;
    if (!c->writing) {
      uv_buf_t b = uv_buf_init(answers, static_cast<unsigned>(len));
      int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1);
      if (n == UV_EAGAIN)
        n = 0;
      if (n < 0)
        return;
      if (static_cast<std::size_t>(n) == len)
        continue;
      c->pending.append(answers + n, len - static_cast<std::size_t>(n));
      for (; count > 0; --count)
        c->pending.append(answer, answer_len);
      auto* req = new uv_write_t;
      req->data = c;
      uv_buf_t rest = uv_buf_init(c->pending.data(), static_cast<unsigned>(c->pending.size()));
      c->writing = true;
      uv_write(req, reinterpret_cast<uv_stream_t*>(&c->tcp), &rest, 1, on_write);
      return;
    }
    // A write is in flight and owns `pending`: the client is not reading.
    // Drop the answers; the load generator never gets here.
    return;
  }
}

void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) { *buf = uv_buf_init(read_buf, sizeof read_buf); }

void on_read(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(st->data);
  if (n < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(st), on_closed);
    return;
  }
  static constexpr char end[] = "\r\n\r\n";
  std::size_t found = 0;
  unsigned m = c->match;
  for (ssize_t i = 0; i < n; ++i) {
    const char ch = buf->base[i];
    if (ch == end[m]) {
      if (++m == 4) {
        ++found;
        m = 0;
      }
    } else {
      m = ch == '\r' ? 1 : 0;
    }
  }
  c->match = m;
  requests += found;
  send(c, found);
}

void on_connection(uv_stream_t* listener, int status) {
  if (status < 0)
    return;
  auto* c = new Conn;
  uv_tcp_init(listener->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

void on_signal(uv_signal_t* s, int) { uv_stop(s->loop); }

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  for (std::size_t i = 0; i < batch; ++i)
    std::memcpy(answers + i * answer_len, answer, answer_len);
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t listener;
  uv_tcp_init(loop, &listener);
  sockaddr_in addr{};
  uv_ip4_addr("127.0.0.1", std::atoi(argv[1]), &addr);
  if (uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 511, on_connection) != 0) {
    std::fprintf(stderr, "null-server: cannot listen on 127.0.0.1:%s\n", argv[1]);
    return 1;
  }
  uv_signal_t sigint, sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  std::fprintf(stderr, "null-server listening on 127.0.0.1:%s\n", argv[1]);
  uv_run(loop, UV_RUN_DEFAULT);
  std::fprintf(stderr, "null-server: %llu requests\n", requests);
  return 0;
}
