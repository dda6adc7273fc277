// Measures what idle keep-alive connections cost the server: a child process
// runs the server on the chosen adapter, the parent opens N connections that
// each make one request and then stay open, and the child reports its VmRSS
// before and after. Not a test; run by hand:
//   idle-rss uv|asio [N=10000]
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "client.hpp"
#include "topgg/asio.hpp"
#include "topgg/uv.hpp"

namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

template <class Manager> int serve(int n, int report, int ctl) {
  Manager m;
  topgg::Settings s;
  s.max_connections = static_cast<std::size_t>(n) + 16;
  s.idle_timeout = std::chrono::minutes(10);
  m.dbl_webhook("/dbl", "key")
      .route("GET", "/",
             [](const topgg::Request&) {
               topgg::Response r;
               r.body = "ok";
               return r;
             })
      .on_warning([](std::string_view) {})
      .settings(s);
  const long port = m.run(0, "127.0.0.1");
  const long before = rss_kib();
  const long heap_before = static_cast<long>(mallinfo2().uordblks);
  char c = 0;
  if (::write(report, &port, sizeof port) != sizeof port || ::read(ctl, &c, 1) != 1)
    return 1;
  const long after = rss_kib();
  const long heap_after = static_cast<long>(mallinfo2().uordblks);
  const long both[4] = {before, after, heap_before, heap_after};
  if (::write(report, both, sizeof both) != sizeof both)
    return 1;
  m.close();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  const std::string adapter = argc > 1 ? argv[1] : "";
  const int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  if ((adapter != "uv" && adapter != "asio") || n <= 0) {
    std::fprintf(stderr, "usage: %s uv|asio [connections=10000]\n", argv[0]);
    return 2;
  }
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, static_cast<rlim_t>(n) + 256);
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur < static_cast<rlim_t>(n) + 64) {
    std::fprintf(stderr, "cannot raise RLIMIT_NOFILE to %d\n", n + 256);
    return 1;
  }
  int report[2], ctl[2];
  if (::pipe(report) != 0 || ::pipe(ctl) != 0)
    return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(report[0]);
    ::close(ctl[1]);
    return adapter == "uv" ? serve<topgg::uv::WebhookManager>(n, report[1], ctl[0])
                           : serve<topgg::asio::WebhookManager>(n, report[1], ctl[0]);
  }
  ::close(report[1]);
  ::close(ctl[0]);
  long port = 0;
  if (::read(report[0], &port, sizeof port) != sizeof port)
    return 1;
  const long client_before = rss_kib();
  std::vector<std::unique_ptr<it::Client>> clients;
  clients.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<it::Client>(static_cast<std::uint16_t>(port));
    auto r = c->connected() && c->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") ? c->read() : std::nullopt;
    if (!r || r->status != 200) {
      std::fprintf(stderr, "connection %d failed\n", i);
      return 1;
    }
    clients.push_back(std::move(c));
  }
  const long client_after = rss_kib();
  long both[4] = {0, 0, 0, 0};
  if (::write(ctl[1], "m", 1) != 1 || ::read(report[0], both, sizeof both) != sizeof both)
    return 1;
  clients.clear();
  int status = 0;
  ::waitpid(child, &status, 0);
  std::printf("adapter %s, %d idle keep-alive connections (one request each)\n", adapter.c_str(), n);
  std::printf("server VmRSS: %ld KiB listening, %ld KiB with the connections: %+ld KiB, %.0f bytes each\n", both[0],
              both[1], both[1] - both[0], static_cast<double>(both[1] - both[0]) * 1024.0 / n);
  std::printf("server heap in use (malloc): %+ld KiB, %.0f bytes each\n", (both[3] - both[2]) / 1024,
              static_cast<double>(both[3] - both[2]) / n);
  std::printf("client VmRSS (separate process): %ld KiB -> %ld KiB\n", client_before, client_after);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
