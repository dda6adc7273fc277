// libuv glue: the Driver's hooks on a uv_poll_t per connection (socket
// readiness) and one uv_timer_t for all of them (common/deadlines.hpp), and
// the owned loop. Socket calls, accept and close fan-out are common/'s. A
// connection's memory is freed only after its handle's close callback ran;
// the server's after all of its own did.
#include "topgg/uv.hpp"

#include <uv.h>

#include "../common/server.hpp"

namespace topgg::uv {
namespace {

struct Server;

template <class H> uv_handle_t* handle(H* h) { return reinterpret_cast<uv_handle_t*>(h); }

struct Conn {
  struct Hooks { // the Driver's transport
    Conn& c;
    IoResult read(std::span<char> in) { return sock::read(c.fd, in); }
    IoResult write(std::string_view out) { return sock::write(c.fd, out); }
    void want_read(bool on) { c.poll_for(UV_READABLE, on); }
    void want_write(bool on) { c.poll_for(UV_WRITABLE, on); }
    void arm_timer(std::optional<Clock::time_point> at);
    void close();
  };
  Conn(Server& s, int socket, const std::string& peer);
  void poll_for(int flag, bool on);

  Server& server;
  int fd;
  int events = 0;
  uv_poll_t poll;
  std::uint64_t id = 0;
  sock::Deadline deadline;
  Hooks hooks{*this};
  Driver<Hooks> driver;
};

struct Server : sock::ServerCore<Conn> {
  Server(uv_loop_t* l, Router& r, sock::Listener lis);
  void begin_close();
  void close_when_empty(); // the handles connections need, once none is left
  void start_timer(Clock::time_point at);
  void release(); // one of our handles (or a connection) is gone

  uv_loop_t* loop;
  sock::Listener listener;
  uv_poll_t accepting;
  uv_timer_t pause; // out of descriptors: accept again after it
  uv_timer_t timer; // the connections' deadlines
  uv_async_t async; // wakes from other threads (Acks, claims, close())
  // Wakes and posts from the loop thread itself (an Ack completed by a job the
  // handler posted, as the CLI's stdout batch does) are taken at the end of
  // the same turn, without the eventfd round trip of uv_async_send: `turn_end`
  // runs them, `no_block` keeps the poll from blocking before it does (a wake
  // from a timer callback comes before the poll phase).
  uv_check_t turn_end;
  uv_idle_t no_block;
  std::shared_ptr<WakeQueue> wakes;
  std::vector<std::uint64_t> woken;
  std::vector<std::function<void()>> tasks; // posted jobs
  int handles = 6; // accepting, pause, timer, async, turn_end, no_block, and every Conn until freed

  void notify();     // WakeQueue's: something was queued
  bool take_wakes(); // loop thread: runs what was queued; false if nothing was
};

// The server whose callback this thread runs now, if any: what that callback
// wakes or posts takes the end-of-turn path. (Not a thread id kept from the
// first callback: a user's loop may be run by other threads over time.)
thread_local const Server* in_callback = nullptr;
struct InCallback {
  const Server* outer;
  explicit InCallback(const Server& s) : outer(std::exchange(in_callback, &s)) {}
  ~InCallback() { in_callback = outer; }
  InCallback(const InCallback&) = delete;
  InCallback& operator=(const InCallback&) = delete;
};

void on_poll(uv_poll_t* h, int status, int events) {
  Conn& c = *static_cast<Conn*>(h->data);
  const InCallback in(c.server);
  const Now now = Now::current();
  if (status < 0)
    return c.driver.close();
  if (events & UV_READABLE)
    c.driver.on_readable(now, c.server.scratch());
  if ((events & UV_WRITABLE) && !c.driver.closed())
    c.driver.on_writable(now);
}

Conn::Conn(Server& s, int socket, const std::string& peer)
    : server(s), fd(socket), driver(s.router, hooks, Now::current(), &s.workspace) {
  uv_poll_init_socket(s.loop, &poll, fd);
  poll.data = this;
  id = s.conns.add(this);
  ++s.handles;
  driver.connection().set_peer(peer);
  // The queue outlives every connection (the server frees it after the last
  // one), and the core never calls a connection's waker after its end: a raw
  // pointer keeps the function small enough to hold no allocation.
  driver.connection().set_waker([q = s.wakes.get(), i = id] { q->wake(i); });
}

void Conn::Hooks::arm_timer(std::optional<Clock::time_point> at) {
  if (const auto first = c.server.arm(c, at))
    c.server.start_timer(*first);
}

void Server::start_timer(Clock::time_point at) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(at - Clock::now()).count();
  uv_timer_start(
      &timer,
      [](uv_timer_t* t) {
        Server& s = *static_cast<Server*>(t->data);
        const InCallback in(s);
        if (const auto next = s.fire([](Conn& c, Now now) { c.driver.on_timer(now); }))
          s.start_timer(*next);
      },
      static_cast<std::uint64_t>(std::max<decltype(ms)>(ms, 0)), 0);
}

void Conn::poll_for(int flag, bool on) {
  events = on ? events | flag : events & ~flag;
  if (events)
    uv_poll_start(&poll, events, on_poll);
  else
    uv_poll_stop(&poll);
}

void Conn::Hooks::close() {
  c.server.forget(c);
  uv_close(handle(&c.poll), [](uv_handle_t* h) { // stops polling now: the descriptor may go
    auto* conn = static_cast<Conn*>(h->data);
    Server& s = conn->server;
    delete conn;
    s.release();
  });
  sock::close(c.fd);
  if (c.server.stopping)
    c.server.close_when_empty();
}

void on_accept(uv_poll_t* h, int status, int) {
  Server& s = *static_cast<Server*>(h->data);
  const InCallback in(s);
  if (status < 0 || s.stopping)
    return;
  const bool more = s.accept_pending(
      s.listener.fd, [&s](int fd, const std::string& peer) { (new Conn(s, fd, peer))->driver.start(Now::current()); });
  if (!more) {
    uv_poll_stop(&s.accepting);
    uv_timer_start(
        &s.pause,
        [](uv_timer_t* t) {
          if (auto* srv = static_cast<Server*>(t->data); !srv->stopping)
            uv_poll_start(&srv->accepting, UV_READABLE, on_accept);
        },
        100, 0);
  }
}

Server::Server(uv_loop_t* l, Router& r, sock::Listener lis) : ServerCore(r), loop(l), listener(std::move(lis)) {
  uv_poll_init_socket(loop, &accepting, listener.fd);
  uv_timer_init(loop, &pause);
  uv_timer_init(loop, &timer);
  uv_async_init(loop, &async, [](uv_async_t* a) {
    Server& s = *static_cast<Server*>(a->data);
    const InCallback in(s);
    s.take_wakes();
  });
  uv_check_init(loop, &turn_end);
  uv_idle_init(loop, &no_block);
  accepting.data = pause.data = timer.data = async.data = turn_end.data = no_block.data = this;
  wakes = std::make_shared<WakeQueue>([this] { notify(); });
  uv_poll_start(&accepting, UV_READABLE, on_accept);
}

void Server::notify() {
  if (in_callback != this)
    return (void)uv_async_send(&async);
  uv_check_start(&turn_end, [](uv_check_t* h) {
    Server& s = *static_cast<Server*>(h->data);
    const InCallback in(s);
    // What the jobs run here wake (their Acks) is taken in the next round; a
    // bound keeps a job that keeps posting from holding the loop.
    for (int round = 0; round < 16; ++round) {
      uv_check_stop(&s.turn_end);
      uv_idle_stop(&s.no_block);
      if (!s.take_wakes())
        return;
    }
  });
  uv_idle_start(&no_block, [](uv_idle_t*) {});
}

bool Server::take_wakes() {
  const bool close = wakes->drain(woken, &tasks);
  const bool any = close || !woken.empty() || !tasks.empty();
  const Now now = Now::current();
  for (std::uint64_t id : woken)
    if (Conn* c = conns.find(id)) // closed meanwhile: nothing to do
      c->driver.on_wake(now);
  for (auto& task : tasks) // a task posting more queues it in `wakes`, not here
    sock::run_contained(task);
  tasks.clear(); // its capacity goes back to the queue at the next drain
  if (close)
    begin_close();
  return any;
}

void Server::release() {
  if (--handles > 0)
    return;
  closed_check(); // nothing of ours is left on the loop
  delete this;
}

void Server::begin_close() {
  if (uv_is_closing(handle(&accepting)))
    return;
  auto released = [](uv_handle_t* h) { static_cast<Server*>(h->data)->release(); };
  uv_close(handle(&accepting), released);
  uv_close(handle(&pause), released);
  sock::close(listener.fd);
  shutdown_all();
  close_when_empty();
}

void Server::close_when_empty() {
  if (!conns.empty() || uv_is_closing(handle(&async)))
    return;
  auto released = [](uv_handle_t* h) { static_cast<Server*>(h->data)->release(); };
  wakes->close(); // late wakes send nothing to a closing handle
  uv_close(handle(&async), released);
  uv_close(handle(&turn_end), released);
  uv_close(handle(&no_block), released);
  uv_close(handle(&timer), released);
}

} // namespace

struct WebhookManager::Impl {
  uv_loop_t* loop = nullptr;
  uv_loop_t own{};
  bool owns = false;
  sock::OwnedThread thread;
  std::mutex m;                     // guards wakes and server against close() from other threads
  std::shared_ptr<WakeQueue> wakes; // the running server's
  Server* server = nullptr;         // touched on the loop thread (or with the loop stopped) only

  /// listen() and adopt(): `open` makes the listening socket (throwing, it leaves nothing behind).
  template <class Open> Bound serve(WebhookManager& self, Open&& open);
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
    s->begin_close();
    s->close_all();
  }
}

template <class Open> WebhookManager::Bound WebhookManager::Impl::serve(WebhookManager& self, Open&& open) {
  if (owns)
    thread.join_ended([l = loop] { uv_loop_close(l); });
  sock::Listener l = open();
  Bound bound{l.port, l.address};
  if (owns)
    uv_loop_init(loop = &own);
  auto* s = new Server(loop, self.router(), std::move(l));
  s->on_closed = [this, &self] {
    {
      std::lock_guard lock(m);
      server = nullptr;
      wakes = nullptr;
    }
    self.stopped();
  };
  {
    std::lock_guard lock(m);
    server = s;
    wakes = s->wakes;
  }
  if (owns)
    thread.start([l = loop] { uv_run(l, UV_RUN_DEFAULT); });
  return bound;
}

WebhookManager::Bound WebhookManager::listen(std::uint16_t port, const std::string& host) {
  return impl_->serve(*this, [&] { return sock::listen(host, port); });
}

WebhookManager::Bound WebhookManager::adopt(int fd) {
  return impl_->serve(*this, [fd] { return sock::adopt(fd); });
}

bool WebhookManager::post_to_loop(std::function<void()> task) {
  std::lock_guard lock(impl_->m);
  return impl_->wakes && impl_->wakes->post(std::move(task));
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
  impl_->thread.join_unless_self(
      [l = impl_->loop] { uv_loop_close(l); }); // the loop ends once every handle of ours closed
}

} // namespace topgg::uv
