// Asio glue: the Driver's hooks on one epoll set per server, waited on with
// one async_wait per batch of ready sockets (common/poller.hpp says why), one
// steady_timer for every connection's deadline (common/deadlines.hpp), and
// the owned context. Socket calls, accept and close fan-out are common/'s.
// Every handler holds the server's mutex, so handlers never overlap, on a
// context of any number of threads, and a destructor on another thread is
// serialised with them. (No strand: the mutex already orders them, and a
// strand costs a queue hop per handler.)
#include "topgg/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <fcntl.h>

#include <mutex>

#include "../common/poller.hpp"
#include "../common/server.hpp"

namespace topgg::asio {
namespace {

namespace net = ::asio;
using tcp = net::ip::tcp;
struct Server;

struct Conn : std::enable_shared_from_this<Conn> {
  struct Hooks { // the Driver's transport
    Conn& c;
    IoResult read(std::span<char> in) { return sock::read(c.fd, in); }
    IoResult write(std::string_view out) { return sock::write(c.fd, out); }
    void want_read(bool on) { c.watch({on, c.interest.write}); }
    void want_write(bool on) { c.watch({c.interest.read, on}); }
    void arm_timer(std::optional<Clock::time_point> at);
    void close();
  };
  Conn(std::shared_ptr<Server> s, int socket);
  void watch(sock::Poller::Interest want);

  std::shared_ptr<Server> server;
  int fd;
  sock::Poller::Interest interest;
  std::uint64_t id = 0;
  sock::Deadline deadline;
  Hooks hooks{*this};
  Driver<Hooks> driver;
};

struct Server : sock::ServerCore<Conn, std::shared_ptr<Conn>>, std::enable_shared_from_this<Server> {
  Server(const net::any_io_executor& e, Router& r)
      : ServerCore(r), ex(e), acceptor(e), timer(e), ready(e, ::fcntl(poller.fd(), F_DUPFD_CLOEXEC, 0)) {}
  void accept();
  void begin_close();
  void start_timer(Clock::time_point at);
  void await_ready();
  void check_closed() { // once closing has left nothing open, no wait may hold the server
    if (stopping && conns.empty()) {
      timer.cancel();
      std::error_code ec;
      ready.cancel(ec);
    }
    closed_check();
  }
  /// Runs `f` on the context, with the mutex, while `weak` lives (and so this
  /// server: a connection holds its server).
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
  sock::Poller poller;     // the connections' sockets (declared before `ready`, which waits on a copy of it)
  net::posix::stream_descriptor ready;
  bool awaiting = false;
};

Conn::Conn(std::shared_ptr<Server> s, int socket)
    : server(std::move(s)), fd(socket), driver(server->router, hooks, Now::current(), &server->workspace) {}

// Only on a change (the driver says). Should the kernel refuse (no memory for
// the watch), the connection is never woken and its timeout closes it.
void Conn::watch(sock::Poller::Interest want) {
  server->poller.watch(fd, id, interest, want);
  if (interest.added)
    server->await_ready();
}

// One wait for every socket of the server; each time it fires, the sockets
// ready then are served (up to a batch: the context's other work goes on).
void Server::await_ready() {
  if (awaiting)
    return;
  awaiting = true;
  ready.async_wait(net::posix::stream_descriptor::wait_read, [self = shared_from_this()](std::error_code ec) {
    std::lock_guard lock(self->m);
    self->awaiting = false;
    if (ec)
      return;
    sock::Poller::Ready batch[64];
    const int n = self->poller.ready(batch, 64);
    const Now now = Now::current();
    for (int i = 0; i < n; ++i) {
      Conn* c = self->conns.find(batch[i].id);
      if (!c) // closed by an earlier one of this batch
        continue;
      const auto keep = c->shared_from_this(); // a handler may close it: the set's reference goes
      if (batch[i].failed)
        c->driver.close();
      if (batch[i].readable && !c->driver.closed())
        c->driver.on_readable(now, self->scratch());
      if (batch[i].writable && !c->driver.closed())
        c->driver.on_writable(now);
    }
    if (!self->conns.empty())
      self->await_ready();
  });
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
    });
    if (next)
      self->start_timer(*next);
  });
}

void Conn::Hooks::close() {
  const auto keep = c.shared_from_this(); // alive until this returns, whoever held it
  c.server->poller.watch(c.fd, c.id, c.interest, {});
  sock::close(c.fd);
  c.server->deadlines.remove(c);
  c.server->conns.remove(c.id);
  c.server->check_closed();
}

void Server::accept() {
  acceptor.async_wait(tcp::acceptor::wait_read, [self = shared_from_this()](std::error_code ec) {
    std::lock_guard lock(self->m);
    if (ec || self->stopping)
      return;
    const bool more = self->accept_pending(self->acceptor.native_handle(), [&](int fd, const std::string& peer) {
      auto c = std::make_shared<Conn>(self, fd);
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
          }
        });
      });
      c->driver.start(Now::current());
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
  check_closed();
}

} // namespace

struct WebhookManager::Impl {
  std::unique_ptr<net::io_context> own; // declared before server: destroyed after it
  net::any_io_executor ex;
  std::shared_ptr<Server> server;
  std::thread thread;
  std::mutex m, join_m;
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

WebhookManager::Bound WebhookManager::listen(std::uint16_t port, const std::string& host) {
  sock::Listener l = sock::listen(host, port); // throws, leaving nothing behind
  auto s = std::make_shared<Server>(impl_->ex, router());
  std::error_code ec;
  if (s->acceptor.assign(l.address.front() == '[' ? tcp::v6() : tcp::v4(), l.fd, ec); ec) {
    sock::close(l.fd);
    throw std::system_error(ec, "cannot listen on " + l.address);
  }
  s->on_closed = [this] {
    {
      std::lock_guard lock(impl_->m);
      impl_->server = nullptr;
    }
    stopped();
  };
  {
    std::lock_guard lock(impl_->m);
    impl_->server = s;
  }
  s->later(std::weak_ptr<Server>(s), [](Server& srv) { srv.accept(); });
  if (impl_->own) {
    impl_->own->restart();
    impl_->thread = sock::loop_thread([ctx = impl_->own.get()] { ctx->run(); });
  }
  return {l.port, l.address};
}

bool WebhookManager::post_to_loop(std::function<void()> task) {
  std::lock_guard lock(impl_->m);
  if (!impl_->server)
    return false;
  impl_->server->later(std::weak_ptr<Server>(impl_->server), [task = std::move(task)](Server&) { sock::run_contained(task); });
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
  std::lock_guard lock(impl_->join_m);
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

} // namespace topgg::asio
