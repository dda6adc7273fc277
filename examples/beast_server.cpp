// Request-level embedding: a Boost.Beast HTTP server the application already
// has keeps serving its own pages and hands every other request to
// topgg::Router::handle(), which checks, decodes and answers the Top.gg ones.
// One thread runs the io_context; Ctrl-C / SIGTERM stops accepting, lets each
// connection finish the answer it owes, then run() returns.
//
//   TOPGG_DBL_AUTH=s3cret TOPGG_DSL_AUTH=s3cret2 ./beast_server 8080
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <topgg/router.hpp>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

class Session;
struct Server {
  topgg::Router& router;
  std::set<Session*> sessions;
  bool stopping = false;
};

class Session : public std::enable_shared_from_this<Session> {
public:
  Session(tcp::socket socket, Server& server) : stream_(std::move(socket)), server_(server) {
    server_.sessions.insert(this);
  }
  ~Session() { server_.sessions.erase(this); }

  void read() {
    parser_.emplace();
    parser_->body_limit(server_.router.settings().max_body_bytes);
    stream_.expires_after(std::chrono::seconds(30));
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->reading_ = false;
      if (!ec)
        self->handle(self->parser_->get());
    });
  }
  void stop() { // graceful: an idle connection closes now, a busy one after its answer
    if (reading_)
      stream_.socket().cancel();
  }

private:
  void handle(const http::request<http::string_body>& req) {
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    if (req.method() == http::verb::get && req.target() == "/")
      return write({200, {{"Content-Type", "text/plain"}}, "the application's own page\n"});
    // Everything else is Top.gg's: the router answers 404/405 for what it does not know.
    std::vector<topgg::Header> headers;
    for (const auto& field : req)
      headers.push_back({sv(field.name_string()), sv(field.value())});
    const std::string_view target = sv(req.target());
    const topgg::Request request{sv(req.method_string()), target, target.substr(0, target.find_first_of("?#")), headers,
                                 req.body()};
    // Plain handlers reply before handle() returns; Ack handlers may reply
    // later from another thread, so the answer is posted back to our strand.
    server_.router.handle(request, topgg::Now::current(), [self = shared_from_this()](topgg::Response res) {
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  void write(topgg::Response answer) {
    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(answer.status));
    for (auto& [name, value] : answer.headers)
      response_.set(name, value);
    response_.body() = std::move(answer.body);
    response_.keep_alive(keep_alive_ && !server_.stopping);
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || !self->response_.keep_alive())
        return void(self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec));
      self->read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  Server& server_;
  unsigned version_ = 11;
  bool keep_alive_ = true, reading_ = false;
};

void accept(tcp::acceptor& acceptor, Server& server) {
  acceptor.async_accept([&](beast::error_code ec, tcp::socket socket) {
    if (ec)
      return; // closed by the signal handler
    std::make_shared<Session>(std::move(socket), server)->read();
    accept(acceptor, server);
  });
}

} // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 8080);
  const char* dbl_auth = std::getenv("TOPGG_DBL_AUTH");
  const char* dsl_auth = std::getenv("TOPGG_DSL_AUTH");

  topgg::Router router;
  router.dbl_webhook("/dbl", dbl_auth ? dbl_auth : "my-dbl-auth")
      .dsl_webhook("/dsl", dsl_auth ? dsl_auth : "my-dsl-auth")
      .on_bot_vote([](const topgg::BotVote& v) {
        std::cout << "vote: user " << v.user.to_string() << " voted for bot " << v.bot.to_string() << std::endl;
      })
      .on_server_vote([](const topgg::ServerVote& v) {
        std::cout << "vote: user " << v.user.to_string() << " voted for server " << v.guild.to_string() << std::endl;
      });

  net::io_context io;
  Server server{router, {}, false};
  tcp::acceptor acceptor(io);
  try {
    acceptor = tcp::acceptor(io, {net::ip::make_address("0.0.0.0"), port});
  } catch (const std::exception& e) {
    std::cerr << "cannot listen: " << e.what() << '\n';
    return 1;
  }
  std::fprintf(stderr, "listening on http://0.0.0.0:%u\n", unsigned(acceptor.local_endpoint().port()));
  accept(acceptor, server);

  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code ec, int) {
    if (ec)
      return;
    std::cerr << "closing\n";
    server.stopping = true;
    acceptor.close();
    for (Session* s : server.sessions)
      s->stop();
  });
  io.run();
}
