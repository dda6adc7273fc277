// libuv glue: accept, read into the core, write what it produced, keep one
// timer per connection at the core's deadline, close. Memory of a connection
// is freed only after both of its handles' close callbacks ran.
#include "topgg/uv.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "topgg/connection.hpp"

namespace topgg::uv {
namespace {

// One read buffer per server: the core copies whatever it cannot use at once.
constexpr std::size_t read_buffer_size = 64 * 1024;

struct Server;

// What other threads ask of the loop: Ack wake-ups and close(). `async` is
// cleared under the mutex before it is closed, so late senders do nothing.
struct Mailbox {
  std::mutex m;
  uv_async_t* async = nullptr;
  Server* server = nullptr; // cleared when the server is freed
  std::vector<std::uint64_t> woken;
  bool close_requested = false;

  void wake(std::uint64_t id) {
    std::lock_guard lock(m);
    if (async) {
      woken.push_back(id);
      uv_async_send(async);
    }
  }
  void request_close() {
    std::lock_guard lock(m);
    if (async) {
      close_requested = true;
      uv_async_send(async);
    }
  }
};

struct Conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  Server* server = nullptr;
  std::uint64_t id = 0;
  std::unique_ptr<Connection> core; // reset when closing: the core is never called after that
  std::string pending;              // output being written asynchronously, still counted by the core
  std::optional<Clock::time_point> armed;
  int open_handles = 2;
  bool reading = false, writing = false, eof = false, closed = false;
};

struct Server {
  uv_loop_t* loop = nullptr;
  Router* router = nullptr;
  std::shared_ptr<Mailbox> mailbox;
  uv_tcp_t listener;
  uv_async_t async;
  std::unordered_map<std::uint64_t, Conn*> conns; // open ones
  std::vector<std::uint64_t> woken;
  std::uint64_t next_id = 1;
  int handles = 0; // listener, async, refused sockets and every Conn until freed
  bool stopping = false;
  std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_buffer_size);

  ~Server() {
    std::lock_guard lock(mailbox->m);
    mailbox->server = nullptr;
  }
};

uv_handle_t* handle(void* h) { return static_cast<uv_handle_t*>(h); }
uv_stream_t* stream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }

void release(Server* s) {
  if (--s->handles == 0)
    delete s;
}

void on_server_handle_closed(uv_handle_t* h) { release(static_cast<Server*>(h->data)); }

void close_async(Server* s) {
  {
    std::lock_guard lock(s->mailbox->m);
    if (!s->mailbox->async)
      return;
    s->mailbox->async = nullptr;
  }
  uv_close(handle(&s->async), on_server_handle_closed);
}

void on_conn_handle_closed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  if (--c->open_handles > 0)
    return;
  Server* s = c->server;
  delete c;
  release(s);
}

void close_conn(Conn* c) {
  if (c->closed)
    return;
  c->closed = true;
  c->core.reset(); // expires its acks and unhooks the waker
  Server* s = c->server;
  s->conns.erase(c->id);
  uv_close(handle(&c->tcp), on_conn_handle_closed); // cancels a write in flight
  uv_close(handle(&c->timer), on_conn_handle_closed);
  if (s->stopping && s->conns.empty())
    close_async(s);
}

void on_read(uv_stream_t* st, ssize_t n, const uv_buf_t* buf);
void on_timer(uv_timer_t* t);
void on_write(uv_write_t* req, int status);

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(static_cast<Conn*>(h->data)->server->buf.get(), read_buffer_size);
}

// After every call into the core: write, start/stop reading, close, re-arm the timer.
void settle(Conn* c) {
  Connection& k = *c->core;
  while (!c->writing) {
    const std::string_view out = k.output();
    if (out.empty())
      break;
    uv_buf_t b = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    int n = uv_try_write(stream(&c->tcp), &b, 1);
    if (n == UV_EAGAIN)
      n = 0;
    if (n < 0)
      return close_conn(c);
    if (static_cast<std::size_t>(n) < out.size()) {
      // The socket is full: copy the rest, since output() moves on later calls.
      c->pending.assign(out.substr(static_cast<std::size_t>(n)));
      k.consume(static_cast<std::size_t>(n));
      uv_buf_t rest = uv_buf_init(c->pending.data(), static_cast<unsigned>(c->pending.size()));
      c->write_req.data = c;
      if (uv_write(&c->write_req, stream(&c->tcp), &rest, 1, on_write) != 0)
        return close_conn(c);
      c->writing = true;
      break;
    }
    k.consume(out.size());
    k.resume(Now::current()); // held input may go on now that output drained
  }
  if (k.finished() && k.output().empty())
    return close_conn(c);
  const bool want = k.want_read() && !c->eof;
  if (want != c->reading) {
    if (want ? uv_read_start(stream(&c->tcp), on_alloc, on_read) : uv_read_stop(stream(&c->tcp)))
      return close_conn(c);
    c->reading = want;
  }
  const auto d = k.deadline();
  if (d == c->armed)
    return;
  c->armed = d;
  if (!d) {
    uv_timer_stop(&c->timer);
    return;
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*d - Clock::now()).count();
  uv_timer_start(&c->timer, on_timer, static_cast<std::uint64_t>(std::max<decltype(ms)>(ms, 0)), 0);
}

void on_read(uv_stream_t* st, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(st->data);
  if (n == UV_EOF) {
    c->eof = true;
    c->reading = false;
    uv_read_stop(st);
    c->core->receive_eof(Now::current());
  } else if (n < 0) {
    return close_conn(c); // ECONNRESET and friends
  } else if (n > 0) {
    c->core->receive({buf->base, static_cast<std::size_t>(n)}, Now::current());
  }
  settle(c);
}

void on_timer(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  c->armed.reset();
  c->core->on_timer(Now::current());
  settle(c);
}

void on_write(uv_write_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  c->writing = false;
  if (c->closed)
    return;
  if (status < 0)
    return close_conn(c);
  c->core->consume(c->pending.size());
  std::string().swap(c->pending); // idle connections keep no write buffer
  c->core->resume(Now::current());
  settle(c);
}

void on_refused_closed(uv_handle_t* h) {
  auto* s = static_cast<Server*>(h->data);
  delete reinterpret_cast<uv_tcp_t*>(h);
  release(s);
}

void on_connection(uv_stream_t* listener, int status) {
  auto* s = static_cast<Server*>(listener->data);
  // EMFILE: libuv's reserved descriptor already accepted and dropped what was
  // pending, so the loop does not spin and later connections are accepted.
  if (status < 0 || s->stopping)
    return;
  if (s->conns.size() >= s->router->limits().max_connections) {
    auto* t = new uv_tcp_t;
    uv_tcp_init(s->loop, t);
    t->data = s;
    ++s->handles;
    uv_accept(listener, stream(t));
    uv_close(handle(t), on_refused_closed); // accepted and closed at once: over the cap
    return;
  }
  auto* c = new Conn;
  c->server = s;
  c->id = s->next_id++;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  ++s->handles;
  s->conns.emplace(c->id, c);
  if (uv_accept(listener, stream(&c->tcp)) != 0)
    return close_conn(c);
  uv_tcp_nodelay(&c->tcp, 1);
  c->core = std::make_unique<Connection>(*s->router, Now::current());
  c->core->set_waker([mb = s->mailbox.get(), id = c->id] { mb->wake(id); });
  settle(c);
}

void begin_close(Server* s) {
  if (s->stopping)
    return;
  s->stopping = true;
  uv_close(handle(&s->listener), on_server_handle_closed);
  std::vector<Conn*> open;
  for (auto& [id, c] : s->conns)
    open.push_back(c);
  const Now now = Now::current();
  for (Conn* c : open) {
    c->core->shutdown(now);
    settle(c);
  }
  if (s->conns.empty())
    close_async(s);
}

// Immediate stop: every connection closed now, nothing of the user's called later.
void abort_server(Server* s) {
  if (!s->stopping) {
    s->stopping = true;
    uv_close(handle(&s->listener), on_server_handle_closed);
  }
  while (!s->conns.empty())
    close_conn(s->conns.begin()->second);
  close_async(s);
}

void on_async(uv_async_t* a) {
  auto* s = static_cast<Server*>(a->data);
  bool close = false;
  {
    std::lock_guard lock(s->mailbox->m);
    s->woken.swap(s->mailbox->woken);
    close = s->mailbox->close_requested;
  }
  for (std::uint64_t id : s->woken) {
    auto it = s->conns.find(id);
    if (it == s->conns.end())
      continue; // closed meanwhile
    it->second->core->resume(Now::current());
    settle(it->second);
  }
  s->woken.clear();
  if (close)
    begin_close(s);
}

} // namespace

struct WebhookManager::Impl {
  Router router;
  uv_loop_t* loop = nullptr;
  uv_loop_t own_loop{};
  bool owns = false;
  bool started = false;
  std::uint16_t port = 0;
  std::thread thread;
  std::mutex join_m;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();

  void listen(std::uint16_t want, const std::string& host) {
    auto* s = new Server;
    s->loop = loop;
    s->router = &router;
    s->mailbox = mailbox;
    s->listener.data = s->async.data = s;
    uv_tcp_init(loop, &s->listener);
    uv_async_init(loop, &s->async, on_async);
    s->handles = 2;
    {
      std::lock_guard lock(mailbox->m);
      mailbox->async = &s->async;
      mailbox->server = s;
    }
    sockaddr_storage addr{};
    int err = host.find(':') != std::string::npos
                  ? uv_ip6_addr(host.c_str(), want, reinterpret_cast<sockaddr_in6*>(&addr))
                  : uv_ip4_addr(host.c_str(), want, reinterpret_cast<sockaddr_in*>(&addr));
    if (err == 0)
      err = uv_tcp_bind(&s->listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (err == 0)
      err = uv_listen(stream(&s->listener), 511, on_connection);
    int len = sizeof addr;
    if (err == 0)
      err = uv_tcp_getsockname(&s->listener, reinterpret_cast<sockaddr*>(&addr), &len);
    if (err != 0) {
      abort_server(s);
      throw std::system_error(-err, std::generic_category(),
                              "topgg::uv: cannot listen on " + host + " port " + std::to_string(want));
    }
    port = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }

  // Owned loop: waits for the loop thread, which ends once every handle closed.
  void join() {
    std::lock_guard lock(join_m);
    if (!thread.joinable() || thread.get_id() == std::this_thread::get_id())
      return;
    thread.join();
    uv_loop_close(loop);
  }
};

WebhookManager::WebhookManager() : impl_(std::make_unique<Impl>()) { impl_->owns = true; }

WebhookManager::WebhookManager(uv_loop_t* loop) : impl_(std::make_unique<Impl>()) { impl_->loop = loop; }

WebhookManager::~WebhookManager() {
  if (impl_->owns) {
    close();
    return;
  }
  Server* s = nullptr;
  {
    std::lock_guard lock(impl_->mailbox->m);
    s = impl_->mailbox->server;
  }
  if (s)
    abort_server(s); // on the loop thread or with the loop stopped (see the header)
}

Router& WebhookManager::router() noexcept { return impl_->router; }

std::uint16_t WebhookManager::port() const noexcept { return impl_->port; }

std::uint16_t WebhookManager::run(std::uint16_t port, const std::string& host) {
  if (impl_->started)
    throw std::logic_error("topgg::uv::WebhookManager::run called twice");
  impl_->started = true;
  impl_->router.warn_once();
  if (!impl_->owns) {
    impl_->listen(port, host);
    return impl_->port;
  }
  impl_->loop = &impl_->own_loop;
  if (int err = uv_loop_init(impl_->loop); err != 0)
    throw std::system_error(-err, std::generic_category(), "topgg::uv: uv_loop_init");
  try {
    impl_->listen(port, host);
  } catch (...) {
    uv_run(impl_->loop, UV_RUN_DEFAULT); // runs the close callbacks
    uv_loop_close(impl_->loop);
    throw;
  }
  impl_->thread = std::thread([loop = impl_->loop] { uv_run(loop, UV_RUN_DEFAULT); });
  return impl_->port;
}

void WebhookManager::close() {
  impl_->mailbox->request_close();
  if (impl_->owns)
    impl_->join();
}

} // namespace topgg::uv
