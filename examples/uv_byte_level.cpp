// Byte-level embedding: the application owns the libuv loop, the listening
// socket and every connection; topgg::Driver decides, after every event, what
// to write, whether to read, when the timer fires and when to close. Per
// connection the application provides five small hooks (the Transport) and
// forwards four events — readable, writable, timer, wake — nothing else.
// (adapters/uv/uv.cpp is the same thing, with a connection cap and graceful
// close.)
//
//   TOPGG_DBL_AUTH=s3cret ./uv_byte_level 8080
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <vector>

#include <topgg/driver.hpp>

namespace {

struct Client;
uv_loop_t* loop = nullptr;
topgg::Router router;
topgg::ConnectionSet<Client> clients{1024}; // ids for wakes, and the graceful close's fan-out
std::shared_ptr<topgg::WakeQueue> wakes;     // Ack completions from other threads, drained on the loop
char read_buffer[64 * 1024];                 // shared by every connection: the core copies what it keeps

struct Client {
  struct Hooks { // the Transport: non-blocking socket calls, readiness and a timer
    Client& c;
    topgg::IoResult read(std::span<char> in) {
      const ssize_t n = ::recv(c.fd, in.data(), in.size(), 0);
      if (n > 0)
        return {topgg::IoResult::done, static_cast<std::size_t>(n)};
      if (n == 0)
        return {topgg::IoResult::eof, 0};
      return {errno == EAGAIN ? topgg::IoResult::would_block : topgg::IoResult::failed, 0};
    }
    topgg::IoResult write(std::string_view out) {
      const ssize_t n = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL); // no SIGPIPE
      if (n >= 0)
        return {topgg::IoResult::done, static_cast<std::size_t>(n)};
      return {errno == EAGAIN ? topgg::IoResult::would_block : topgg::IoResult::failed, 0};
    }
    void want_read(bool on) { c.poll_for(UV_READABLE, on); }
    void want_write(bool on) { c.poll_for(UV_WRITABLE, on); }
    void arm_timer(std::optional<topgg::Clock::time_point> at);
    void close();
  };

  explicit Client(int socket) : fd(socket), id(clients.add(this)) {
    uv_poll_init_socket(loop, &poll, fd);
    uv_timer_init(loop, &timer);
    poll.data = timer.data = this;
    driver.connection().set_waker([i = id] { wakes->wake(i); });
  }
  void poll_for(int flag, bool on);

  int fd;
  std::uint64_t id;
  uv_poll_t poll;
  uv_timer_t timer;
  int events = 0, open_handles = 2;
  Hooks hooks{*this};
  topgg::Driver<Hooks> driver{router, hooks, topgg::Now::current()};
};

void on_poll(uv_poll_t* p, int status, int events) {
  auto& c = *static_cast<Client*>(p->data);
  if (status < 0)
    return c.driver.close();
  if (events & UV_READABLE)
    c.driver.on_readable(topgg::Now::current(), read_buffer);
  if ((events & UV_WRITABLE) && !c.driver.closed())
    c.driver.on_writable(topgg::Now::current());
}

void Client::poll_for(int flag, bool on) {
  events = on ? events | flag : events & ~flag;
  events ? uv_poll_start(&poll, events, on_poll) : uv_poll_stop(&poll);
}

void Client::Hooks::arm_timer(std::optional<topgg::Clock::time_point> at) {
  if (!at)
    return void(uv_timer_stop(&c.timer));
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*at - topgg::Clock::now()).count();
  uv_timer_start(&c.timer, [](uv_timer_t* t) { static_cast<Client*>(t->data)->driver.on_timer(topgg::Now::current()); },
                 static_cast<std::uint64_t>(ms > 0 ? ms : 0), 0);
}

void Client::Hooks::close() {
  clients.remove(c.id);
  auto freed = [](uv_handle_t* h) {
    auto* cl = static_cast<Client*>(h->data);
    if (--cl->open_handles == 0)
      delete cl; // only once both handles are closed
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c.poll), freed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), freed);
  ::close(c.fd);
}

void on_accept(uv_poll_t* p, int, int) {
  const int fd = ::accept4(*static_cast<int*>(p->data), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0)
    (new Client(fd))->driver.start(topgg::Now::current());
}

uv_poll_t accepting;
uv_async_t async;
uv_signal_t sigint, sigterm;

// SIGINT/SIGTERM: stop accepting, answer what was received, then the loop ends.
void on_signal(uv_signal_t*, int) {
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&accepting), reinterpret_cast<uv_handle_t*>(&async),
                         reinterpret_cast<uv_handle_t*>(&sigint), reinterpret_cast<uv_handle_t*>(&sigterm)})
    if (!uv_is_closing(h))
      uv_close(h, nullptr);
  wakes->close();
  clients.each([](Client& c) { c.driver.shutdown(topgg::Now::current()); });
}

} // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8080;
  const char* key = std::getenv("TOPGG_DBL_AUTH");
  router.dbl_webhook("/dbl", key ? key : "").on_bot_vote([](const topgg::BotVote& v) {
    std::cout << "user " << v.user.to_string() << " voted for bot " << v.bot.to_string() << std::endl;
  });

  loop = uv_default_loop();
  static int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listener, 511) != 0) {
    std::perror("listen");
    return 1;
  }
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  accepting.data = &listener;
  uv_poll_init_socket(loop, &accepting, listener);
  uv_poll_start(&accepting, UV_READABLE, on_accept);

  // Plain handlers here; an Ack handler would complete from any thread, and the
  // connection is resumed on the loop through this.
  uv_async_init(loop, &async, [](uv_async_t*) {
    std::vector<std::uint64_t> ids;
    wakes->drain(ids);
    for (std::uint64_t id : ids)
      if (Client* c = clients.find(id)) // closed meanwhile: nothing to do
        c->driver.on_wake(topgg::Now::current());
  });
  wakes = std::make_shared<topgg::WakeQueue>([] { uv_async_send(&async); });
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);

  std::cerr << "listening on http://0.0.0.0:" << ntohs(addr.sin_port) << std::endl;
  uv_run(loop, UV_RUN_DEFAULT);
  ::close(listener);
}
