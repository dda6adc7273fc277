// The Discord poster's pure parts (topgg/discord.hpp): the template, the request body, the rate
// limits with an injected clock; and its queues, in memory and in an SQLite store's file.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "topgg/discord.hpp"
#include "topgg/sqlite_post_queue.hpp"
#include "topgg/sqlite_store.hpp"

using namespace std::chrono_literals;
using topgg::discord::Answer;
using topgg::discord::RateLimits;
using topgg::discord::Template;
using topgg::discord::VoteFields;

namespace {

VoteFields v1_vote() {
  topgg::v1::VoteCreate v;
  v.weight = 2;
  v.project = {"803190510032756736", "bot", "discord", "264811613708746752"};
  v.user = {"9001", "661200758510977084", "Ann <@&1> @everyone", ""};
  v.route = "/topgg";
  return topgg::discord::fields_of(v);
}

Answer answer(long status, std::vector<std::pair<std::string, std::string>> headers, std::string body = {}) {
  return Answer{status, std::move(headers), std::move(body)};
}

const RateLimits::Clock::time_point t0{std::chrono::hours(1000)};

} // namespace

TEST_CASE("fields of each event kind") {
  const VoteFields v = v1_vote();
  CHECK(v.event == "vote.create");
  CHECK(v.user_id == "661200758510977084");
  CHECK(v.bot == "264811613708746752");
  CHECK(v.project == "803190510032756736");
  CHECK(v.weekend);
  topgg::BotVote b;
  b.bot = *topgg::Snowflake::parse("264811613708746752");
  b.user = *topgg::Snowflake::parse("12345678901234567");
  b.type = topgg::VoteType::test;
  const VoteFields bf = topgg::discord::fields_of(b);
  CHECK(bf.event == "dbl_vote");
  CHECK(bf.test);
  CHECK(bf.weight == 1);
  topgg::ServerVote s;
  s.guild = *topgg::Snowflake::parse("33333333333333333");
  s.user = b.user;
  CHECK(topgg::discord::fields_of(s).guild == "33333333333333333");
}

TEST_CASE("the template: placeholders, braces, the default mentions the voter") {
  VoteFields f = v1_vote();
  CHECK(Template().render(f) == "Thank you for voting, <@661200758510977084>!");
  f.streak = 3;
  const Template t("{{{user_name}}} x{weight} weekend={weekend} streak={streak} {event} {route} {type} {bot}/{guild}/"
                   "{project} {user_id}");
  CHECK(t.uses_streak());
  CHECK(t.render(f) == "{Ann <@&1> @everyone} x2 weekend=yes streak=3 vote.create /topgg upvote 264811613708746752//"
                       "803190510032756736 661200758510977084");
  CHECK_FALSE(Template("{user}").uses_streak());
  f.user_name.clear();
  CHECK(Template("{user_name}").render(f) == "<@661200758510977084>");
  CHECK_THROWS_AS(Template("hi {nope}"), std::invalid_argument);
  CHECK_THROWS_AS(Template("hi {user"), std::invalid_argument);
  CHECK_THROWS_AS(Template("hi }"), std::invalid_argument);
  CHECK_THROWS_AS(Template(""), std::invalid_argument);
}

TEST_CASE("a long message is cut at a character boundary to 2000 characters") {
  VoteFields f = v1_vote();
  std::string text;
  for (int i = 0; i < 1990; ++i)
    text += "\xc3\xa9"; // é, two bytes
  text += "{user_name}{user_name}{user_name}";
  const std::string out = Template(text).render(f);
  std::size_t chars = 0;
  for (unsigned char c : out)
    chars += (c & 0xC0) != 0x80;
  CHECK(chars == 2000);
  CHECK(out.substr(out.size() - 3) == "\xe2\x80\xa6");
  CHECK(Template("{user}").render(f).size() < 2000);
}

TEST_CASE("the body lets only the voter be mentioned, and escapes the text") {
  const VoteFields f = v1_vote();
  CHECK(topgg::discord::message_body(f, "a \"b\"\n\\") ==
        R"({"content":"a \"b\"\n\\","allowed_mentions":{"parse":[],"users":["661200758510977084"]}})");
  VoteFields odd = f;
  odd.user_id = "12\"]}";
  CHECK(topgg::discord::message_body(odd, "x") == R"({"content":"x","allowed_mentions":{"parse":[],"users":[]}})");
}

TEST_CASE("rate limits: remaining 0 waits for the bucket's reset; others go at once") {
  RateLimits r;
  CHECK(r.ready_at("w") <= t0);
  CHECK(r.observe("w", answer(204, {{"x-ratelimit-remaining", "4"}, {"x-ratelimit-reset-after", "2"}}), t0) == 0ms);
  CHECK(r.observe("w",
                  answer(204, {{"x-ratelimit-bucket", "abc"},
                               {"x-ratelimit-remaining", "0"},
                               {"x-ratelimit-reset-after", "1.25"}}),
                  t0) == 1250ms);
  CHECK(r.ready_at("w") == t0 + 1250ms);
  CHECK(r.ready_at("other") <= t0); // another route, another bucket
  // After the reset: a request with requests left clears the wait.
  CHECK(r.observe(
            "w",
            answer(204,
                   {{"x-ratelimit-bucket", "abc"}, {"x-ratelimit-remaining", "3"}, {"x-ratelimit-reset-after", "5"}}),
            t0 + 2s) == 0ms);
}

TEST_CASE("rate limits: a 429's retry_after from the body, else Retry-After; global applies to every route") {
  RateLimits r;
  CHECK(r.observe("w",
                  answer(429, {}, R"({"message":"You are being rate limited.","retry_after":0.75,"global":false})"),
                  t0) == 750ms);
  CHECK_FALSE(r.last_was_global());
  CHECK(r.ready_at("other") <= t0);
  CHECK(r.observe("w", answer(429, {{"retry-after", "3"}}), t0) == 3000ms);
  RateLimits g;
  CHECK(g.observe("w", answer(429, {}, R"({"retry_after":2.5,"global":true})"), t0) == 2500ms);
  CHECK(g.last_was_global());
  CHECK(g.ready_at("other") == t0 + 2500ms);
  RateLimits h;
  CHECK(h.observe("w", answer(429, {{"x-ratelimit-global", "true"}, {"retry-after", "4"}}), t0) == 4000ms);
  CHECK(h.ready_at("any") == t0 + 4s);
  RateLimits none;
  CHECK(none.observe("w", answer(429, {}, "<html>"), t0) == RateLimits::default_retry);
  RateLimits huge;
  CHECK(huge.observe("w", answer(429, {}, R"({"retry_after":1e12})"), t0) == RateLimits::longest_wait);
}

TEST_CASE("rate limits: a new bucket name forgets the old bucket's wait") {
  RateLimits r;
  r.observe(
      "w", answer(204, {{"x-ratelimit-bucket", "a"}, {"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset-after", "9"}}),
      t0);
  CHECK(r.ready_at("w") == t0 + 9s);
  CHECK(r.observe("w", answer(204, {{"x-ratelimit-bucket", "b"}}), t0) == 0ms);
}

namespace {
void queue_contract(topgg::PostQueue& q) {
  CHECK(q.size() == 0);
  CHECK_FALSE(q.front());
  CHECK(q.push("one"));
  CHECK(q.push("two"));
  CHECK(q.push("three"));
  CHECK_FALSE(q.push("four")); // capacity 3
  CHECK(q.size() == 3);
  const auto a = q.front();
  REQUIRE(a);
  CHECK(a->body == "one");
  q.pop(a->seq);
  const auto b = q.front();
  REQUIRE(b);
  CHECK(b->body == "two");
  CHECK(b->seq > a->seq);
  CHECK(q.push("four"));
  q.pop(b->seq);
  q.pop(b->seq); // twice: nothing
  CHECK(q.front()->body == "three");
  CHECK(q.size() == 2);
}
} // namespace

TEST_CASE("the memory queue keeps order and its capacity") {
  topgg::MemoryPostQueue q(3);
  queue_contract(q);
}

TEST_CASE("the SQLite queue keeps order and its capacity, across reopening, beside the store") {
  char dir[] = "/tmp/topgg-discord-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = std::string(dir) + "/store.db";
  {
    topgg::SqliteStore store(path);
    std::uint64_t last = 0;
    {
      topgg::SqlitePostQueue q(path, 3);
      queue_contract(q);
      last = q.front()->seq;
    }
    topgg::SqlitePostQueue again(path, 3);
    CHECK(again.size() == 2);
    const auto first = again.front();
    REQUIRE(first);
    CHECK(first->body == "three");
    again.pop(first->seq);
    again.pop(again.front()->seq);
    CHECK(again.size() == 0);
    CHECK(again.push("five"));
    CHECK(again.front()->seq > last + 1); // numbers never go back, even after the queue emptied
  }
  // A file no SqliteStore made is refused: the store would then refuse it.
  const std::string bare = std::string(dir) + "/bare.db";
  std::FILE* f = std::fopen(bare.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
  CHECK_THROWS_AS(topgg::SqlitePostQueue(bare, 3), std::invalid_argument);
  std::remove(bare.c_str());
  for (const char* suffix : {"", "-wal", "-shm"})
    std::remove((path + suffix).c_str());
  rmdir(dir);
}

TEST_CASE("the poster's counters in Prometheus' text format") {
  topgg::discord::PosterStats s;
  s.posted = 7;
  s.retried = 5;
  s.rate_limited = 2;
  s.overflow = 1;
  s.queued = 3;
  std::string out;
  topgg::discord::write_prometheus(s, out);
  CHECK(out.find("\ntopgg_webhook_discord_posts_total 7\n") != std::string::npos);
  CHECK(out.find("\ntopgg_webhook_discord_retries_total{reason=\"rate_limited\"} 2\n") != std::string::npos);
  CHECK(out.find("\ntopgg_webhook_discord_retries_total{reason=\"failed\"} 3\n") != std::string::npos);
  CHECK(out.find("\ntopgg_webhook_discord_dropped_total 1\n") != std::string::npos);
  CHECK(out.find("\ntopgg_webhook_discord_queued 3\n") != std::string::npos);
  CHECK(out.find("\ntopgg_webhook_discord_stopped 0\n") != std::string::npos);
  CHECK(out.find("# TYPE topgg_webhook_discord_queued gauge\n") != std::string::npos);
}

namespace {

// A queue whose store is down while `broken`: push() throws. (The real stores are tested elsewhere.)
class BrokenQueue final : public topgg::PostQueue {
public:
  std::atomic<bool> broken{true};
  std::atomic<int> pushes{0}; // push() calls, failed ones included
  topgg::MemoryPostQueue inner{1000};
  bool push(std::string_view body) override {
    ++pushes;
    if (broken)
      throw std::runtime_error("the store is down");
    return inner.push(body);
  }
  std::optional<topgg::QueuedPost> front() override { return inner.front(); }
  void pop(std::uint64_t seq) override { inner.pop(seq); }
  std::size_t size() override { return inner.size(); }
};

// Nothing listens on port 1: every post fails at once and is tried again.
topgg::discord::PosterOptions unreachable(std::size_t intake) {
  topgg::discord::PosterOptions o;
  o.webhook_url = "https://127.0.0.1:1/api/webhooks/1/abcdefghijklmnop";
  o.intake = intake;
  o.retry_first = o.retry_most = 5ms;
  o.stop_grace = 100ms;
  return o;
}

// Waits (generously: a busy machine) for `done`.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The poster's lines (PosterOptions::on_log), kept from its thread for the test's.
class Lines {
public:
  std::function<void(std::string_view)> hook() {
    return [this](std::string_view l) {
      std::lock_guard lock(m_);
      all_.emplace_back(l);
    };
  }
  /// How many lines hold `what`.
  int count(std::string_view what) {
    std::lock_guard lock(m_);
    int n = 0;
    for (const auto& l : all_)
      n += l.find(what) != std::string::npos;
    return n;
  }

private:
  std::mutex m_;
  std::vector<std::string> all_;
};

// Two push() calls begun after this: the poster's thread took what post() had handed over before.
bool taken(const BrokenQueue& q) {
  const int seen = q.pushes;
  return eventually([&] { return q.pushes >= seen + 2; });
}

} // namespace

TEST_CASE("the poster holds at most `intake` events while the queue's store is down; one line says so") {
  auto q = std::make_shared<BrokenQueue>();
  Lines lines;
  auto o = unreachable(5);
  o.on_log = lines.hook();
  topgg::discord::Poster poster(o, q);
  for (int i = 0; i < 20; ++i) {
    const auto before = poster.stats().overflow;
    poster.post(v1_vote());
    if (poster.stats().overflow == before)
      REQUIRE(taken(*q)); // handed to the thread, which cannot queue it: it still counts
  }
  CHECK(poster.stats().overflow == 15);
  q->broken = false;
  REQUIRE(eventually([&] { return q->inner.size() >= 5; }));
  poster.stop();
  CHECK(q->inner.size() == 5); // those held, no more
  CHECK(lines.count("events wait to be queued") == 1);
}

TEST_CASE("an on_log that throws stops neither the poster nor post()") {
  auto q = std::make_shared<BrokenQueue>();
  std::atomic<int> calls{0};
  auto o = unreachable(1);
  o.on_log = [&](std::string_view) {
    ++calls;
    throw std::runtime_error("the log is broken");
  };
  topgg::discord::Poster poster(o, q);
  poster.post(v1_vote());
  REQUIRE(taken(*q));                    // its "cannot queue" line threw on the poster's thread
  CHECK_NOTHROW(poster.post(v1_vote())); // the intake is full: that line throws on this thread
  CHECK(poster.stats().overflow == 1);
  q->broken = false;
  REQUIRE(eventually([&] { return q->inner.size() == 1; }));
  REQUIRE(eventually([&] { return poster.stats().retried >= 2; })); // posting fails, logs, goes on
  CHECK(calls >= 3);
  poster.stop();
}

TEST_CASE("stop() from two threads at once: both return, the thread is joined once") {
  auto q = std::make_shared<BrokenQueue>();
  auto o = unreachable(10);
  o.on_log = [](std::string_view) {};
  for (int round = 0; round < 20; ++round) {
    topgg::discord::Poster poster(o, q);
    poster.post(v1_vote());
    std::atomic<int> threw{0};
    const auto stop = [&] {
      try {
        poster.stop();
      } catch (...) {
        ++threw;
      }
    };
    std::thread a(stop), b(stop);
    a.join();
    b.join();
    CHECK(threw == 0);
  }
}

TEST_CASE("set_webhook_url: a malformed URL is refused; a new one is taken by the thread for its next attempt") {
  auto q = std::make_shared<topgg::MemoryPostQueue>(10);
  Lines lines;
  auto o = unreachable(10); // 127.0.0.1
  o.on_log = lines.hook();
  topgg::discord::Poster poster(o, q);
  for (const char* bad :
       {"http://127.0.0.2/api/webhooks/1/x", "https://", "https://a b/c", "https://a/b#c", "https://a/b\n", ""})
    CHECK_THROWS_AS(poster.set_webhook_url(bad), std::invalid_argument);
  poster.set_webhook_url("https://127.0.0.2:1/api/webhooks/2/qrstuvwxyz0123456789"); // another loopback address
  REQUIRE(eventually([&] { return lines.count("a new webhook URL is used from now on") == 1; }));
  CHECK(lines.count("posting again") == 0); // posting had not stopped
  CHECK(lines.count("127.0.0.1") == 0);     // nothing was tried before: no line names the old address
  poster.post(v1_vote());
  REQUIRE(eventually([&] { return lines.count("Discord: cannot post") > 0; }));
  CHECK(lines.count("127.0.0.2") > 0); // libcurl's error names the address it tried: the new one
  CHECK(lines.count("127.0.0.1") == 0);
  poster.stop();
  CHECK(q->size() == 1); // never accepted: kept
}
