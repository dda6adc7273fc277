// Asio glue: the Driver's hooks on socket readiness waits and one
// steady_timer for every connection's deadline (common/deadlines.hpp), and
// the owned context. Socket calls, accept and close fan-out are common/'s.
// Every handler keeps its connection alive and holds the server's mutex, so
// handlers never overlap, on a context of any number of threads, and a
// destructor on another thread is serialised with them. A handler drops its
// connection while it still holds the mutex: the connection's destructor gives
// buffers back to the server's pools, which the other threads use under it.
// (No strand: the mutex already orders them, and a strand costs a queue hop
// per handler.)
#include "topgg/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <mutex>

#include "../common/server.hpp"

namespace topgg::asio {
namespace {

namespace net = ::asio;
using tcp = net::ip::tcp;
struct Server;

struct Conn : std::enable_shared_from_this<Conn> {
  struct Hooks { // the Driver's transport
    Conn& c;
    IoResult read(std::span<char> in) { return sock::read(c.sock.native_handle(), in); }
    IoResult write(std::string_view out) { return sock::write(c.sock.native_handle(), out); }
    void want_read(bool on) { c.wanted[0] = on; }
    void want_write(bool on) { c.wanted[1] = on; }
    void arm_timer(std::optional<Clock::time_point> at);
    void close();
  };
  Conn(std::shared_ptr<Server> s, tcp::socket so);
  void rearm(); // starts the readiness waits the driver asked for

  std::shared_ptr<Server> server;
  tcp::socket sock;
  std::uint64_t id = 0;
  sock::Deadline deadline;
  bool wanted[2] = {}, waiting[2] = {}; // [0] readable, [1] writable
  Hooks hooks{*this};
  Driver<Hooks> driver;
};

struct Server : sock::ServerCore<Conn, std::shared_ptr<Conn>>, std::enable_shared_from_this<Server> {
  Server(const net::any_io_executor& e, Router& r) : ServerCore(r), ex(e), acceptor(e), timer(e) {}
  void accept();
  void begin_close();
  void start_timer(Clock::time_point at);
  void check_closed() { // once closing has left nothing open, no wait may hold the server
    if (stopping && conns.empty())
      timer.cancel();
    closed_check();
  }
  /// Runs `f` on the context, with the mutex, while `weak` lives (and so this
  /// server: a connection holds its server). `f` is destroyed after the
  /// unlock: it must not own a connection.
  template <class T, class F> void later(std::weak_ptr<T> weak, F f) {
    net::post(ex, [this, weak = std::move(weak), f = std::move(f)] {
      if (auto t = weak.lock()) {
        std::lock_guard lock(m);
        f(*t);
      }
    });
  }

  std::mutex m;
  net::any_io_executor ex;
  tcp::acceptor acceptor;
  net::steady_timer timer; // the connections' deadlines
};

Conn::Conn(std::shared_ptr<Server> s, tcp::socket so)
    : server(std::move(s)), sock(std::move(so)), driver(server->router, hooks, Now::current(), &server->workspace) {}

void Conn::rearm() {
  for (int i = 0; i < 2; ++i) {
    if (driver.closed() || !wanted[i] || waiting[i])
      continue;
    waiting[i] = true;
    const auto type = i == 0 ? tcp::socket::wait_read : tcp::socket::wait_write;
    // Either reference may be the last: the connection's is released before
    // the unlock, the server's (it owns the mutex) after it.
    sock.async_wait(type, [self = shared_from_this(), i](std::error_code ec) mutable {
      const std::shared_ptr<Server> server = self->server;
      std::lock_guard lock(server->m);
      const std::shared_ptr<Conn> c = std::move(self);
      c->waiting[i] = false;
      if (ec || c->driver.closed() || !c->wanted[i])
        return;
      if (i == 0)
        c->driver.on_readable(Now::current(), server->scratch());
      else
        c->driver.on_writable(Now::current());
      c->rearm();
    });
  }
}

void Conn::Hooks::arm_timer(std::optional<Clock::time_point> at) {
  if (const auto first = c.server->arm(c, at))
    c.server->start_timer(*first);
}

// Re-arming cancels the wait before: its handler sees operation_aborted. A
// handler already due runs fire() once more, which finds nothing due: harmless.
void Server::start_timer(Clock::time_point at) {
  timer.expires_at(at);
  timer.async_wait([self = shared_from_this()](std::error_code ec) {
    std::lock_guard lock(self->m);
    if (ec)
      return;
    const auto next = self->fire([](Conn& c, Now now) {
      const auto keep = c.shared_from_this(); // on_timer may close it: the set's reference goes
      c.driver.on_timer(now);
      c.rearm();
    });
    if (next)
      self->start_timer(*next);
  });
}

void Conn::Hooks::close() {
  const auto keep = c.shared_from_this(); // alive until this returns, whoever held it
  std::error_code ec;
  c.sock.close(ec); // pending waits complete with operation_aborted
  c.server->forget(c);
  c.server->check_closed();
}

void Server::accept() {
  acceptor.async_wait(tcp::acceptor::wait_read, [self = shared_from_this()](std::error_code ec) {
    std::lock_guard lock(self->m);
    if (ec || self->stopping)
      return;
    const auto protocol = self->acceptor.local_endpoint().protocol();
    const bool more = self->accept_pending(self->acceptor.native_handle(), [&](int fd, const std::string& peer) {
      tcp::socket so(self->ex);
      std::error_code e;
      if (so.assign(protocol, fd, e); e)
        return sock::close(fd);
      auto c = std::make_shared<Conn>(self, std::move(so));
      c->id = self->conns.add(c);
      c->driver.connection().set_peer(peer);
      // Runs on the completing thread with the connection's wake lock held:
      // it only posts. The connection is found again by id on the loop
      // (closed meanwhile: nothing to do), so the function holds no
      // allocation; the server outlives its connections' wakers.
      c->driver.connection().set_waker([s = self.get(), id = c->id] {
        s->later(std::weak_ptr<Server>(s->weak_from_this()), [id](Server& srv) {
          if (Conn* k = srv.conns.find(id); k && !k->driver.closed()) {
            const auto keep = k->shared_from_this(); // on_wake may close it: the set's reference goes
            k->driver.on_wake(Now::current());
            k->rearm();
          }
        });
      });
      c->driver.start(Now::current());
      c->rearm();
    });
    if (more)
      return self->accept();
    auto pause = std::make_shared<net::steady_timer>(self->ex, std::chrono::milliseconds(100)); // out of descriptors
    pause->async_wait([self, pause](std::error_code) {
      std::lock_guard lock(self->m);
      if (!self->stopping)
        self->accept();
    });
  });
}

void Server::begin_close() {
  if (stopping)
    return;
  std::error_code ec;
  acceptor.close(ec);
  shutdown_all();
  conns.each([](Conn& c) { c.rearm(); });
  check_closed();
}

} // namespace

struct WebhookManager::Impl {
  std::unique_ptr<net::io_context> own; // declared before server: destroyed after it
  net::any_io_executor ex;
  std::shared_ptr<Server> server;
  sock::OwnedThread thread;
  std::mutex m;

  /// listen() and adopt(): `open` makes the listening socket (throwing, it leaves nothing behind).
  template <class Open> Bound serve(WebhookManager& self, Open&& open);
};

WebhookManager::WebhookManager() : impl_(std::make_unique<Impl>()) {
  impl_->own = std::make_unique<net::io_context>(1);
  impl_->ex = impl_->own->get_executor();
}
WebhookManager::WebhookManager(net::io_context& ctx) : WebhookManager(ctx.get_executor()) {}
WebhookManager::WebhookManager(net::any_io_executor ex) : impl_(std::make_unique<Impl>()) { impl_->ex = std::move(ex); }

WebhookManager::~WebhookManager() {
  close();
  std::shared_ptr<Server> s;
  {
    std::lock_guard lock(impl_->m);
    s = std::move(impl_->server);
  }
  if (!s)
    return;
  std::lock_guard lock(s->m); // serialised with handlers running on other threads
  s->on_closed = nullptr;
  s->begin_close();
  s->close_all();
}

template <class Open> WebhookManager::Bound WebhookManager::Impl::serve(WebhookManager& self, Open&& open) {
  if (own)
    thread.join_ended([] {}); // before anything is posted: the ending run() would take it
  sock::Listener l = open();
  auto s = std::make_shared<Server>(ex, self.router());
  std::error_code ec;
  if (s->acceptor.assign(l.address.front() == '[' ? tcp::v6() : tcp::v4(), l.fd, ec); ec) {
    if (!l.adopted) // an adopted descriptor stays the caller's
      sock::close(l.fd);
    throw std::system_error(ec, "cannot listen on " + l.address);
  }
  s->on_closed = [this, &self] {
    {
      std::lock_guard lock(m);
      server = nullptr;
    }
    self.stopped();
  };
  {
    std::lock_guard lock(m);
    server = s;
  }
  s->later(std::weak_ptr<Server>(s), [](Server& srv) { srv.accept(); });
  if (own) {
    own->restart();
    thread.start([ctx = own.get()] { ctx->run(); });
  }
  return {l.port, l.address};
}

WebhookManager::Bound WebhookManager::listen(std::uint16_t port, const std::string& host) {
  return impl_->serve(*this, [&] { return sock::listen(host, port); });
}

WebhookManager::Bound WebhookManager::adopt(int fd) {
  return impl_->serve(*this, [fd] { return sock::adopt(fd); });
}

bool WebhookManager::post_to_loop(std::function<void()> task) {
  std::lock_guard lock(impl_->m);
  if (!impl_->server)
    return false;
  impl_->server->later(std::weak_ptr<Server>(impl_->server),
                       [task = std::move(task)](Server&) { sock::run_contained(task); });
  return true;
}

void WebhookManager::stop() {
  std::shared_ptr<Server> s;
  {
    std::lock_guard lock(impl_->m);
    s = impl_->server;
  }
  if (s)
    s->later(std::weak_ptr<Server>(s), [](Server& srv) { srv.begin_close(); });
  if (!impl_->own)
    return;
  impl_->thread.join_unless_self([] {});
}

} // namespace topgg::asio
