// Metrics: counting (the pipeline's side, metrics_state.hpp), snapshots, and
// the Prometheus text exposition format 0.0.4.
#include "topgg/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "auth.hpp"
#include "metrics_state.hpp"
#include "topgg/version.hpp"

namespace topgg {

namespace {

constexpr std::array<std::string_view, refusal_count> refusal_names = {"malformed_http",
                                                                       "bad_host",
                                                                       "not_found",
                                                                       "method_not_allowed",
                                                                       "auth_missing",
                                                                       "auth_wrong",
                                                                       "payload_too_large",
                                                                       "headers_too_large",
                                                                       "request_timeout",
                                                                       "expectation_failed",
                                                                       "version_not_supported",
                                                                       "invalid_json",
                                                                       "invalid_payload",
                                                                       "signature_missing",
                                                                       "signature_malformed",
                                                                       "signature_mismatch",
                                                                       "signature_stale",
                                                                       "wrong_target",
                                                                       "no_handler"};

constexpr std::array<std::string_view, detail::status_slots> status_labels = {
    "200", "204", "400", "401", "403", "404", "405", "408", "413", "417",
    "422", "431", "500", "503", "505", "2xx", "3xx", "4xx", "5xx"};
static_assert(detail::status_slot(505) == 14 && detail::status_slot(299) == 15 && detail::status_slot(599) == 18);

// Error → Refusal, for the errors that are refusals (not handler outcomes).
std::optional<Refusal> refusal_of(const Rejection& r) noexcept {
  switch (r.error) {
  case Error::malformed_http: return Refusal::malformed_http;
  case Error::bad_host: return Refusal::bad_host;
  case Error::not_found: return Refusal::not_found;
  case Error::method_not_allowed: return Refusal::method_not_allowed;
  case Error::unauthorized:
    return r.detail == detail::authorization_missing ? Refusal::auth_missing : Refusal::auth_wrong;
  case Error::payload_too_large: return Refusal::payload_too_large;
  case Error::headers_too_large: return Refusal::headers_too_large;
  case Error::request_timeout: return Refusal::request_timeout;
  case Error::expectation_failed: return Refusal::expectation_failed;
  case Error::version_not_supported: return Refusal::version_not_supported;
  case Error::invalid_json: return Refusal::invalid_json;
  case Error::invalid_payload: return Refusal::invalid_payload;
  case Error::signature_missing: return Refusal::signature_missing;
  case Error::signature_malformed: return Refusal::signature_malformed;
  case Error::signature_mismatch: return Refusal::signature_mismatch;
  case Error::timestamp_out_of_window: return Refusal::signature_stale;
  case Error::wrong_target: return Refusal::wrong_target;
  case Error::no_handler: return Refusal::no_handler;
  case Error::ok:
  case Error::handler_failed:
  case Error::handler_retry:
  case Error::ack_timeout:
  case Error::duplicate_in_progress:
  case Error::store_unavailable:
  case Error::duplicate: break;
  }
  return std::nullopt;
}

std::uint64_t read(const detail::Counter& c) noexcept { return c.load(std::memory_order_relaxed); }

// ---- the text format -------------------------------------------------------

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Shortest text that reads back as `v`, without an exponent for the values
// met here (bounds, sums of seconds, Unix times).
void append_number(std::string& out, double v) {
  if (std::isnan(v))
    return void(out.append("NaN"));
  if (std::isinf(v))
    return void(out.append(v > 0 ? "+Inf" : "-Inf"));
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  out.append(buf, r.ec == std::errc{} ? r.ptr : std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// A label value between double quotes: backslash, double quote and line feed
// escaped (the format's three escapes).
void append_label(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
    case '\\': out.append("\\\\"); break;
    case '"': out.append("\\\""); break;
    case '\n': out.append("\\n"); break;
    default: out.push_back(c);
    }
  }
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP topgg_webhook_").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE topgg_webhook_").append(name).append(" ").append(type).append("\n");
}

template <class V> void sample(std::string& out, std::string_view name, V value) {
  out.append("topgg_webhook_").append(name).append(" ");
  append_number(out, value);
  out.push_back('\n');
}

template <class V>
void sample(std::string& out, std::string_view name, std::string_view label, std::string_view v, V value) {
  out.append("topgg_webhook_").append(name).append("{").append(label).append("=\"");
  append_label(out, v);
  out.append("\"} ");
  append_number(out, value);
  out.push_back('\n');
}

void counter(std::string& out, std::string_view name, std::string_view help, std::uint64_t v) {
  family(out, name, "counter", help);
  sample(out, name, v);
}

} // namespace

std::string_view to_string(Refusal r) noexcept {
  const auto i = static_cast<std::size_t>(r);
  return i < refusal_names.size() ? refusal_names[i] : "unknown";
}

// ---- counting --------------------------------------------------------------

namespace detail {

RouteMeter* MetricsState::route(std::string_view path) {
  std::lock_guard lock(m);
  for (RouteMeter& r : routes)
    if (r.label == path)
      return &r;
  return &routes.emplace_back(std::string(path));
}

void MetricsState::link_store(std::shared_ptr<const IdempotencyStore> s) {
  std::lock_guard lock(m);
  store_linked = s != nullptr;
  store = s;
}

void MetricsState::rejected(const Rejection& r) noexcept {
  Counter* c = nullptr;
  switch (r.error) {
  case Error::handler_failed: c = &failures; break;
  case Error::handler_retry: c = &retries; break;
  case Error::ack_timeout: c = &ack_timeouts; break;
  case Error::duplicate_in_progress: c = &in_progress; break;
  case Error::store_unavailable: c = &store_unavailable; break;
  default:
    if (const auto why = refusal_of(r))
      c = &refused[static_cast<std::size_t>(*why)];
  }
  if (c)
    c->fetch_add(1, std::memory_order_relaxed);
}

} // namespace detail

// ---- Metrics ---------------------------------------------------------------

Metrics::Metrics(TimeSource clock) : state_(std::make_unique<detail::MetricsState>(clock)) {}
Metrics::~Metrics() = default;

void Metrics::catch_up_round(bool ok, std::chrono::system_clock::time_point at, std::uint64_t votes) noexcept {
  detail::MetricsState& s = *state_;
  s.caught_up.fetch_add(votes, std::memory_order_relaxed);
  if (!ok)
    return void(s.rounds_failed.fetch_add(1, std::memory_order_relaxed));
  s.rounds_ok.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
  std::int64_t seen = s.last_round_us.load(std::memory_order_relaxed);
  while (us > seen && !s.last_round_us.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
  }
}

MetricsSnapshot Metrics::snapshot() const {
  const detail::MetricsState& s = *state_;
  MetricsSnapshot out;
  std::shared_ptr<const IdempotencyStore> store;
  bool linked = false;
  {
    std::lock_guard lock(s.m);
    auto rows = [&](const detail::RouteMeter& r) {
      for (std::size_t i = 0; i < r.answered.size(); ++i)
        if (const std::uint64_t n = read(r.answered[i]))
          out.requests.push_back({r.label, status_labels[i], n});
    };
    for (const detail::RouteMeter& r : s.routes)
      rows(r);
    rows(s.unrouted);
    linked = s.store_linked;
    store = s.store.lock();
  }
  if (linked && store)
    out.store_up = store->available(); // outside the lock: the store's own state, no I/O
  for (std::size_t i = 0; i < out.events.size(); ++i)
    out.events[i] = read(s.events[i]);
  for (std::size_t i = 0; i < out.refused.size(); ++i)
    out.refused[i] = read(s.refused[i]);
  out.duplicates = read(s.duplicates);
  out.duplicates_in_progress = read(s.in_progress);
  out.handler_failures = read(s.failures);
  out.handler_retries = read(s.retries);
  out.ack_timeouts = read(s.ack_timeouts);
  out.store_unavailable = read(s.store_unavailable);
  HistogramSnapshot& h = out.handler_seconds;
  h.bounds.assign(handler_buckets.begin(), handler_buckets.end());
  std::uint64_t cumulative = 0;
  for (const detail::Counter& b : s.buckets)
    h.counts.push_back(cumulative += read(b));
  h.count = cumulative; // the buckets, not latency_count: _count must equal the +Inf bucket
  h.sum = static_cast<double>(read(s.latency_ns)) / 1e9;
  out.catch_up_rounds = read(s.rounds_ok);
  out.catch_up_rounds_failed = read(s.rounds_failed);
  out.catch_up_votes = read(s.caught_up);
  if (const std::int64_t us = s.last_round_us.load(std::memory_order_relaxed); us != INT64_MIN)
    out.catch_up_last_success = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::microseconds(us)));
  return out;
}

void Metrics::write_prometheus(std::string& out) const { snapshot().write_prometheus(out); }

// ---- MetricsSnapshot -------------------------------------------------------

std::uint64_t MetricsSnapshot::event(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < event_names.size(); ++i)
    if (event_names[i] == name)
      return events[i];
  return 0;
}

std::uint64_t MetricsSnapshot::requests_at(std::string_view route, std::string_view status) const noexcept {
  for (const Requests& r : requests)
    if (r.route == route && r.status == status)
      return r.count;
  return 0;
}

void MetricsSnapshot::write_prometheus(std::string& out) const {
  family(out, "requests_total", "counter",
         "HTTP requests answered, by route (its configured path; \"none\" when no route matched) and status.");
  for (const Requests& r : requests) {
    out.append("topgg_webhook_requests_total{route=\"");
    append_label(out, r.route);
    out.append("\",status=\"").append(r.status).append("\"} ");
    append_number(out, r.count);
    out.push_back('\n');
  }
  family(out, "events_total", "counter", "Events handed to a handler, by type (caught-up votes included).");
  for (std::size_t i = 0; i < events.size(); ++i)
    sample(out, "events_total", "event", event_names[i], events[i]);
  family(out, "refused_total", "counter", "Requests refused before any handler ran, by reason.");
  for (std::size_t i = 0; i < refused.size(); ++i)
    sample(out, "refused_total", "reason", refusal_names[i], refused[i]);
  counter(out, "duplicates_total", "Retries of deliveries already handled, answered success without an event.",
          duplicates);
  counter(out, "duplicates_in_progress_total",
          "Retries that arrived while the first delivery was being handled, answered 503.", duplicates_in_progress);
  counter(out, "handler_failures_total", "Handlers that threw, answered 500.", handler_failures);
  counter(out, "handler_retries_total", "Handlers that asked for a retry, answered 503.", handler_retries);
  counter(out, "ack_timeouts_total", "Acks not completed in time, answered 503.", ack_timeouts);
  counter(out, "store_unavailable_total", "Deliveries answered 503 because the idempotency store could not be asked.",
          store_unavailable);

  const HistogramSnapshot& h = handler_seconds;
  family(out, "handler_seconds", "histogram", "Time from a handler's start to its outcome.");
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    out.append("topgg_webhook_handler_seconds_bucket{le=\"");
    append_number(out, i < h.bounds.size() ? h.bounds[i] : HUGE_VAL);
    out.append("\"} ");
    append_number(out, h.counts[i]);
    out.push_back('\n');
  }
  sample(out, "handler_seconds_sum", h.sum);
  sample(out, "handler_seconds_count", h.count);

  if (store_up) {
    family(out, "store_up", "gauge", "Whether the idempotency store answers (1) or not (0).");
    sample(out, "store_up", std::uint64_t{*store_up});
  }
  if (catch_up_rounds + catch_up_rounds_failed > 0) {
    family(out, "catch_up_rounds_total", "counter", "Catch-up rounds, by result.");
    sample(out, "catch_up_rounds_total", "result", "ok", catch_up_rounds);
    sample(out, "catch_up_rounds_total", "result", "failed", catch_up_rounds_failed);
    counter(out, "catch_up_votes_total", "Votes caught up from the vote history and handled.", catch_up_votes);
  }
  if (catch_up_last_success) {
    family(out, "catch_up_last_success_timestamp_seconds", "gauge",
           "Unix time at the end of the last catch-up round that succeeded.");
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(catch_up_last_success->time_since_epoch());
    sample(out, "catch_up_last_success_timestamp_seconds", static_cast<double>(us.count()) / 1e6);
  }
  family(out, "build_info", "gauge", "The topgg-webhook library's version.");
  sample(out, "build_info", "version", TOPGG_WEBHOOK_VERSION, std::uint64_t{1});
}

} // namespace topgg
