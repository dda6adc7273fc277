// Fuzz target: Connection fed bytes. The first four input bytes choose the
// handler behaviour, small limits and split points; the rest is the byte
// stream from the peer. The stream is replayed whole, in pieces (at the chosen
// split points) and, when short, one byte at a time, each into its own
// Connection sharing one Router. The bytes written and the events seen
// (handler calls and error-hook calls) must be identical every way, and the
// output must be well-formed HTTP/1.1 responses; otherwise abort().
//
// Input layout:
//   [0] handler mode (bits 0-2), EOF before the final timer (bit 3),
//       shutdown() at the end (bit 4), empty dbl key (bit 5)
//   [1] max_header_bytes (bits 0-1), max_body_bytes (2-3), max_pipelined (4-5),
//       max_requests_per_connection (6-7): 0 keeps the default
//   [2] max_header_count (bits 0-1), max_output_bytes (2-3), split count (4-7)
//   [3] seed of the split points
//   [4..] bytes from the peer
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/topgg.hpp"

namespace {

using namespace std::chrono_literals;

[[noreturn]] void fail(const char* what, std::string_view a = {}, std::string_view b = {}) {
  std::fprintf(stderr, "fuzz_connection: %s\n--- a (%zu bytes)\n%.*s\n--- b (%zu bytes)\n%.*s\n", what, a.size(),
               static_cast<int>(a.size()), a.data(), b.size(), static_cast<int>(b.size()), b.data());
  std::abort();
}

topgg::Now at(std::int64_t ms) {
  topgg::Now n;
  n.mono = topgg::Clock::time_point{} + std::chrono::milliseconds(ms);
  n.wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000) +
           std::chrono::milliseconds(ms);
  return n;
}

enum class Mode : unsigned {
  plain,          // handler returns → 200
  plain_throws,   // throws when the user ID is odd → 500
  ack_ok,         // Ack completed inside the handler
  ack_retry,      // Ack retried inside the handler → 503
  ack_deferred,   // Ack completed after all input (ok / retry / reply by user ID % 3)
  ack_never,      // Ack dropped uncompleted → 503 at the ack deadline
  executor,       // plain handler run through an executor, jobs run after all input
  ack_reply,      // Ack completed with a Response carrying a body
};

struct World {
  std::vector<std::string> events;
  std::vector<topgg::Ack> acks;                   // deferred Acks, completed at the end
  std::deque<std::function<void()>> jobs;         // executor queue, run at the end
  Mode mode = Mode::plain;
};

World world;

std::string describe_query(const topgg::Query& q) {
  std::string s;
  for (const auto& p : q)
    s.append(" [").append(p.key).append("=").append(p.value).append("]");
  return s;
}

template <class Vote> void on_vote(const Vote& v, std::string what, topgg::Ack* ack) {
  world.events.push_back(std::move(what) + describe_query(v.query));
  const std::uint64_t user = v.user.value();
  switch (world.mode) {
  case Mode::plain_throws:
    if (user % 2)
      throw std::runtime_error("odd user");
    break;
  case Mode::ack_ok: ack->ok(); break;
  case Mode::ack_retry: ack->retry("try later"); break;
  case Mode::ack_reply: {
    topgg::Response r;
    r.status = user % 2 ? 200 : 204;
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = "{\"user\":" + std::to_string(user) + "}";
    ack->ok(std::move(r));
    break;
  }
  case Mode::ack_deferred:
  case Mode::ack_never: world.acks.push_back(*ack); break;
  default: break;
  }
}

std::string describe(const topgg::BotVote& v) {
  return "bot " + v.bot.to_string() + " user " + v.user.to_string() + " " + std::string(topgg::to_string(v.type)) +
         (v.is_weekend ? " weekend" : "");
}
std::string describe(const topgg::ServerVote& v) {
  return "server " + v.guild.to_string() + " user " + v.user.to_string() + " " + std::string(topgg::to_string(v.type));
}

// The custom route echoes the request; "?status=NNN" picks the status, "?hv=x"
// sets response header values (percent-decoded, so CR/LF can reach the core's
// filter), "?throw" makes it throw.
topgg::Response custom(const topgg::Request& r) {
  std::string ev = "custom " + std::string(r.method) + " " + std::string(r.target) + " body " +
                   std::to_string(r.body.size());
  for (const auto& h : r.headers)
    ev.append(" {").append(h.name).append(": ").append(h.value).append("}");
  world.events.push_back(ev);
  topgg::Query q;
  const auto qpos = r.target.find('?');
  if (qpos != std::string_view::npos)
    q.parse(r.target.substr(qpos));
  if (q.get("throw"))
    throw std::runtime_error("custom route threw");
  topgg::Response res;
  if (auto s = q.get("status"); s && s->size() == 3 && (*s)[0] >= '2' && (*s)[0] <= '5' && (*s)[1] >= '0' &&
                                (*s)[1] <= '9' && (*s)[2] >= '0' && (*s)[2] <= '9')
    res.status = ((*s)[0] - '0') * 100 + ((*s)[1] - '0') * 10 + ((*s)[2] - '0');
  static const char* const names[] = {"Content-Length", "connection", "Transfer-Encoding", "Content-Type", "X-Echo",
                                      ""};
  std::size_t i = 0;
  for (const auto& p : q)
    if (p.key == "hv")
      res.headers.emplace_back(names[i++ % 6], p.value);
  res.body = "echo " + std::string(r.path) + " " + std::string(r.body);
  return res;
}

// Routes are configured once; the settings, keys and handlers' behaviour
// change per input, so the Router is rebuilt when the configuration differs.
struct Config {
  unsigned char b0 = 0, b1 = 0, b2 = 0;
  bool operator==(const Config&) const = default;
};

std::unique_ptr<topgg::Router> make_router(const Config& c) {
  auto r = std::make_unique<topgg::Router>();
  topgg::Settings s;
  static const std::size_t header_bytes[] = {16 * 1024, 64, 256, 1024};
  static const std::size_t body_bytes[] = {64 * 1024, 0, 16, 200};
  static const std::size_t pipelined[] = {16, 1, 2, 4};
  static const std::uint32_t requests[] = {1000, 1, 2, 3};
  static const std::size_t header_count[] = {100, 1, 3, 8};
  static const std::size_t output_bytes[] = {256 * 1024, 1, 64, 512};
  s.max_header_bytes = header_bytes[c.b1 & 3];
  s.max_body_bytes = body_bytes[(c.b1 >> 2) & 3];
  s.max_pipelined = pipelined[(c.b1 >> 4) & 3];
  s.max_requests_per_connection = requests[(c.b1 >> 6) & 3];
  s.max_header_count = header_count[c.b2 & 3];
  s.max_output_bytes = output_bytes[(c.b2 >> 2) & 3];
  s.header_timeout = 10s;
  s.body_timeout = 10s;
  s.idle_timeout = 60s;
  s.ack_timeout = 4s;
  r->settings(s);
  r->dbl_webhook("/dbl", (c.b0 & 0x20) ? "" : "key")
      .dsl_webhook("/dsl", "key2")
      .route("", "/custom", custom)
      .route("GET", "/health", [](const topgg::Request&) { return topgg::Response{200, {}, "up"}; })
      .on_error([](const topgg::Rejection& rej) {
        // The path is compared too: a request refused before its target was
        // complete must report none, not the fragment that happened to arrive
        // (corpus/connection/repro-partial-path-*).
        world.events.push_back("rejected " + std::to_string(rej.status) + " " +
                               std::string(topgg::describe(rej.error)) + " path=" + std::string(rej.path) +
                               " detail=" + std::string(rej.detail) + " method=" + std::string(rej.method));
      })
      .on_warning([](std::string_view) {});
  const Mode mode = static_cast<Mode>(c.b0 & 7);
  if (mode == Mode::plain || mode == Mode::plain_throws || mode == Mode::executor) {
    r->on_bot_vote([](const topgg::BotVote& v) { on_vote(v, describe(v), nullptr); });
    r->on_server_vote([](const topgg::ServerVote& v) { on_vote(v, describe(v), nullptr); });
  } else {
    r->on_bot_vote([](const topgg::BotVote& v, topgg::Ack a) { on_vote(v, describe(v), &a); });
    r->on_server_vote([](const topgg::ServerVote& v, topgg::Ack a) { on_vote(v, describe(v), &a); });
  }
  if (mode == Mode::executor)
    r->executor([](std::function<void()> job) { world.jobs.push_back(std::move(job)); });
  return r;
}

struct Trace {
  std::string output;
  std::vector<std::string> events;
  std::uint64_t requests = 0;
  bool finished_before_timer = false;
  bool operator==(const Trace&) const = default;
};

// Pulls every byte the connection has to write, resuming held input until
// nothing more comes out (held input can need several rounds once
// max_output_bytes or max_pipelined stop it).
void drain(topgg::Connection& c, std::string& out, topgg::Now now) {
  for (int round = 0; round < 100000; ++round) {
    auto o = c.output();
    out.append(o);
    c.consume(o.size());
    c.resume(now);
    if (c.output().empty())
      return;
  }
  fail("drain did not settle");
}

Trace run(topgg::Router& router, const Config& cfg, const std::vector<std::string_view>& pieces) {
  router.idempotency_store(std::make_shared<topgg::MemoryStore>()); // every replay de-duplicates afresh
  world.events.clear();
  world.acks.clear();
  world.jobs.clear();
  Trace t;
  topgg::Connection c(router, at(0));
  // Memory: whatever the peer sends, the connection's request buffers stay
  // within what the limits allow (std::string may double its capacity once
  // past a limit's size; the body also reserves simdjson's padding).
  const topgg::Settings& lim = router.settings();
  const std::size_t memory_bound = 2 * (lim.max_header_bytes + lim.max_body_bytes) + 256;
  for (std::string_view p : pieces) {
    c.receive(p, at(1));
    if (c.buffered_input() > memory_bound)
      fail("request buffers grew past what the limits allow", std::to_string(c.buffered_input()),
           std::to_string(memory_bound));
    drain(c, t.output, at(1));
    c.on_timer(at(1)); // nothing is due yet: must change nothing
    drain(c, t.output, at(1));
  }
  // All input is in: run queued jobs and complete deferred Acks, in order.
  const Mode mode = static_cast<Mode>(cfg.b0 & 7);
  for (int round = 0; round < 1000 && (!world.jobs.empty() || !world.acks.empty()); ++round) {
    while (!world.jobs.empty()) {
      auto job = std::move(world.jobs.front());
      world.jobs.pop_front();
      job();
    }
    auto acks = std::move(world.acks);
    world.acks.clear();
    if (mode == Mode::ack_deferred) {
      for (std::size_t i = 0; i < acks.size(); ++i) {
        if (i % 3 == 0)
          acks[i].ok();
        else if (i % 3 == 1)
          acks[i].retry();
        else
          acks[i].ok(topgg::Response{202, {{"X-Late", "yes"}}, "late"});
        if (acks[i].ok()) // a second completion is ignored
          fail("second Ack completion won");
      }
    }
    drain(c, t.output, at(1));
  }
  if (cfg.b0 & 0x08) {
    c.receive_eof(at(2));
    drain(c, t.output, at(2));
  }
  if (cfg.b0 & 0x10) {
    c.shutdown(at(2));
    drain(c, t.output, at(2));
  }
  t.finished_before_timer = c.done();
  // The timer fires at each deadline() in turn, as an adapter would arm it:
  // pending Acks expire (503), a half-read request gets 408, an idle
  // connection closes.
  for (int round = 0; round < 10000 && !c.done(); ++round) {
    const auto d = c.deadline();
    if (!d)
      break;
    topgg::Now when = at(0);
    when.wall += *d - when.mono;
    when.mono = *d;
    c.on_timer(when);
    drain(c, t.output, when);
  }
  // Then once more, past every deadline.
  const auto late = at(24 * 3600 * 1000);
  c.on_timer(late);
  t.output.append(c.output());
  c.consume(c.output().size());
  if (auto d = c.deadline(); d && *d > late.mono && !c.done())
    fail("deadline after the final timer lies in the future");
  c.on_timer(late); // everything due is done: the second run must be quiet
  drain(c, t.output, late);
  if (!c.done())
    fail("connection not finished after every deadline passed", t.output);
  // A finished connection neither reads nor writes.
  const std::size_t events_before = world.events.size();
  c.receive("POST /dbl HTTP/1.1\r\nHost: x\r\nAuthorization: key\r\nContent-Length: 2\r\n\r\n{}", late);
  c.resume(late);
  c.on_timer(late);
  if (!c.output().empty() || world.events.size() != events_before || c.want_read())
    fail("a finished connection reacted to more input", c.output());
  t.requests = c.requests_seen();
  t.events = world.events;
  return t;
}

bool is_tchar(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

// Answers to HEAD requests carry neither a body nor a Content-Length; every
// other answer with a body status carries Content-Length. Each answered HEAD
// request left one event naming its method (a rejection or the custom route),
// so the answers without Content-Length can be no more than those.
std::size_t head_answers(const std::vector<std::string>& events) {
  std::size_t n = 0;
  for (const auto& e : events)
    n += e.starts_with("custom HEAD ") || e.ends_with(" method=HEAD");
  return n;
}

// The output must parse as a sequence of HTTP/1.1 responses with a correct
// Content-Length, only safe header bytes, and nothing after "Connection: close".
// Returns the number of final (non-1xx) responses.
std::size_t check_output(std::string_view out, std::size_t heads) {
  std::size_t finals = 0;
  std::string_view rest = out;
  while (!rest.empty()) {
    if (!rest.starts_with("HTTP/1.1 ") || rest.size() < 13 || rest[12] != ' ')
      fail("response does not start with a status line", out);
    int status = 0;
    for (int i = 9; i < 12; ++i) {
      if (rest[i] < '0' || rest[i] > '9')
        fail("status is not three digits", out);
      status = status * 10 + (rest[i] - '0');
    }
    const std::size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos)
      fail("response head not terminated", out);
    std::string_view head = rest.substr(0, end + 2);
    head.remove_prefix(head.find("\r\n") + 2);
    long long length = -1;
    bool close = false;
    while (!head.empty()) {
      const std::size_t eol = head.find("\r\n");
      const std::string_view line = head.substr(0, eol);
      head.remove_prefix(eol + 2);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0)
        fail("header line without a name", out);
      for (char ch : line.substr(0, colon))
        if (!is_tchar(ch))
          fail("header name is not a token", out);
      for (char ch : line)
        if (ch == '\r' || ch == '\n' || ch == '\0')
          fail("CR, LF or NUL inside a header line", out);
      std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      if (topgg::iequals(name, "content-length")) {
        if (length >= 0)
          fail("two Content-Length headers", out);
        length = 0;
        if (value.empty() || value.size() > 9)
          fail("bad Content-Length", out);
        for (char ch : value) {
          if (ch < '0' || ch > '9')
            fail("bad Content-Length", out);
          length = length * 10 + (ch - '0');
        }
      } else if (topgg::iequals(name, "connection")) {
        close = close || topgg::iequals(value, "close");
      } else if (topgg::iequals(name, "transfer-encoding")) {
        fail("Transfer-Encoding in a response", out);
      }
    }
    rest.remove_prefix(end + 4);
    if (status < 200)
      continue;
    ++finals;
    if (status == 204 || status == 304) {
      if (length > 0)
        fail("bodyless status with a body length", out);
    } else {
      if (length < 0 && heads-- == 0)
        fail("response without Content-Length (and not a HEAD answer)", out);
      length = std::max(length, 0LL);
      if (static_cast<std::size_t>(length) > rest.size())
        fail("body shorter than Content-Length", out);
      rest.remove_prefix(static_cast<std::size_t>(length));
    }
    if (close && !rest.empty())
      fail("bytes after a Connection: close response", out);
  }
  return finals;
}

void compare_exact(const Trace& a, const Trace& b, const char* how);

// A head over max_header_bytes is 431 and a bad byte within it 400,
// however the bytes were split (corpus/connection/repro-431-or-400): compared
// exactly.
void compare(const Trace& a, const Trace& b, const char* how) { compare_exact(a, b, how); }

void compare_exact(const Trace& a, const Trace& b, const char* how) {
  if (a.output != b.output)
    fail(how, a.output, b.output);
  if (a.events != b.events) {
    std::string ea, eb;
    for (const auto& e : a.events)
      ea.append(e).append("\n");
    for (const auto& e : b.events)
      eb.append(e).append("\n");
    fail(how, ea, eb);
  }
  if (a.requests != b.requests || a.finished_before_timer != b.finished_before_timer)
    fail(how, "requests/finished differ");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4)
    return 0;
  static Config current;
  static std::unique_ptr<topgg::Router> router;
  const Config cfg{data[0], data[1], data[2]};
  if (!router || !(cfg == current)) {
    router = make_router(cfg);
    current = cfg;
  }
  world.mode = static_cast<Mode>(cfg.b0 & 7);
  const std::string_view in(reinterpret_cast<const char*>(data) + 4, size - 4);

  const Trace whole = run(*router, cfg, {in});
  const std::size_t finals = check_output(whole.output, head_answers(whole.events));
  if (finals < whole.requests || finals > whole.requests + 1)
    fail("responses and requests do not pair up", whole.output);

  // Split points from a small xorshift PRNG seeded by data[3].
  std::vector<std::string_view> pieces;
  {
    std::uint32_t x = 0x9e3779b9u ^ (static_cast<std::uint32_t>(data[3]) * 0x01000193u) ^ static_cast<std::uint32_t>(size);
    std::vector<std::size_t> cuts;
    const unsigned n = data[2] >> 4;
    for (unsigned i = 0; i < n && !in.empty(); ++i) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      cuts.push_back(x % (in.size() + 1));
    }
    std::sort(cuts.begin(), cuts.end());
    std::size_t prev = 0;
    for (std::size_t cut : cuts) {
      pieces.push_back(in.substr(prev, cut - prev)); // empty pieces too: receive("") must be harmless
      prev = cut;
    }
    pieces.push_back(in.substr(prev));
  }
  compare(whole, run(*router, cfg, pieces), "whole and split replays differ");

  if (in.size() <= 1024) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < in.size(); ++i)
      bytes.push_back(in.substr(i, 1));
    compare(whole, run(*router, cfg, bytes), "whole and byte-by-byte replays differ");
  }
  return 0;
}
