#include "redis_stream.hpp"

#include <chrono>
#include <stdexcept>

#include "dedup.hpp"
#include "log.hpp"
#include "secrets.hpp"

#if TOOL_HAVE_REDIS
#include "topgg/redis_stream.hpp"
#endif

namespace tool {

#if TOOL_HAVE_REDIS

namespace {

/// --redis-stream-url, else the Redis of --dedup redis…, else $TOPGG_REDIS_URL.
std::string stream_url(const Options& o) {
  if (o.has("redis-stream-url"))
    return o.get("redis-stream-url");
  const std::string dedup = o.has("no-dedup") ? "" : o.get("dedup", "");
  if (dedup.rfind("redis://", 0) == 0)
    return dedup;
  std::string url = find_secret("TOPGG_REDIS_URL", "redis-url").value;
  if (url.empty())
    usage_error("--redis-stream needs a Redis: --redis-stream-url URL, --dedup redis://…, or $TOPGG_REDIS_URL "
                "($TOPGG_REDIS_URL_FILE, the credential redis-url)");
  return url;
}

} // namespace

std::shared_ptr<topgg::RedisStreamWriter> make_stream(const Options& o) {
  if (!o.has("redis-stream")) {
    for (const char* opt : {"redis-stream-url", "redis-stream-maxlen"})
      if (o.has(opt))
        usage_error(std::string("--") + opt + " needs --redis-stream");
    return nullptr;
  }
  if (o.has("no-dedup")) // without it, Top.gg's retries of handled votes would be added again
    usage_error("--redis-stream adds each vote once: it cannot go with --no-dedup");
  topgg::RedisStreamOptions so;
  so.stream = o.get("redis-stream");
  if (so.stream.empty())
    usage_error("--redis-stream needs a stream name");
  so.max_len = static_cast<std::size_t>(o.number("redis-stream-maxlen", 100000, 0, 1L << 40, "entries"));
  try {
    so.redis = topgg::RedisOptions::from_url(stream_url(o));
  } catch (const std::invalid_argument& e) {
    usage_error(std::string("--redis-stream: ") + e.what());
  }
  if (o.has("redis-stream-url") && !so.redis.password.empty())
    log_start(Level::warning, "--redis-stream-url with a password is visible to other users in the process list");
  auto writer = std::make_shared<topgg::RedisStreamWriter>(so);
  writer->on_error([](std::string_view line) { log(Level::warning, line); });
  const topgg::RedisProbe found = writer->probe(std::chrono::seconds(5));
  const std::string name = "the event stream " + so.stream;
  if (found.kind == topgg::RedisProbe::Kind::permanent)
    throw StoreUnusable("cannot use " + name + ": " + found.why);
  if (found.kind == topgg::RedisProbe::Kind::transient)
    log_start(Level::warning, name + ": Redis does not answer now (" + found.why +
                                  "): starting anyway; deliveries are answered 503 until it does");
  return writer;
}

void finish_event(EventOutput& out, topgg::RedisStreamWriter* stream, std::string_view kind, std::string line,
                  topgg::Ack ack, std::function<void()> then) {
  if (!stream)
    return out.add(line, std::move(ack), std::move(then));
  topgg::RedisStreamWriter::Fields fields;
  fields.emplace_back("event", std::string(kind));
  fields.emplace_back("json", line);
  stream->add(
      std::move(fields),
      [&out, line = std::move(line), ack, then = std::move(then)](bool added, std::string_view why) {
        if (added)
          out.add(line, ack, then);
        else
          ack.retry(why); // the writer tells the outage once; the error hook skips retries
      },
      [ack] { return !ack.done(); });
}

#else

std::shared_ptr<topgg::RedisStreamWriter> make_stream(const Options& o) {
  for (const std::string& opt : kStreamOptions)
    if (o.has(opt))
      usage_error("--" + opt + ": this build has no Redis library");
  return nullptr;
}

void finish_event(EventOutput& out, topgg::RedisStreamWriter*, std::string_view, std::string line, topgg::Ack ack,
                  std::function<void()> then) {
  out.add(line, std::move(ack), std::move(then));
}

#endif

} // namespace tool
