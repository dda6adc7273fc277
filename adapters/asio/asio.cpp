// Asio glue: accept, read into the core, write what it produced, keep one
// timer per connection at the core's deadline, close. Every handler keeps its
// connection alive with shared_from_this() and runs on the server's strand.
#include "topgg/asio.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "topgg/connection.hpp"

namespace topgg::asio {
namespace {

namespace net = ::asio;
using tcp = net::ip::tcp;
using Strand = net::strand<net::any_io_executor>;

// One read buffer per server: connections wait for readability and then read
// without blocking into it (all on one strand); the core copies whatever it
// cannot use at once, so an idle connection holds no buffer.
constexpr std::size_t read_buffer_size = 64 * 1024;
// After EMFILE/ENFILE the pending connection stays in the backlog: accepting
// again at once would spin.
constexpr std::chrono::milliseconds accept_pause{100};

struct Server;

struct Conn : std::enable_shared_from_this<Conn> {
  Conn(std::shared_ptr<Server> s, tcp::socket&& so, std::uint64_t i);
  void start();
  void settle();
  void on_readable(std::error_code ec);
  void on_write(std::error_code ec);
  void on_timer();
  void wake();
  void close();

  std::shared_ptr<Server> server;
  tcp::socket sock;
  net::steady_timer timer;
  std::unique_ptr<Connection> core; // reset when closing: the core is never called after that
  std::string pending;              // output being written asynchronously, still counted by the core
  std::optional<Clock::time_point> armed;
  std::uint64_t id;
  bool reading = false, writing = false, eof = false, closed = false;
};

struct Server : std::enable_shared_from_this<Server> {
  Server(const net::any_io_executor& ex, Router& r)
      : strand(net::make_strand(ex)), acceptor(strand), pause(strand), router(&r) {}
  void accept();
  void on_accept(std::error_code ec, tcp::socket so);
  void begin_close();
  void abort();

  Strand strand;
  tcp::acceptor acceptor;
  net::steady_timer pause;
  Router* router;
  std::unordered_map<std::uint64_t, std::shared_ptr<Conn>> conns; // open ones
  std::uint64_t next_id = 1;
  bool stopping = false;
  std::unique_ptr<char[]> buf = std::make_unique<char[]>(read_buffer_size);
};

Conn::Conn(std::shared_ptr<Server> s, tcp::socket&& so, std::uint64_t i)
    : server(std::move(s)), sock(std::move(so)), timer(server->strand), id(i) {}

void Conn::start() {
  std::error_code ec;
  sock.non_blocking(true, ec);
  if (!ec)
    sock.set_option(tcp::no_delay(true), ec);
  if (ec)
    return close();
  core = std::make_unique<Connection>(*server->router, Now::current());
  core->set_waker([w = weak_from_this(), strand = server->strand] {
    net::post(strand, [w] {
      if (auto c = w.lock())
        c->wake();
    });
  });
  settle();
}

// After every call into the core: write, start reading, close, re-arm the timer.
void Conn::settle() {
  Connection& k = *core;
  while (!writing) {
    const std::string_view out = k.output();
    if (out.empty())
      break;
    std::error_code ec;
    std::size_t n = sock.write_some(net::buffer(out.data(), out.size()), ec);
    if (ec == net::error::would_block || ec == net::error::try_again)
      n = 0;
    else if (ec)
      return close();
    if (n < out.size()) {
      // The socket is full: copy the rest, since output() moves on later calls.
      pending.assign(out.substr(n));
      k.consume(n);
      writing = true;
      net::async_write(sock, net::buffer(pending),
                       [self = shared_from_this()](std::error_code e, std::size_t) { self->on_write(e); });
      break;
    }
    k.consume(n);
    k.resume(Now::current()); // held input may go on now that output drained
  }
  if (k.finished() && k.output().empty())
    return close();
  // Not wanting to read needs no cancel: a wait that completes reads nothing.
  if (k.want_read() && !eof && !reading) {
    reading = true;
    sock.async_wait(tcp::socket::wait_read, [self = shared_from_this()](std::error_code e) { self->on_readable(e); });
  }
  const auto d = k.deadline();
  if (d == armed)
    return;
  armed = d;
  if (!d) {
    timer.cancel();
    return;
  }
  timer.expires_at(*d);
  timer.async_wait([self = shared_from_this()](std::error_code e) {
    if (!e)
      self->on_timer();
  });
}

void Conn::on_readable(std::error_code ec) {
  reading = false;
  if (closed)
    return;
  if (ec)
    return close();
  if (core->want_read() && !eof) {
    const std::size_t n = sock.read_some(net::buffer(server->buf.get(), read_buffer_size), ec);
    if (ec == net::error::eof) {
      eof = true;
      core->receive_eof(Now::current());
    } else if (ec && ec != net::error::would_block && ec != net::error::try_again) {
      return close(); // ECONNRESET and friends
    } else if (n > 0) {
      core->receive({server->buf.get(), n}, Now::current());
    }
  }
  settle();
}

void Conn::on_write(std::error_code ec) {
  writing = false;
  if (closed)
    return;
  if (ec)
    return close();
  core->consume(pending.size());
  std::string().swap(pending); // idle connections keep no write buffer
  core->resume(Now::current());
  settle();
}

void Conn::on_timer() {
  if (closed)
    return;
  armed.reset();
  core->on_timer(Now::current());
  settle();
}

void Conn::wake() {
  if (closed)
    return;
  core->resume(Now::current());
  settle();
}

void Conn::close() {
  if (closed)
    return;
  closed = true;
  core.reset(); // expires its acks and unhooks the waker
  std::error_code ec;
  sock.close(ec); // pending handlers complete with operation_aborted
  timer.cancel();
  auto s = std::move(server);
  s->conns.erase(id); // may drop the last reference but one: callers hold shared_from_this()
}

void Server::accept() {
  acceptor.async_accept(net::any_io_executor(strand), [self = shared_from_this()](std::error_code ec, tcp::socket so) {
    self->on_accept(ec, std::move(so));
  });
}

void Server::on_accept(std::error_code ec, tcp::socket so) {
  if (stopping)
    return;
  if (ec == net::error::no_descriptors || ec == std::errc::too_many_files_open_in_system ||
      ec == net::error::no_buffer_space || ec == net::error::no_memory) {
    pause.expires_after(accept_pause);
    pause.async_wait([self = shared_from_this()](std::error_code e) {
      if (!e && !self->stopping)
        self->accept();
    });
    return;
  }
  if (!ec) {
    if (conns.size() >= router->limits().max_connections) {
      so.close(ec); // accepted and closed at once: over the cap
    } else {
      const std::uint64_t id = next_id++;
      auto c = std::make_shared<Conn>(shared_from_this(), std::move(so), id);
      conns.emplace(id, c);
      c->start();
    }
  }
  accept(); // ECONNABORTED and friends concern one connection only
}

void Server::begin_close() {
  if (stopping)
    return;
  stopping = true;
  std::error_code ec;
  acceptor.close(ec);
  pause.cancel();
  std::vector<std::shared_ptr<Conn>> open;
  for (auto& [id, c] : conns)
    open.push_back(c);
  const Now now = Now::current();
  for (auto& c : open) {
    if (c->closed)
      continue;
    c->core->shutdown(now);
    c->settle();
  }
}

// Immediate stop: every connection closed now, nothing of the user's called later.
void Server::abort() {
  begin_close();
  while (!conns.empty()) {
    auto c = conns.begin()->second;
    c->close();
  }
}

} // namespace

struct WebhookManager::Impl {
  Router router;
  std::unique_ptr<net::io_context> own; // declared before server: destroyed after it
  net::any_io_executor ex;
  std::shared_ptr<Server> server;
  std::uint16_t port = 0;
  bool started = false;
  std::thread thread;
  std::mutex join_m;

  void join() {
    std::lock_guard lock(join_m);
    if (thread.joinable() && thread.get_id() != std::this_thread::get_id())
      thread.join();
  }
};

WebhookManager::WebhookManager() : impl_(std::make_unique<Impl>()) {
  impl_->own = std::make_unique<net::io_context>(1);
  impl_->ex = impl_->own->get_executor();
}

WebhookManager::WebhookManager(net::io_context& ctx) : WebhookManager(ctx.get_executor()) {}

WebhookManager::WebhookManager(net::any_io_executor ex) : impl_(std::make_unique<Impl>()) { impl_->ex = std::move(ex); }

WebhookManager::~WebhookManager() {
  close();
  if (!impl_->own && impl_->server)
    impl_->server->abort(); // the context is not running our handlers now (see the header)
}

Router& WebhookManager::router() noexcept { return impl_->router; }

std::uint16_t WebhookManager::port() const noexcept { return impl_->port; }

std::uint16_t WebhookManager::run(std::uint16_t port, const std::string& host) {
  if (impl_->started)
    throw std::logic_error("topgg::asio::WebhookManager::run called twice");
  impl_->started = true;
  impl_->router.warn_once();
  auto s = std::make_shared<Server>(impl_->ex, impl_->router);
  try {
    const tcp::endpoint ep(net::ip::make_address(host), port);
    s->acceptor.open(ep.protocol());
    s->acceptor.set_option(tcp::acceptor::reuse_address(true));
    s->acceptor.bind(ep);
    s->acceptor.listen(net::socket_base::max_listen_connections);
    impl_->port = s->acceptor.local_endpoint().port();
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "topgg::asio: cannot listen on " + host + " port " + std::to_string(port));
  }
  impl_->server = s;
  net::post(s->strand, [s] { s->accept(); });
  if (impl_->own)
    impl_->thread = std::thread([ctx = impl_->own.get()] { ctx->run(); });
  return impl_->port;
}

void WebhookManager::close() {
  if (auto s = impl_->server)
    net::post(s->strand, [s] { s->begin_close(); });
  if (impl_->own)
    impl_->join();
}

} // namespace topgg::asio
