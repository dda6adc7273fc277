// Core cost per request, Google Benchmark. Compares the full byte-in/byte-out
// path of a Connection (parse + auth + decode + handler + response) with the
// two libraries it is built on, run bare over the same bytes:
//   llhttp/*    llhttp_execute with no callbacks
//   simdjson/*  On-Demand parse of the body, every field read as a view
//   full/*      topgg::Connection::receive + output + consume
// "reused" = one keep-alive connection (parser) for every request; "fresh" =
// a new one per request. "new-voter" rows send each request from another voter
// (a pool larger than the memory store, so every delivery is a new key and the
// store stays full, forgetting its oldest key at each claim), once with
// de-duplication off and once with the default memory store on: the
// difference is what claiming and confirming costs. Each benchmark reports allocs/req, counted by the
// global operator new replaced below. After the run a summary prints
// ns/request, full / (llhttp + simdjson) and allocations per request.
//
//   bench-core [--benchmark_filter=...] [--benchmark_min_time=...]
#include <benchmark/benchmark.h>

#include <llhttp.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "bench_bare.hpp"
#include "bench_requests.hpp"
#include "topgg/topgg.hpp"

// ---- allocation counter -----------------------------------------------------
// GCC sees malloc in the replaced operator new and free in the replaced
// operator delete, inlined together, and warns of a mismatch that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<std::uint64_t> g_allocs{0};
}

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1))
    return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return ::operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al))
    return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using namespace topgg_bench;

/// Counts allocations made while it lives and reports them per iteration.
struct AllocScope {
  benchmark::State& state;
  std::uint64_t start = g_allocs.load(std::memory_order_relaxed);
  explicit AllocScope(benchmark::State& s) : state(s) {}
  ~AllocScope() {
    const double n = static_cast<double>(g_allocs.load(std::memory_order_relaxed) - start);
    state.counters["allocs/req"] = benchmark::Counter(n / static_cast<double>(state.iterations()));
  }
};

void llhttp_reused(benchmark::State& state, const std::string& req) {
  llhttp_t p;
  llhttp_init(&p, HTTP_REQUEST, &topgg_bench::bare_settings());
  AllocScope a(state);
  for (auto _ : state) {
    if (llhttp_execute(&p, req.data(), req.size()) != HPE_OK)
      state.SkipWithError("llhttp error");
    benchmark::ClobberMemory();
  }
}

void llhttp_fresh(benchmark::State& state, const std::string& req) {
  AllocScope a(state);
  for (auto _ : state) {
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &topgg_bench::bare_settings());
    if (llhttp_execute(&p, req.data(), req.size()) != HPE_OK)
      state.SkipWithError("llhttp error");
    benchmark::DoNotOptimize(p);
  }
}

template <bool Bot> void simdjson_reused(benchmark::State& state, const std::string& body) {
  const simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  topgg_bench::read_vote<Bot>(parser, padded); // allocate the parser's buffers once
  AllocScope a(state);
  for (auto _ : state)
    if (!topgg_bench::read_vote<Bot>(parser, padded))
      state.SkipWithError("simdjson error");
}

template <bool V1> void simdjson_dom_reused(benchmark::State& state, const std::string& body) {
  const simdjson::padded_string padded(body);
  simdjson::dom::parser parser;
  const auto read = [&] { return V1 ? read_v1_dom(parser, padded) : read_vote_dom(parser, padded); };
  read();
  AllocScope a(state);
  for (auto _ : state)
    if (!read())
      state.SkipWithError("simdjson error");
}

void hmac_bare(benchmark::State& state) {
  BareHmac h(v1_secret);
  const std::string t = std::to_string(v1_timestamp);
  unsigned char mac[32];
  AllocScope a(state);
  for (auto _ : state) {
    if (!h.mac(t, v1_body, mac))
      state.SkipWithError("HMAC error");
    benchmark::DoNotOptimize(mac);
  }
}

void auth_bare(benchmark::State& state) {
  const std::string key(dbl_auth), given(dbl_auth);
  AllocScope a(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(given.data());
    if (!bare_auth(given, key))
      state.SkipWithError("mismatch");
  }
}

template <bool Bot> void simdjson_fresh(benchmark::State& state, const std::string& body) {
  const simdjson::padded_string padded(body);
  AllocScope a(state);
  for (auto _ : state) {
    simdjson::ondemand::parser parser;
    if (!topgg_bench::read_vote<Bot>(parser, padded))
      state.SkipWithError("simdjson error");
  }
}

// ---- the library's decoder alone (for the breakdown) -----------------------------------

template <class Vote> void decode_only(benchmark::State& state, const std::string& body) {
  Vote v;
  (void)topgg::decode(body, v);
  AllocScope a(state);
  for (auto _ : state) {
    if (!topgg::decode(body, v))
      state.SkipWithError("decode error");
    benchmark::DoNotOptimize(v);
  }
}

void v1_decode_only(benchmark::State& state, const std::string& body) {
  topgg::v1::Event ev;
  (void)topgg::v1::decode(body, ev);
  AllocScope a(state);
  for (auto _ : state) {
    if (!topgg::v1::decode(body, ev))
      state.SkipWithError("decode error");
    benchmark::DoNotOptimize(ev);
  }
}

void v1_verify_only(benchmark::State& state) {
  const std::string secrets[] = {std::string(v1_secret)};
  const std::string sig = signature_header();
  AllocScope a(state);
  for (auto _ : state) {
    if (topgg::v1::verify(sig, secrets, v1_body, bench_now().wall) != topgg::Error::ok)
      state.SkipWithError("verify error");
  }
}

// ---- the full core path -------------------------------------------------------------

/// A router like the bench server's: the three vote routes, handlers that count.
struct Server {
  topgg::Router router;
  std::uint64_t events = 0;
  explicit Server(bool dedup = false) {
    topgg::Settings s;
    s.max_requests_per_connection = 0xffffffffu; // keep-alive forever: measure requests, not reconnects
    if (!dedup)
      s.dedup_ttl = std::chrono::seconds(0); // the same signed vote is sent again and again: handle each one
    router.dbl_webhook("/dbl", std::string(dbl_auth))
        .dsl_webhook("/dsl", std::string(dsl_auth))
        .v1_webhook("/v1", std::string(v1_secret))
        .on_bot_vote([this](const topgg::BotVote&) { ++events; })
        .on_server_vote([this](const topgg::ServerVote&) { ++events; })
        .on_vote_create([this](const topgg::v1::VoteCreate&) { ++events; })
        .on_error([](const topgg::Rejection& r) {
          std::fprintf(stderr, "rejected %d: %.*s\n", r.status, static_cast<int>(r.detail.size()), r.detail.data());
          std::abort();
        })
        .settings(s);
  }
};

bool exchange(topgg::Connection& c, std::string_view req, topgg::Now now, std::string_view expect) {
  c.receive(req, now);
  const std::string_view out = c.output();
  const bool ok = out.size() == expect.size();
  c.consume(out.size());
  return ok;
}

void full_reused(benchmark::State& state, const std::string& req, std::string_view expect) {
  Server srv;
  const topgg::Now now = bench_now();
  topgg::Connection c(srv.router, now);
  for (int i = 0; i < 4; ++i) // warm: the connection's buffers reach their size
    exchange(c, req, now, expect);
  AllocScope a(state);
  for (auto _ : state)
    if (!exchange(c, req, now, expect))
      state.SkipWithError("unexpected answer");
  if (srv.events < static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("events missing");
}

// Request level: the server parsed HTTP; parsing is not counted.
void handle_bot(benchmark::State& state) {
  Server srv;
  const topgg::Now now = bench_now();
  const topgg::Request& req = bot_parsed();
  int bad = 0;
  for (int i = 0; i < 4; ++i)
    srv.router.handle(req, now, [&](topgg::Response r) { bad += r.status != 200; });
  AllocScope a(state);
  for (auto _ : state)
    srv.router.handle(req, now, [&](topgg::Response r) { bad += r.status != 200; });
  if (bad)
    state.SkipWithError("unexpected answer");
}

void full_fresh(benchmark::State& state, const std::string& req, std::string_view expect) {
  Server srv;
  const topgg::Now now = bench_now();
  { topgg::Connection warm(srv.router, now); exchange(warm, req, now, expect); }
  AllocScope a(state);
  for (auto _ : state) {
    topgg::Connection c(srv.router, now);
    if (!exchange(c, req, now, expect))
      state.SkipWithError("unexpected answer");
  }
}

// More voters than the memory store holds (16384 by default): by the time a
// voter comes round again it has been forgotten, so each delivery is new.
constexpr long voter_pool = 32768;

const std::vector<std::string>& voters(bool v1) {
  static const auto build = [](bool signed_v1) {
    std::vector<std::string> reqs;
    reqs.reserve(voter_pool);
    for (long i = 0; i < voter_pool; ++i)
      reqs.push_back(signed_v1 ? v1_request_from(i) : bot_request_from(i));
    return reqs;
  };
  static const std::vector<std::string> bot = build(false), signed_votes = build(true);
  return v1 ? signed_votes : bot;
}

/// One keep-alive connection, each request from the next voter of the pool.
void full_new_voter(benchmark::State& state, bool v1, bool dedup, std::string_view expect) {
  Server srv(dedup);
  const std::vector<std::string>& reqs = voters(v1);
  const topgg::Now now = bench_now();
  topgg::Connection c(srv.router, now);
  std::size_t i = 0;
  // Warm: buffers at size, and (with de-duplication) the store's table allocated and full.
  for (long n = 0; n < voter_pool / 2 + 4; ++n, i = (i + 1) % reqs.size())
    exchange(c, reqs[i], now, expect);
  const std::uint64_t before = srv.events;
  AllocScope a(state);
  for (auto _ : state) {
    if (!exchange(c, reqs[i], now, expect))
      state.SkipWithError("unexpected answer");
    i = i + 1 == reqs.size() ? 0 : i + 1;
  }
  if (srv.events - before != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("a delivery was taken for a duplicate (or lost)");
}

const std::string& bot_req() { static const std::string r = bot_request(); return r; }
const std::string& server_req() { static const std::string r = server_request(); return r; }
const std::string& v1_req() { static const std::string r = v1_request(); return r; }
constexpr std::string_view ok200 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK";
constexpr std::string_view ok204 = "HTTP/1.1 204 No Content\r\n\r\n";

void register_all() {
  using B = benchmark::State;
  benchmark::RegisterBenchmark("llhttp/bot/reused", [](B& s) { llhttp_reused(s, bot_req()); });
  benchmark::RegisterBenchmark("llhttp/bot/fresh", [](B& s) { llhttp_fresh(s, bot_req()); });
  benchmark::RegisterBenchmark("llhttp/server/reused", [](B& s) { llhttp_reused(s, server_req()); });
  benchmark::RegisterBenchmark("llhttp/v1/reused", [](B& s) { llhttp_reused(s, v1_req()); });
  benchmark::RegisterBenchmark("simdjson/bot/reused", [](B& s) { simdjson_reused<true>(s, std::string(bot_body)); });
  benchmark::RegisterBenchmark("simdjson/bot/fresh", [](B& s) { simdjson_fresh<true>(s, std::string(bot_body)); });
  benchmark::RegisterBenchmark("simdjson-dom/bot/reused",
                               [](B& s) { simdjson_dom_reused<false>(s, std::string(bot_body)); });
  benchmark::RegisterBenchmark("simdjson-dom/v1/reused",
                               [](B& s) { simdjson_dom_reused<true>(s, std::string(v1_body)); });
  benchmark::RegisterBenchmark("hmac/v1", [](B& s) { hmac_bare(s); });
  benchmark::RegisterBenchmark("auth/bot", [](B& s) { auth_bare(s); });
  benchmark::RegisterBenchmark("simdjson/server/reused",
                               [](B& s) { simdjson_reused<false>(s, std::string(server_body)); });
  benchmark::RegisterBenchmark("decode/bot", [](B& s) { decode_only<topgg::BotVote>(s, std::string(bot_body)); });
  benchmark::RegisterBenchmark("decode/server",
                               [](B& s) { decode_only<topgg::ServerVote>(s, std::string(server_body)); });
  benchmark::RegisterBenchmark("decode/v1", [](B& s) { v1_decode_only(s, std::string(v1_body)); });
  benchmark::RegisterBenchmark("verify/v1", [](B& s) { v1_verify_only(s); });
  benchmark::RegisterBenchmark("full/bot/reused", [](B& s) { full_reused(s, bot_req(), ok200); });
  benchmark::RegisterBenchmark("full/bot/fresh", [](B& s) { full_fresh(s, bot_req(), ok200); });
  benchmark::RegisterBenchmark("full/server/reused", [](B& s) { full_reused(s, server_req(), ok200); });
  benchmark::RegisterBenchmark("full/server/fresh", [](B& s) { full_fresh(s, server_req(), ok200); });
  benchmark::RegisterBenchmark("full/v1/reused", [](B& s) { full_reused(s, v1_req(), ok204); });
  benchmark::RegisterBenchmark("full/v1/fresh", [](B& s) { full_fresh(s, v1_req(), ok204); });
  benchmark::RegisterBenchmark("full/bot/new-voter/dedup-off", [](B& s) { full_new_voter(s, false, false, ok200); });
  benchmark::RegisterBenchmark("full/bot/new-voter/dedup-memory", [](B& s) { full_new_voter(s, false, true, ok200); });
  benchmark::RegisterBenchmark("full/v1/new-voter/dedup-off", [](B& s) { full_new_voter(s, true, false, ok204); });
  benchmark::RegisterBenchmark("full/v1/new-voter/dedup-memory", [](B& s) { full_new_voter(s, true, true, ok204); });
  benchmark::RegisterBenchmark("handle/bot", [](B& s) { handle_bot(s); });
}

/// Prints as usual and keeps ns/iteration and allocs/req per benchmark for the summary.
class Collect : public benchmark::ConsoleReporter {
public:
  struct Row {
    double ns = 0;
    double allocs = 0;
  };
  std::map<std::string, Row> rows;
  Collect() : ConsoleReporter(OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      // Plain runs, or the median of --benchmark_repetitions.
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.error_occurred || (r.run_type != Run::RT_Iteration && !median))
        continue;
      Row row;
      row.ns = r.GetAdjustedCPUTime(); // every benchmark here reports in ns
      auto it = r.counters.find("allocs/req");
      row.allocs = it == r.counters.end() ? 0 : double(it->second);
      rows[r.run_name.str()] = row;
    }
  }
};

void summary(const Collect& c) {
  auto get = [&](const std::string& n) -> const Collect::Row* {
    auto it = c.rows.find(n);
    return it == c.rows.end() ? nullptr : &it->second;
  };
  std::printf("\nsummary (CPU ns/request; ratio = full / (bare llhttp + bare simdjson) over the same bytes)\n");
  std::printf("%-20s %10s %10s %10s %8s %12s\n", "case", "full ns", "llhttp ns", "simdjson", "ratio", "allocs/req");
  struct Case {
    const char* label;
    const char* full;
    const char* http;
    const char* json;
  };
  const Case cases[] = {
      {"bot vote, reused", "full/bot/reused", "llhttp/bot/reused", "simdjson/bot/reused"},
      {"bot vote, fresh", "full/bot/fresh", "llhttp/bot/fresh", "simdjson/bot/fresh"},
      {"server vote, reused", "full/server/reused", "llhttp/server/reused", "simdjson/server/reused"},
      {"server vote, fresh", "full/server/fresh", "llhttp/server/reused", "simdjson/server/reused"},
      {"v1 vote, reused", "full/v1/reused", "llhttp/v1/reused", nullptr},
      {"v1 vote, fresh", "full/v1/fresh", "llhttp/v1/reused", nullptr},
  };
  for (const Case& k : cases) {
    const auto* f = get(k.full);
    const auto* h = get(k.http);
    const auto* j = k.json ? get(k.json) : nullptr;
    if (!f)
      continue;
    const double base = (h ? h->ns : 0) + (j ? j->ns : 0);
    if (k.json && h && j)
      std::printf("%-20s %10.1f %10.1f %10.1f %8.2f %12.2f\n", k.label, f->ns, h->ns, j->ns, f->ns / base, f->allocs);
    else
      std::printf("%-20s %10.1f %10.1f %10s %8s %12.2f\n", k.label, f->ns, h ? h->ns : 0.0, "-", "-", f->allocs);
  }
  if (const auto* f = get("full/bot/reused"))
    std::printf("\ngoals: full legacy path <= 300 ns: %s (%.0f ns); zero allocs/request reused: %s (%.2f)\n",
                f->ns <= 300 ? "met" : "MISSED", f->ns, f->allocs == 0 ? "met" : "MISSED", f->allocs);
  const auto *f = get("full/bot/reused"), *h = get("llhttp/bot/reused"), *j = get("simdjson/bot/reused");
  if (f && h && j) {
    const double r = f->ns / (h->ns + j->ns);
    std::printf("goals: ratio full/(llhttp+simdjson) <= 1.3: %s (%.2f)\n", r <= 1.3 ? "met" : "MISSED", r);
  }
  if (const auto* d = get("simdjson-dom/bot/reused"); f && h && d)
    std::printf("bot vote, reused, against bare llhttp + bare simdjson DOM (%.1f ns, the API the library uses): %.2f\n",
                d->ns, f->ns / (h->ns + d->ns));
  std::printf("\nde-duplication, every delivery a new voter (memory store, full, oldest key forgotten per claim)\n");
  std::printf("%-12s %12s %12s %10s %12s %12s\n", "case", "off ns", "memory ns", "cost ns", "off allocs", "mem allocs");
  for (const char* kind : {"bot", "v1"}) {
    const auto* off = get(std::string("full/") + kind + "/new-voter/dedup-off");
    const auto* on = get(std::string("full/") + kind + "/new-voter/dedup-memory");
    if (off && on)
      std::printf("%-12s %12.1f %12.1f %+10.1f %12.2f %12.2f\n", kind, off->ns, on->ns, on->ns - off->ns, off->allocs,
                  on->allocs);
  }
  const auto ns = [&](const char* n) { return get(n) ? get(n)->ns : 0.0; };
  if (const auto* v = get("full/v1/reused");
      v && ns("llhttp/v1/reused") && ns("hmac/v1") && ns("simdjson-dom/v1/reused")) {
    const double base = ns("llhttp/v1/reused") + ns("hmac/v1") + ns("simdjson-dom/v1/reused");
    std::printf("signed v1 vote, reused / (bare llhttp %.1f + bare HMAC %.1f + bare simdjson DOM %.1f ns): %.2f\n",
                ns("llhttp/v1/reused"), ns("hmac/v1"), ns("simdjson-dom/v1/reused"), v->ns / base);
  }
  if (const auto* r = get("handle/bot"); r && ns("simdjson-dom/bot/reused") && ns("auth/bot"))
    std::printf("Router::handle, bot vote %.1f ns (%.2f allocs) / (bare simdjson DOM %.1f + Authorization compare %.1f "
                "ns): %.2f\n",
                r->ns, r->allocs, ns("simdjson-dom/bot/reused"), ns("auth/bot"),
                r->ns / (ns("simdjson-dom/bot/reused") + ns("auth/bot")));
  std::printf("v1 breakdown: verify (HMAC) %.0f ns, decode %.0f ns\n", get("verify/v1") ? get("verify/v1")->ns : 0.0,
              get("decode/v1") ? get("decode/v1")->ns : 0.0);
}

} // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  Collect reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  summary(reporter);
  benchmark::Shutdown();
  return 0;
}
