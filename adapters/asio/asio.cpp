// Asio glue: the Driver's hooks on socket readiness waits and a steady_timer
// per connection, accept, and the owned context. Every handler keeps its
// connection alive with shared_from_this(), runs on the server's strand, and
// holds the server's mutex, so a destructor on another thread is serialised
// with them. The socket calls themselves are common/socket.cpp's.
#include "topgg/asio.hpp"

#include <asio/bind_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <signal.h>

#include <cerrno>
#include <mutex>
#include <thread>

#include "../common/socket.hpp"

namespace topgg::asio {
namespace {

namespace net = ::asio;
using tcp = net::ip::tcp;

constexpr std::size_t read_buffer_size = 64 * 1024;        // one per server
constexpr std::chrono::milliseconds accept_pause{100};      // out of descriptors: the connection stays queued

struct Server;

struct Conn : std::enable_shared_from_this<Conn> {
  struct Hooks { // the Driver's transport
    Conn& c;
    IoResult read(std::span<char> in) { return sock::read(c.sock.native_handle(), in); }
    IoResult write(std::string_view out) { return sock::write(c.sock.native_handle(), out); }
    void want_read(bool on) { c.read_wanted = on; }
    void want_write(bool on) { c.write_wanted = on; }
    void arm_timer(std::optional<Clock::time_point> at);
    void close();
  };
  Conn(std::shared_ptr<Server> s, tcp::socket so);
  void rearm(); // starts the readiness waits the driver asked for

  std::shared_ptr<Server> server;
  tcp::socket sock;
  net::steady_timer timer;
  std::uint64_t id = 0, timer_gen = 0;
  bool read_wanted = false, write_wanted = false, read_waiting = false, write_waiting = false;
  Hooks hooks{*this};
  Driver<Hooks> driver;
};

struct Server : std::enable_shared_from_this<Server> {
  Server(const net::any_io_executor& ex, Router& r) : strand(net::make_strand(ex)), acceptor(strand), pause(strand), router(r) {}
  void accept();
  void accept_ready();
  void begin_close();
  void abort();
  void check_closed();

  std::mutex m; // held by every handler (uncontended on the strand) and by the destructor's abort()
  net::strand<net::any_io_executor> strand;
  tcp::acceptor acceptor;
  net::steady_timer pause;
  Router& router;
  Workspace workspace;
  ConnectionSet<Conn, std::shared_ptr<Conn>> conns{1024}; // its references keep open connections alive
  std::function<void()> on_closed;
  bool stopping = false;
  std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_buffer_size);
};

Conn::Conn(std::shared_ptr<Server> s, tcp::socket so)
    : server(std::move(s)), sock(std::move(so)), timer(server->strand),
      driver(server->router, hooks, Now::current(), &server->workspace) {}

void Conn::rearm() {
  if (driver.closed())
    return;
  auto wait = [this](tcp::socket::wait_type type, bool& waiting) {
    waiting = true;
    sock.async_wait(type, net::bind_executor(server->strand, [self = shared_from_this(), type](std::error_code ec) {
      std::lock_guard lock(self->server->m);
      (type == tcp::socket::wait_read ? self->read_waiting : self->write_waiting) = false;
      if (ec || self->driver.closed())
        return;
      const Now now = Now::current();
      if (type == tcp::socket::wait_read && self->read_wanted)
        self->driver.on_readable(now, {self->server->buf.get(), read_buffer_size});
      else if (type == tcp::socket::wait_write && self->write_wanted)
        self->driver.on_writable(now);
      self->rearm();
    }));
  };
  if (read_wanted && !read_waiting)
    wait(tcp::socket::wait_read, read_waiting);
  if (write_wanted && !write_waiting)
    wait(tcp::socket::wait_write, write_waiting);
}

void Conn::Hooks::arm_timer(std::optional<Clock::time_point> at) {
  const std::uint64_t gen = ++c.timer_gen; // a wait superseded before it fired does nothing
  if (!at)
    return void(c.timer.cancel());
  c.timer.expires_at(*at);
  c.timer.async_wait([self = c.shared_from_this(), gen](std::error_code ec) {
    std::lock_guard lock(self->server->m);
    if (ec || gen != self->timer_gen || self->driver.closed())
      return;
    self->driver.on_timer(Now::current());
    self->rearm();
  });
}

void Conn::Hooks::close() {
  const auto keep = c.shared_from_this(); // alive until this returns, whoever held it
  std::error_code ec;
  c.sock.close(ec); // pending waits complete with operation_aborted
  c.timer.cancel();
  Server& s = *c.server;
  s.conns.remove(c.id);
  s.check_closed();
}

void Server::accept() {
  acceptor.async_wait(tcp::acceptor::wait_read, [self = shared_from_this()](std::error_code ec) {
    std::lock_guard lock(self->m);
    if (!ec && !self->stopping)
      self->accept_ready();
  });
}

void Server::accept_ready() {
  conns.set_cap(router.settings().max_connections);
  const auto protocol = acceptor.local_endpoint().protocol();
  for (int i = 0; i < 64; ++i) { // a burst at a time, so the strand's other work goes on
    std::string peer;
    const int fd = sock::accept(acceptor.native_handle(), peer);
    if (fd < 0) {
      if (!sock::out_of_resources(errno))
        return accept(); // EAGAIN: wait for the next one
      pause.expires_after(accept_pause);
      return pause.async_wait([self = shared_from_this()](std::error_code e) {
        std::lock_guard lock(self->m);
        if (!e && !self->stopping)
          self->accept();
      });
    }
    if (conns.full()) {
      sock::close(fd); // accepted and closed at once: over the cap
      continue;
    }
    tcp::socket so(strand);
    std::error_code ec;
    so.assign(protocol, fd, ec);
    if (ec) {
      sock::close(fd);
      continue;
    }
    auto c = std::make_shared<Conn>(shared_from_this(), std::move(so));
    c->id = conns.add(c);
    c->driver.connection().set_peer(peer);
    // Runs on the completing thread with the connection's wake lock held: it
    // only posts, and holds the connection weakly (its last reference must
    // never be dropped here).
    c->driver.connection().set_waker([w = c->weak_from_this(), st = strand] {
      net::post(st, [w] {
        if (auto k = w.lock()) {
          std::lock_guard lock(k->server->m);
          if (k->driver.closed())
            return;
          k->driver.on_wake(Now::current());
          k->rearm();
        }
      });
    });
    c->driver.start(Now::current());
    c->rearm();
  }
  accept();
}

void Server::check_closed() {
  if (stopping && conns.empty() && on_closed)
    std::exchange(on_closed, nullptr)();
}

void Server::begin_close() {
  if (stopping)
    return;
  stopping = true;
  std::error_code ec;
  acceptor.close(ec);
  pause.cancel();
  const Now now = Now::current();
  conns.each([now](Conn& c) {
    c.driver.shutdown(now);
    c.rearm();
  });
  check_closed();
}

// Immediate stop: every connection closed now, nothing of the user's called later.
void Server::abort() {
  begin_close();
  conns.each([](Conn& c) { c.driver.close(); });
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
  s->abort();
}

WebhookManager::Bound WebhookManager::listen(std::uint16_t port, const std::string& host) {
  sock::Listener l = sock::listen(host, port); // throws, leaving nothing behind
  Bound bound{l.port, l.address};
  auto s = std::make_shared<Server>(impl_->ex, router());
  std::error_code ec;
  s->acceptor.assign(l.address.front() == '[' ? tcp::v6() : tcp::v4(), l.fd, ec);
  if (ec) {
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
  net::post(s->strand, [s] {
    std::lock_guard lock(s->m);
    s->accept();
  });
  if (impl_->own) {
    impl_->own->restart();
    impl_->thread = std::thread([ctx = impl_->own.get()] {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr); // sends use MSG_NOSIGNAL; this covers anything else
      ctx->run();
    });
  }
  return bound;
}

void WebhookManager::stop() {
  std::shared_ptr<Server> s;
  {
    std::lock_guard lock(impl_->m);
    s = impl_->server;
  }
  if (s)
    net::post(s->strand, [s] {
      std::lock_guard lock(s->m);
      s->begin_close();
    });
  if (!impl_->own)
    return;
  std::lock_guard lock(impl_->join_m);
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

} // namespace topgg::asio
