// libuv glue: the Driver's hooks on a uv_poll_t (socket readiness) and a
// uv_timer_t per connection, accept, and the owned loop. The socket calls
// themselves are common/socket.cpp's (close-on-exec, no SIGPIPE). Memory of
// a connection is freed only after both of its handles' close callbacks ran.
#include "topgg/uv.hpp"

#include <signal.h>
#include <uv.h>

#include <cerrno>
#include <thread>

#include "../common/socket.hpp"

namespace topgg::uv {
namespace {

constexpr std::size_t read_buffer_size = 64 * 1024; // one per server: the core copies what it cannot use at once
constexpr std::uint64_t accept_pause_ms = 100;      // out of descriptors: the pending connection stays queued

struct Server;

struct Conn {
  struct Hooks { // the Driver's transport
    Conn& c;
    IoResult read(std::span<char> in) { return sock::read(c.fd, in); }
    IoResult write(std::string_view out) { return sock::write(c.fd, out); }
    void want_read(bool on) { c.poll_for(UV_READABLE, on); }
    void want_write(bool on) { c.poll_for(UV_WRITABLE, on); }
    void arm_timer(std::optional<Clock::time_point> at);
    void close() { c.close(); }
  };

  Conn(Server& s, int socket, const std::string& peer);
  void poll_for(int flag, bool on);
  void close();

  uv_poll_t poll;
  uv_timer_t timer;
  Server& server;
  int fd;
  std::uint64_t id = 0;
  int events = 0;
  int open_handles = 2;
  Hooks hooks{*this};
  Driver<Hooks> driver;
};

struct Server {
  Server(uv_loop_t* l, Router& r, sock::Listener lis);
  void begin_close();
  void abort();
  void close_async();
  void release();

  uv_loop_t* loop;
  Router& router;
  Workspace workspace;
  sock::Listener listener;
  uv_poll_t accept_poll;
  uv_timer_t pause;
  uv_async_t async;
  std::shared_ptr<WakeQueue> wakes;
  ConnectionSet<Conn> conns{1024};
  std::vector<std::uint64_t> woken;
  std::function<void()> on_closed; // the manager's, cleared if the manager goes first
  int handles = 3;                 // accept_poll, pause, async, and every Conn until freed
  bool stopping = false;
  std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_buffer_size);
};

void on_conn_closed(uv_handle_t* h) {
  auto* c = static_cast<Conn*>(h->data);
  if (--c->open_handles > 0)
    return;
  Server& s = c->server;
  delete c;
  s.release();
}

void on_poll(uv_poll_t* h, int status, int events) {
  Conn& c = *static_cast<Conn*>(h->data);
  const Now now = Now::current();
  if (status < 0)
    return c.driver.close();
  if (events & UV_READABLE)
    c.driver.on_readable(now, {c.server.buf.get(), read_buffer_size});
  if ((events & UV_WRITABLE) && !c.driver.closed())
    c.driver.on_writable(now);
}

void on_timer(uv_timer_t* t) { static_cast<Conn*>(t->data)->driver.on_timer(Now::current()); }

Conn::Conn(Server& s, int socket, const std::string& peer)
    : server(s), fd(socket), driver(s.router, hooks, Now::current(), &s.workspace) {
  uv_poll_init_socket(s.loop, &poll, fd);
  uv_timer_init(s.loop, &timer);
  poll.data = timer.data = this;
  id = s.conns.add(this);
  ++s.handles;
  driver.connection().set_peer(peer);
  driver.connection().set_waker([q = s.wakes, i = id] { q->wake(i); });
}

void Conn::Hooks::arm_timer(std::optional<Clock::time_point> at) {
  if (!at)
    return void(uv_timer_stop(&c.timer));
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*at - Clock::now()).count();
  uv_timer_start(&c.timer, on_timer, static_cast<std::uint64_t>(std::max<decltype(ms)>(ms, 0)), 0);
}

void Conn::poll_for(int flag, bool on) {
  events = on ? events | flag : events & ~flag;
  if (events)
    uv_poll_start(&poll, events, on_poll);
  else
    uv_poll_stop(&poll);
}

void Conn::close() {
  server.conns.remove(id);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll), on_conn_closed); // stops polling now: the descriptor may go
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_conn_closed);
  sock::close(fd);
  if (server.stopping && server.conns.empty())
    server.close_async();
}

void on_accept(uv_poll_t* h, int status, int) {
  Server& s = *static_cast<Server*>(h->data);
  if (status < 0 || s.stopping)
    return;
  s.conns.set_cap(s.router.settings().max_connections);
  for (int i = 0; i < 64; ++i) { // a burst at a time, so the loop's other work goes on
    std::string peer;
    const int fd = sock::accept(s.listener.fd, peer);
    if (fd < 0) {
      if (sock::out_of_resources(errno)) {
        uv_poll_stop(&s.accept_poll);
        uv_timer_start(&s.pause, [](uv_timer_t* t) {
          auto* srv = static_cast<Server*>(t->data);
          if (!srv->stopping)
            uv_poll_start(&srv->accept_poll, UV_READABLE, on_accept);
        }, accept_pause_ms, 0);
      }
      return;
    }
    if (s.conns.full()) {
      sock::close(fd); // accepted and closed at once: over the cap
      continue;
    }
    (new Conn(s, fd, peer))->driver.start(Now::current());
  }
}

void on_async(uv_async_t* a) {
  Server& s = *static_cast<Server*>(a->data);
  const bool close = s.wakes->drain(s.woken);
  for (std::uint64_t id : s.woken)
    if (Conn* c = s.conns.find(id)) // closed meanwhile: nothing to do
      c->driver.on_wake(Now::current());
  if (close)
    s.begin_close();
}

void on_server_handle_closed(uv_handle_t* h) { static_cast<Server*>(h->data)->release(); }

Server::Server(uv_loop_t* l, Router& r, sock::Listener lis) : loop(l), router(r), listener(std::move(lis)) {
  uv_poll_init_socket(loop, &accept_poll, listener.fd);
  uv_timer_init(loop, &pause);
  uv_async_init(loop, &async, on_async);
  accept_poll.data = pause.data = async.data = this;
  wakes = std::make_shared<WakeQueue>([a = &async] { uv_async_send(a); });
  uv_poll_start(&accept_poll, UV_READABLE, on_accept);
}

void Server::release() {
  if (--handles > 0)
    return;
  if (on_closed)
    on_closed();
  delete this;
}

void Server::close_async() {
  wakes->close(); // later wakes (late Acks) send nothing to a closing handle
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async)))
    uv_close(reinterpret_cast<uv_handle_t*>(&async), on_server_handle_closed);
}

void Server::begin_close() {
  if (stopping)
    return;
  stopping = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&accept_poll), on_server_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&pause), on_server_handle_closed);
  sock::close(listener.fd);
  const Now now = Now::current();
  conns.each([now](Conn& c) { c.driver.shutdown(now); });
  if (conns.empty())
    close_async();
}

// Immediate stop: every connection closed now, nothing of the user's called later.
void Server::abort() {
  begin_close();
  conns.each([](Conn& c) { c.driver.close(); });
  close_async();
}

void block_sigpipe_here() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

} // namespace

struct WebhookManager::Impl {
  uv_loop_t* loop = nullptr;
  uv_loop_t own{};
  bool owns = false;
  std::thread thread;
  std::mutex join_m;                 // two close() calls at once join once
  std::mutex m;                      // guards wakes and server against close() from other threads
  std::shared_ptr<WakeQueue> wakes;  // the running server's
  Server* server = nullptr;          // loop thread only (or loop not running)
};

WebhookManager::WebhookManager() : impl_(std::make_unique<Impl>()) { impl_->owns = true; }
WebhookManager::WebhookManager(uv_loop_t* loop) : impl_(std::make_unique<Impl>()) { impl_->loop = loop; }

WebhookManager::~WebhookManager() {
  if (impl_->owns) {
    close();
    return;
  }
  std::lock_guard lock(impl_->m);
  if (Server* s = std::exchange(impl_->server, nullptr)) {
    s->on_closed = nullptr; // the close callbacks run after this object is gone
    s->abort();
  }
}

WebhookManager::Bound WebhookManager::listen(std::uint16_t port, const std::string& host) {
  sock::Listener l = sock::listen(host, port); // throws, leaving nothing behind
  Bound bound{l.port, l.address};
  if (impl_->owns) {
    impl_->loop = &impl_->own;
    uv_loop_init(impl_->loop);
  }
  auto* s = new Server(impl_->loop, router(), std::move(l));
  s->on_closed = [this] {
    {
      std::lock_guard lock(impl_->m);
      impl_->server = nullptr;
      impl_->wakes = nullptr;
    }
    stopped();
  };
  {
    std::lock_guard lock(impl_->m);
    impl_->server = s;
    impl_->wakes = s->wakes;
  }
  if (impl_->owns)
    impl_->thread = std::thread([loop = impl_->loop] {
      block_sigpipe_here(); // sends use MSG_NOSIGNAL; this covers anything else on the thread
      uv_run(loop, UV_RUN_DEFAULT);
    });
  return bound;
}

void WebhookManager::stop() {
  std::shared_ptr<WakeQueue> q;
  {
    std::lock_guard lock(impl_->m);
    q = impl_->wakes;
  }
  if (q)
    q->request_close();
  if (!impl_->owns)
    return;
  std::lock_guard lock(impl_->join_m);
  if (!impl_->thread.joinable() || impl_->thread.get_id() == std::this_thread::get_id())
    return;
  impl_->thread.join(); // the loop ends once every handle of ours closed
  uv_loop_close(impl_->loop);
}

} // namespace topgg::uv
