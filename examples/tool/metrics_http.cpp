#include "metrics_http.hpp"
#include "log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "topgg/metrics.hpp"
#if TOOL_HAVE_UV
#include "topgg/uv.hpp"
#endif
#if TOOL_HAVE_ASIO
#include "topgg/asio.hpp"
#endif

namespace tool {

namespace {

bool digits(const std::string& s) {
  return !s.empty() && s.size() <= 5 && s.find_first_not_of("0123456789") == std::string::npos;
}

bool wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::" || host.empty(); }

/// "[::1]:9464" for an IPv6 host, "127.0.0.1:9464" otherwise.
std::string printable(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

topgg::Response text(int status, std::string body) {
  topgg::Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

/// What /readyz answers, and why not.
struct Readiness {
  topgg::ManagerBase& server;
  std::shared_ptr<topgg::IdempotencyStore> store; // nullptr: --no-dedup
  std::atomic<bool> stopping{false};

  std::string why_not() const {
    if (stopping.load())
      return "shutting down";
    if (!server.running())
      return "the public listener is not running";
    if (store && !store->available()) {
      const std::string why = store->unavailable_reason();
      return "the de-duplication store does not answer" + (why.empty() ? std::string() : ": " + why);
    }
    return {};
  }
};

template <class Manager> class Server final : public MetricsServer {
public:
  Server(const MetricsAddress& at, topgg::ManagerBase& public_server, std::function<void(std::string&)> more)
      : ready_{public_server, public_server.router().idempotency_store()} {
    std::shared_ptr<topgg::Metrics> metrics = public_server.router().metrics();
    if (!metrics)
      throw std::logic_error("--metrics: the public listener counts nothing (count_metrics() was not called)");
    auto page = [metrics, more = std::move(more)](const topgg::Request&) {
      topgg::Response r;
      r.headers.emplace_back("Content-Type", std::string(topgg::Metrics::prometheus_content_type));
      r.headers.emplace_back("Cache-Control", "no-store");
      metrics->write_prometheus(r.body);
      if (more)
        more(r.body);
      return r;
    };
    auto healthz = [](const topgg::Request&) { return text(200, "ok\n"); };
    auto readyz = [this](const topgg::Request&) {
      const std::string why = ready_.why_not();
      return why.empty() ? text(200, "ready\n") : text(503, "not ready: " + why + "\n");
    };
    topgg::Settings s;
    s.max_connections = 64; // scrapers and probes, not the public
    s.dedup_ttl = std::chrono::seconds(0);
    manager_.settings(s).on_error([](const topgg::Rejection&) {}).on_warning([](std::string_view) {});
    for (const char* method : {"GET", "HEAD"}) // a HEAD answer carries the headers only
      manager_.route(method, "/metrics", page).route(method, "/healthz", healthz).route(method, "/readyz", readyz);
    try {
      manager_.run(at.port, at.host);
    } catch (const std::exception& e) {
      throw std::runtime_error("--metrics " + printable(at.host, at.port) + ": " + library_words(e));
    }
    const std::string line = "metrics on http://" + manager_.address() + " (/metrics, /healthz, /readyz)";
    if (log_format() == LogFormat::text)
      std::fprintf(stderr, "%s\n", line.c_str()); // the line scripts wait for, untimed like "listening on"
    else
      log(Level::notice, line, {0, {}, {}, {}, {}, {}, {{"address", manager_.address()}}});
  }
  ~Server() override { manager_.close(); }
  void stopping() override { ready_.stopping = true; }

private:
  Readiness ready_;
  Manager manager_; // after ready_: its handlers use it, so it closes first
};

} // namespace

std::optional<MetricsAddress> check_metrics_option(const Options& o, const std::string& public_host,
                                                   std::uint16_t public_port) {
  if (!o.has("metrics"))
    return std::nullopt;
  const std::string value = o.get("metrics");
  const auto refuse = [&value](const std::string& why) {
    usage_error("--metrics takes HOST:PORT (127.0.0.1:9464, [::1]:9464, localhost:9464), not '" + value + "'" +
                (why.empty() ? "" : ": " + why));
  };
  MetricsAddress at;
  std::string port;
  if (value.starts_with("[")) {
    const std::size_t close = value.find(']');
    if (close == std::string::npos || value.compare(close + 1, 1, ":") != 0)
      refuse("");
    at.host = value.substr(1, close - 1);
    port = value.substr(close + 2);
  } else {
    const std::size_t colon = value.rfind(':');
    if (colon == std::string::npos)
      refuse("the host is required, so that nothing is exposed by default");
    at.host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (at.host.find(':') != std::string::npos)
      refuse("an IPv6 address goes in brackets");
  }
  if (at.host.empty())
    refuse("the host is required, so that nothing is exposed by default");
  if (!digits(port) || std::stol(port) > 65535)
    refuse("the port is a number from 0 to 65535");
  at.port = static_cast<std::uint16_t>(std::stol(port));
  // The public port is for Top.gg: metrics and health are never served there.
  if (at.port != 0 && at.port == public_port && (at.host == public_host || wildcard(at.host) || wildcard(public_host)))
    usage_error("--metrics " + value + " is the public address (--host " + public_host + " --port " +
                std::to_string(public_port) + "): give the metrics their own port");
  return at;
}

void count_metrics(const std::optional<MetricsAddress>& at, topgg::ManagerBase& public_server) {
  if (at)
    public_server.router().metrics(std::make_shared<topgg::Metrics>(&std::chrono::steady_clock::now));
}

template <class Manager>
std::unique_ptr<MetricsServer> serve_metrics(const std::optional<MetricsAddress>& at, topgg::ManagerBase& public_server,
                                             std::function<void(std::string&)> more) {
  if (!at)
    return nullptr;
  return std::make_unique<Server<Manager>>(*at, public_server, std::move(more));
}

#if TOOL_HAVE_UV
template std::unique_ptr<MetricsServer> serve_metrics<topgg::uv::WebhookManager>(const std::optional<MetricsAddress>&,
                                                                                 topgg::ManagerBase&,
                                                                                 std::function<void(std::string&)>);
#endif
#if TOOL_HAVE_ASIO
template std::unique_ptr<MetricsServer> serve_metrics<topgg::asio::WebhookManager>(const std::optional<MetricsAddress>&,
                                                                                   topgg::ManagerBase&,
                                                                                   std::function<void(std::string&)>);
#endif

} // namespace tool
