// Byte-in/byte-out harness for core tests: drives a Connection with no
// sockets and records what comes out, so one input can be replayed whole,
// one byte at a time and split at every offset, and the results compared.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "topgg/driver.hpp"
#include "topgg/topgg.hpp"

namespace th {

/// How long a test waits for something another thread does: generous, so
/// that only a broken build waits that long, however busy or slow
/// (sanitizers) the machine.
inline constexpr std::chrono::seconds patience{30};

/// Polls `done` until it holds or `patience` passes; returns done().
template <class Done> bool eventually(Done done) {
  const auto until = std::chrono::steady_clock::now() + patience;
  while (!done() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

inline topgg::Now at(int ms) {
  topgg::Now n;
  n.mono = topgg::Clock::time_point{} + std::chrono::milliseconds(ms);
  n.wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000) + std::chrono::milliseconds(ms);
  return n;
}

/// What one replay produced: the bytes written, the events seen by the
/// handlers and the error hook, and whether the connection ended.
struct Trace {
  std::string output;
  std::vector<std::string> events;
  bool finished = false;
  bool operator==(const Trace&) const = default;
};

inline std::string describe_vote(const topgg::BotVote& v) {
  std::string s = "bot " + v.bot.to_string() + " user " + v.user.to_string() + " " +
                  std::string(topgg::to_string(v.type)) + (v.is_weekend ? " weekend" : "");
  for (const auto& p : v.query)
    s += " [" + p.key + "=" + p.value + "]";
  return s;
}

inline std::string describe_vote(const topgg::ServerVote& v) {
  std::string s = "guild " + v.guild.to_string() + " user " + v.user.to_string() + " " +
                  std::string(topgg::to_string(v.type));
  for (const auto& p : v.query)
    s += " [" + p.key + "=" + p.value + "]";
  return s;
}

/// The Driver's transport, in memory: reads come from `input`, writes are
/// all taken at once into `written`.
struct MemoryTransport {
  std::deque<std::string> input;
  bool eof = false;
  std::string written;
  bool reading = false, writing = false, closed = false;
  std::optional<topgg::Clock::time_point> timer;

  topgg::IoResult read(std::span<char> into) {
    if (input.empty())
      return {eof ? topgg::IoResult::eof : topgg::IoResult::would_block, 0};
    std::string& front = input.front();
    const std::size_t n = std::min(front.size(), into.size());
    std::copy_n(front.data(), n, into.data());
    front.erase(0, n);
    if (front.empty())
      input.pop_front();
    return {topgg::IoResult::done, n};
  }
  topgg::IoResult write(std::string_view out) {
    written.append(out);
    return {topgg::IoResult::done, out.size()};
  }
  void want_read(bool on) { reading = on; }
  void want_write(bool on) { writing = on; }
  void arm_timer(std::optional<topgg::Clock::time_point> at) { timer = at; }
  void close() { closed = true; }
};

/// Feeds `chunks` to a new connection of `router` through the Driver over an
/// in-memory transport; returns what was written (no events recorded).
inline Trace drive(topgg::Router& router, const std::vector<std::string>& chunks) {
  Trace t;
  MemoryTransport io;
  topgg::Driver<MemoryTransport> d(router, io, at(0));
  d.start(at(0));
  char scratch[64 * 1024];
  for (const auto& chunk : chunks) {
    io.input.emplace_back(chunk);
    while (!io.input.empty() && io.reading && !d.closed())
      d.on_readable(at(1), scratch);
    d.on_wake(at(1));
  }
  t.output = io.written;
  t.finished = d.closed();
  return t;
}

/// A router with both vote routes, a custom GET /health route and hooks that
/// record into `events`.
struct Fixture {
  topgg::Router router;
  std::vector<std::string> events;

  explicit Fixture(std::string dbl_key = "secret-key", std::string dsl_key = "other-key") {
    router.dbl_webhook("/dbl", std::move(dbl_key))
        .dsl_webhook("/dsl", std::move(dsl_key))
        .route("GET", "/health",
               [](const topgg::Request& r) {
                 topgg::Response res;
                 res.body = "up " + std::string(r.target);
                 return res;
               })
        .on_bot_vote([this](const topgg::BotVote& v) { events.push_back(describe_vote(v)); })
        .on_server_vote([this](const topgg::ServerVote& v) { events.push_back(describe_vote(v)); })
        .on_error([this](const topgg::Rejection& r) {
          events.push_back("rejected " + std::to_string(r.status) + " " + std::string(topgg::describe(r.error)));
        })
        .on_duplicate([this](const topgg::Rejection& r) { events.push_back("duplicate " + std::to_string(r.status)); })
        .on_warning([this](std::string_view w) { events.push_back("warning " + std::string(w)); });
  }

  /// Feeds `chunks` in order through the same Driver the adapters use, over
  /// an in-memory transport, then EOF if asked.
  Trace run(const std::vector<std::string_view>& chunks, bool eof = false) {
    events.clear();
    Trace t;
    {
      MemoryTransport io;
      topgg::Driver<MemoryTransport> d(router, io, at(0));
      d.start(at(0));
      events.clear(); // warnings from the first connection are not per-request events
      char scratch[64 * 1024];
      for (auto chunk : chunks) {
        io.input.emplace_back(chunk);
        while (!io.input.empty() && io.reading && !d.closed())
          d.on_readable(at(1), scratch);
        d.on_wake(at(1));
      }
      if (eof) {
        io.eof = true;
        d.on_readable(at(2), scratch);
      }
      t.output = io.written;
      t.finished = d.closed();
    }
    t.events = events;
    return t;
  }

  Trace whole(std::string_view in, bool eof = false) { return run({in}, eof); }
};

/// Replays `in` whole, one byte at a time and split at every offset into two
/// pieces; every replay must equal the whole one. Returns the whole replay.
inline Trace replay_all(Fixture& f, std::string_view in) {
  auto fresh = [&f] { // as large as the settings say: a test may keep it small, for speed
    f.router.idempotency_store(std::make_shared<topgg::MemoryStore>(f.router.settings().dedup_capacity));
  };
  fresh(); // every replay de-duplicates afresh: the same vote is delivered each time
  const Trace ref = f.whole(in);
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < in.size(); ++i)
    bytes.push_back(in.substr(i, 1));
  fresh();
  const Trace one = f.run(bytes);
  CHECK(one == ref);
  for (std::size_t cut = 1; cut < in.size(); ++cut) {
    fresh();
    const Trace split = f.run({in.substr(0, cut), in.substr(cut)});
    if (!(split == ref)) {
      FAIL_CHECK("split at " << cut << " differs: " << split.output);
      break;
    }
  }
  return ref;
}

inline std::string post(std::string_view path, std::string_view auth, std::string_view body,
                        std::string_view extra = "") {
  std::string r = "POST " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!auth.empty())
    r += "Authorization: " + std::string(auth) + "\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra;
  r += "\r\n";
  r += body;
  return r;
}

inline const std::string bot_body =
    R"({"bot":"264811613708746752","user":"160105994217586689","type":"upvote","isWeekend":false,"query":"?ref=home"})";
inline const std::string server_body =
    R"({"guild":"5678","user":"160105994217586689","type":"test","query":{"a":"1"}})";

/// Status line of the n-th response in `out` ("HTTP/1.1 200 OK"), or "".
inline std::string status_line(std::string_view out, int n = 0) {
  std::size_t pos = 0;
  for (int i = 0; i <= n; ++i) {
    pos = out.find("HTTP/1.1 ", pos);
    if (pos == std::string_view::npos)
      return "";
    if (out.substr(pos, 12) == "HTTP/1.1 100") { // skip interim answers
      pos += 9;
      --i;
      continue;
    }
    if (i < n)
      pos += 9;
  }
  return std::string(out.substr(pos, out.find("\r\n", pos) - pos));
}

inline int count_responses(std::string_view out) {
  int n = 0;
  for (std::size_t pos = out.find("HTTP/1.1 "); pos != std::string_view::npos; pos = out.find("HTTP/1.1 ", pos + 1))
    if (out.substr(pos, 12) != "HTTP/1.1 100")
      ++n;
  return n;
}

} // namespace th
