// RedisStreamReader: XREADGROUP / XAUTOCLAIM / XACK on one blocking
// connection, on the caller's thread.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <thread>

#include "outage.hpp"
#include "redis_sync.hpp"
#include "topgg/redis_stream.hpp"

namespace topgg {

using detail::redis::Reply;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string text_of(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

std::string default_consumer() {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0)
    host[0] = '\0';
  return std::string(host[0] ? host : "consumer") + "-" + std::to_string(::getpid());
}

} // namespace

struct RedisStreamReader::Impl {
  RedisStreamReaderOptions opt;
  std::string what; // "redis stream NAME at redis HOST:PORT/DB, group G"
  detail::redis::SyncConnection conn;
  std::function<void(std::string_view)> hook;
  std::optional<std::string> own_cursor; // after a (re)connection: this consumer's unacknowledged entries, from here
  std::string claim_cursor = "0-0";
  Steady::time_point next_claim{};

  explicit Impl(RedisStreamReaderOptions o)
      : opt(std::move(o)), what("redis stream " + opt.stream + " at " + detail::redis::where(opt.redis) + ", group " +
                                opt.group),
        conn(opt.redis) {}

  void say(std::string_view line) { detail::redis::tell(hook, line); }

  [[noreturn]] void fail(const std::string& why) {
    conn.close();
    throw std::runtime_error(std::string(what).append(": ").append(why));
  }

  Reply must(const std::vector<std::string_view>& args) {
    std::string why;
    Reply r = conn.call(args, why);
    if (!r)
      fail(why);
    if (r->type == REDIS_REPLY_ERROR)
      fail(std::string(args[0]).append(" answered ").append(text_of(r.get())));
    return r;
  }

  void connect() {
    std::string why;
    bool lasting = false;
    if (!conn.open(why, lasting))
      fail(why);
    std::string err;
    Reply r = conn.call({"XGROUP", "CREATE", opt.stream, opt.group, opt.start_at, "MKSTREAM"}, err);
    if (!r)
      fail(err);
    if (r->type == REDIS_REPLY_ERROR && text_of(r.get()).rfind("BUSYGROUP", 0) != 0)
      fail(std::string("XGROUP CREATE answered ").append(text_of(r.get())));
    own_cursor.emplace(1, '0'); // (GCC 12 -Wrestrict misfires on assigning a literal here)
  }

  /// [[id, [field, value, …] | nil], …] into entries.
  static void entries_of(const redisReply* list, bool claimed, std::vector<RedisStreamEntry>& out) {
    if (!list || list->type != REDIS_REPLY_ARRAY)
      return;
    for (std::size_t i = 0; i < list->elements; ++i) {
      const redisReply* e = list->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
        continue;
      RedisStreamEntry entry;
      entry.id = text_of(e->element[0]);
      entry.claimed = claimed;
      const redisReply* fields = e->element[1];
      if (fields->type == REDIS_REPLY_ARRAY)
        for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
          const std::string name = text_of(fields->element[f]);
          if (name == "event")
            entry.event = text_of(fields->element[f + 1]);
          else if (name == "json")
            entry.json = text_of(fields->element[f + 1]);
        }
      out.push_back(std::move(entry)); // fields nil: trimmed from the stream while pending
    }
  }

  /// XREADGROUP's answer: [[stream, entries]] or nil (nothing within BLOCK).
  static std::vector<RedisStreamEntry> read_answer(const redisReply* r) {
    std::vector<RedisStreamEntry> out;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2)
      entries_of(r->element[0]->element[1], false, out);
    return out;
  }
};

RedisStreamReader::RedisStreamReader(RedisStreamReaderOptions options) {
  detail::redis::check_connection_options(options.redis, "RedisStreamReader");
  auto refuse = [](const char* what) { throw std::invalid_argument(std::string("RedisStreamReader: ") + what); };
  if (options.stream.empty() || options.group.empty())
    refuse("empty stream or group name");
  if (options.count == 0 || options.count > 10000)
    refuse("count must be 1 to 10000");
  if (options.block.count() <= 0 || options.claim_idle.count() <= 0) // run() would spin without a block
    refuse("block and claim_idle must be positive");
  if (options.consumer.empty())
    options.consumer = default_consumer();
  impl_ = std::make_unique<Impl>(std::move(options));
}

RedisStreamReader::~RedisStreamReader() = default;

RedisStreamReader& RedisStreamReader::on_error(std::function<void(std::string_view)> hook) {
  impl_->hook = std::move(hook);
  return *this;
}

void RedisStreamReader::dispatch(const RedisStreamEntry& e) {
  std::string why;
  bool handled = false;
  const bool decoded = decode(
      e.event, e.json,
      [&](const auto& event) {
        const auto& h = std::get<Handler<std::decay_t<decltype(event)>>>(handlers_);
        if (h) {
          handled = true;
          h(event, e);
        }
      },
      why);
  if (!decoded)
    impl_->say(impl_->what + ": entry " + e.id + " acknowledged unhandled: " + why);
  (void)handled; // an event without a handler is acknowledged: this consumer does not want it
}

std::size_t RedisStreamReader::poll(std::chrono::milliseconds wait) {
  Impl& in = *impl_;
  const RedisStreamReaderOptions& o = in.opt;
  if (!in.conn.connected())
    in.connect();
  const std::string count = std::to_string(o.count);
  std::vector<RedisStreamEntry> entries;
  if (in.own_cursor) { // what this consumer read before and did not acknowledge (its last run, a failed handler)
    Reply r = in.must({"XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", count, "STREAMS", o.stream, *in.own_cursor});
    entries = Impl::read_answer(r.get());
    if (entries.empty())
      in.own_cursor.reset();
    else
      in.own_cursor = entries.back().id;
  }
  if (entries.empty() && Steady::now() >= in.next_claim) {
    const std::string idle = std::to_string(o.claim_idle.count());
    Reply r = in.must({"XAUTOCLAIM", o.stream, o.group, o.consumer, idle, in.claim_cursor, "COUNT", count});
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
      in.claim_cursor = text_of(r->element[0]);
      Impl::entries_of(r->element[1], true, entries);
    }
    if (in.claim_cursor == "0-0" || in.claim_cursor.empty()) { // went through the whole list: rest a while
      in.claim_cursor = "0-0";
      in.next_claim = Steady::now() + std::max(milliseconds(100), o.claim_idle / 4);
    }
  }
  if (entries.empty()) {
    wait = std::max(wait, milliseconds(0));
    const std::string block = std::to_string(wait.count());
    std::vector<std::string_view> read = {"XREADGROUP", "GROUP", o.group, o.consumer, "COUNT", count};
    if (wait.count() > 0) // BLOCK 0 would wait for ever: no wait asked, no BLOCK
      read.insert(read.end(), {"BLOCK", block});
    read.insert(read.end(), {"STREAMS", o.stream, ">"});
    in.conn.set_timeout(o.redis.command_timeout + wait); // BLOCK holds the answer back up to `wait`
    Reply r = in.must(read);
    in.conn.set_timeout(o.redis.command_timeout);
    entries = Impl::read_answer(r.get());
  }
  for (const RedisStreamEntry& e : entries) {
    if (!e.event.empty() || !e.json.empty()) {
      try {
        dispatch(e);
      } catch (const std::exception& ex) {
        in.say(in.what + ": the handler of " + e.event + " threw (" + ex.what() + "); entry " + e.id +
               " stays pending and is handled again after claim_idle");
        continue;
      } catch (...) {
        in.say(in.what + ": the handler of " + e.event + " threw; entry " + e.id +
               " stays pending and is handled again after claim_idle");
        continue;
      }
    }
    in.must({"XACK", o.stream, o.group, e.id});
  }
  return entries.size();
}

void RedisStreamReader::run() {
  Impl& in = *impl_;
  detail::Outage outage([&in](std::string_view line) { in.say(line); }, "redis stream reader", "reading again when it is back",
                        "reading again", "entries");
  outage.used();
  milliseconds backoff = in.opt.redis.reconnect_min;
  while (!stop_.load(std::memory_order_acquire)) {
    try {
      poll(in.opt.block);
      outage.worked();
      backoff = in.opt.redis.reconnect_min;
    } catch (const std::exception& e) {
      outage.failed(e.what());
      const auto until = Steady::now() + backoff;
      while (!stop_.load(std::memory_order_acquire) && Steady::now() < until)
        std::this_thread::sleep_for(std::min(milliseconds(50), backoff));
      backoff = detail::redis::doubled(backoff, in.opt.redis.reconnect_max);
    }
  }
}

void RedisStreamReader::stop() noexcept { stop_.store(true, std::memory_order_release); }

} // namespace topgg
