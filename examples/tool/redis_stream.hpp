// `listen --redis-stream NAME`: each handled event XADDed to a Redis stream
// (fields `event` and `json`, the line stdout gets) before its delivery is
// answered 2xx; 503 while Redis cannot take it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "event_output.hpp"
#include "options.hpp"
#include "topgg/ack.hpp"

namespace topgg {
class RedisStreamWriter;
}

namespace tool {

/// listen's stream options (valued).
inline const std::vector<std::string> kStreamOptions = {"redis-stream", "redis-stream-url", "redis-stream-maxlen"};

/// The writer, or nullptr without --redis-stream. Redis is asked before this
/// returns: a wrong password, db or host name is StoreUnusable (exit 1); no
/// answer now is one warning line. usage_error for options without
/// --redis-stream, no Redis URL anywhere, a bad URL or length.
std::shared_ptr<topgg::RedisStreamWriter> make_stream(const Options& o);

/// The end of every event's handling: the line added to the stream (when
/// there is one), then written to stdout and the delivery answered; a line
/// the stream did not take is answered 503 (the writer said why, once per
/// outage) and not printed. `then` runs once the delivery was answered 2xx
/// (see EventOutput::add).
void finish_event(EventOutput& out, topgg::RedisStreamWriter* stream, std::string_view kind, std::string line,
                  topgg::Ack ack, std::function<void()> then = {});

} // namespace tool
