// RedisStreamWriter: a queue, one thread, one blocking connection; what is
// queued goes out as one pipelined batch of XADDs.
#include "topgg/redis_stream.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common.hpp"
#include "outage.hpp"
#include "redis_sync.hpp"

namespace topgg {

using detail::redis::Reply;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct Item {
  RedisStreamWriter::Fields fields;
  RedisStreamWriter::Done done;
  std::function<bool()> wanted;
  bool finished = false;
};

constexpr std::size_t kBatch = 512; // XADDs per round trip at most

} // namespace

struct RedisStreamWriter::Impl {
  const RedisStreamOptions opt;
  const std::string what; // "redis stream NAME at redis HOST:PORT/DB"
  const std::string max_len;

  mutable std::mutex m; // guards what callers share with the thread
  std::condition_variable cv;
  std::deque<Item> queue;
  std::vector<std::shared_ptr<detail::redis::ProbeWait>> probes;
  bool stopping = false;
  std::function<void(std::string_view)> hook;
  std::atomic<std::uint64_t> added{0}, failed{0};

  // The thread's own.
  std::thread thread;
  detail::redis::SyncConnection conn;
  detail::Outage outage;
  milliseconds backoff;
  Steady::time_point retry_at{};
  std::string down_why = "not connected yet";

  explicit Impl(RedisStreamOptions o)
      : opt(std::move(o)), what("redis stream " + opt.stream + " at " + detail::redis::where(opt.redis)),
        max_len(std::to_string(opt.max_len)), conn(opt.redis),
        outage([this](std::string_view line) { say(line); }, what, "deliveries are answered 503 until it is back",
               "adding again", "events"),
        backoff(opt.redis.reconnect_min) {}

  void say(std::string_view line) {
    std::function<void(std::string_view)> h;
    {
      std::lock_guard lock(m);
      h = hook;
    }
    detail::redis::tell(h, line);
  }

  void finish(Item& it, bool ok, std::string_view text) {
    if (it.finished)
      return;
    it.finished = true;
    (ok ? added : failed).fetch_add(1, std::memory_order_relaxed);
    if (!it.done)
      return;
    try {
      it.done(ok, text);
    } catch (...) { // contained: the writer's thread goes on
    }
  }

  /// Connects unless connected or waiting out the back-off; true when connected.
  bool ensure_connected(bool at_once) {
    if (conn.connected())
      return true;
    if (!at_once && Steady::now() < retry_at)
      return false;
    std::string why;
    bool lasting = false;
    if (conn.open(why, lasting)) {
      backoff = opt.redis.reconnect_min;
      answer_probes(RedisProbe::Kind::ok, {});
      return true;
    }
    down(why);
    answer_probes(lasting ? RedisProbe::Kind::permanent : RedisProbe::Kind::transient, why);
    return false;
  }

  void down(const std::string& why) {
    conn.close();
    down_why = why;
    outage.failed(why);
    retry_at = Steady::now() + backoff;
    backoff = detail::redis::doubled(backoff, opt.redis.reconnect_max);
  }

  void answer_probes(RedisProbe::Kind kind, const std::string& why) {
    std::vector<std::shared_ptr<detail::redis::ProbeWait>> waiting;
    {
      std::lock_guard lock(m);
      waiting.swap(probes);
    }
    for (auto& p : waiting)
      p->finish(kind, why);
  }

  /// One batch: appended whole, then each answer read in order.
  void send(std::vector<Item>& batch) {
    outage.used();
    if (!ensure_connected(false)) {
      for (Item& it : batch)
        finish(it, false, what + ": " + down_why);
      return;
    }
    std::vector<Item*> sent;
    sent.reserve(batch.size());
    std::string why;
    std::vector<std::string_view> args;
    for (Item& it : batch) {
      if (it.wanted && !it.wanted()) {
        finish(it, false, "the delivery was answered already");
        continue;
      }
      args.assign({"XADD", opt.stream});
      if (opt.max_len > 0)
        args.insert(args.end(), {"MAXLEN", "~", max_len});
      args.push_back("*");
      for (const auto& [name, value] : it.fields) {
        args.push_back(name);
        args.push_back(value);
      }
      if (!conn.append(args, why))
        break;
      sent.push_back(&it);
    }
    std::size_t answered = 0;
    bool reconnect = !conn.connected();
    for (; answered < sent.size() && !reconnect; ++answered) {
      Reply r = conn.reply(why);
      if (!r) {
        reconnect = true;
        break;
      }
      if (r->type == REDIS_REPLY_STRING) {
        outage.worked();
        finish(*sent[answered], true, std::string_view(r->str, r->len));
        continue;
      }
      const std::string text = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "unexpected reply to XADD";
      outage.failed(text); // e.g. WRONGTYPE: the key holds something else; told once
      down_why = text;
      finish(*sent[answered], false, what + ": " + text);
      if (r->type == REDIS_REPLY_ERROR && detail::redis::SyncConnection::reconnect_error(*r)) {
        ++answered;
        reconnect = true;
        why = text;
        break;
      }
    }
    if (reconnect) {
      down(why);
      for (std::size_t i = answered; i < sent.size(); ++i)
        finish(*sent[i], false, what + ": " + why);
    }
    for (Item& it : batch) // never appended: the connection broke while appending
      finish(it, false, what + ": " + why);
  }

  void run() {
    std::unique_lock lock(m);
    for (;;) {
      const bool down_now = !conn.connected();
      auto ready = [&] { return stopping || !queue.empty() || !probes.empty(); };
      if (down_now && outage.down())
        cv.wait_until(lock, retry_at, ready); // reconnect without deliveries: the "back" line comes when it is
      else
        cv.wait(lock, ready);
      if (!probes.empty()) {
        lock.unlock();
        if (conn.connected())
          answer_probes(RedisProbe::Kind::ok, {});
        else
          ensure_connected(true);
        lock.lock();
        continue;
      }
      if (stopping) { // not sent now: its delivery is not answered 2xx any more, and would be added twice
        std::deque<Item> left;
        left.swap(queue);
        lock.unlock();
        for (Item& it : left)
          finish(it, false, what + ": the writer is closing");
        break;
      }
      if (queue.empty()) {
        lock.unlock();
        if (ensure_connected(false)) {
          std::string why;
          Reply r = conn.call({"PING"}, why); // the store's own check that the server answers
          if (r && r->type != REDIS_REPLY_ERROR)
            outage.worked();
          else if (!r)
            down(why);
        }
        lock.lock();
        continue;
      }
      std::vector<Item> batch;
      const std::size_t n = std::min(queue.size(), kBatch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      lock.unlock();
      send(batch);
      lock.lock();
    }
  }
};

RedisStreamWriter::RedisStreamWriter(RedisStreamOptions options) {
  detail::redis::check_connection_options(options.redis, "RedisStreamWriter");
  if (options.stream.empty())
    throw std::invalid_argument("RedisStreamWriter: empty stream name");
  if (options.max_pending == 0)
    throw std::invalid_argument("RedisStreamWriter: max_pending must be positive");
  impl_ = std::make_shared<Impl>(std::move(options));
  impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

RedisStreamWriter::~RedisStreamWriter() {
  {
    std::lock_guard lock(impl_->m);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  detail::join_unless_self(impl_->thread);
}

void RedisStreamWriter::on_error(std::function<void(std::string_view)> hook) {
  std::lock_guard lock(impl_->m);
  impl_->hook = std::move(hook);
}

void RedisStreamWriter::add(Fields fields, Done done, std::function<bool()> wanted) {
  Item it{std::move(fields), std::move(done), std::move(wanted)};
  {
    std::lock_guard lock(impl_->m);
    if (!impl_->stopping && impl_->queue.size() < impl_->opt.max_pending) {
      impl_->queue.push_back(std::move(it));
      if (impl_->queue.size() == 1)
        impl_->cv.notify_one();
      return;
    }
  }
  impl_->finish(it, false, impl_->what + ": too many events waiting");
}

void RedisStreamWriter::add(std::string_view event, std::string json, Ack ack) {
  Fields f;
  f.reserve(2);
  f.emplace_back("event", std::string(event));
  f.emplace_back("json", std::move(json));
  add(
      std::move(f),
      [ack](bool ok, std::string_view why) {
        if (ok)
          ack.ok();
        else
          ack.retry(why);
      },
      [ack] { return !ack.done(); });
}

RedisProbe RedisStreamWriter::probe(std::chrono::milliseconds timeout) {
  auto p = std::make_shared<detail::redis::ProbeWait>();
  {
    std::lock_guard lock(impl_->m);
    impl_->probes.push_back(p);
  }
  impl_->cv.notify_one();
  return p->wait(timeout);
}

bool RedisStreamWriter::available() const noexcept { return !impl_->outage.down_now(); }

std::string RedisStreamWriter::unavailable_reason() const { return impl_->outage.why_now(); }

RedisStreamWriter::Counts RedisStreamWriter::counts() const noexcept {
  return {impl_->added.load(std::memory_order_relaxed), impl_->failed.load(std::memory_order_relaxed)};
}

} // namespace topgg
