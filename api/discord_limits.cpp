// Discord's rate limits as its answers tell them (https://discord.com/developers/docs/topics/rate-limits):
// a bucket per route (X-RateLimit-Bucket, -Remaining, -Reset-After), a 429's retry_after, and the
// global limit. Pure: the caller passes the time.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "topgg/discord.hpp"
#include "topgg/http.hpp"

namespace topgg::discord {

namespace {

using std::chrono::milliseconds;

const std::string* header(const Answer& a, std::string_view name) {
  for (const auto& [n, v] : a.headers)
    if (n == name)
      return &v;
  return nullptr;
}

/// Seconds with an optional fraction ("1", "0.25", "64.57") as milliseconds, rounded up.
std::optional<milliseconds> seconds_text(const std::string* text) {
  if (!text || text->empty())
    return std::nullopt;
  double s = 0;
  const char* end = text->data() + text->size();
  const auto [at, ec] = std::from_chars(text->data(), end, s);
  if (ec != std::errc() || at != end || !std::isfinite(s) || s < 0)
    return std::nullopt;
  return milliseconds(static_cast<std::int64_t>(std::ceil(std::min(s, 1e7) * 1000)));
}

bool true_text(const std::string* text) { return text && topgg::iequals(*text, "true"); }

/// A 429's JSON body: {"message", "retry_after": seconds, "global": bool}.
void read_body(const std::string& body, std::optional<milliseconds>& retry, bool& global) {
  if (body.empty() || body.size() > 65536)
    return;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS)
    return;
  double s = 0;
  if (root["retry_after"].get(s) == simdjson::SUCCESS && std::isfinite(s) && s >= 0)
    retry = milliseconds(static_cast<std::int64_t>(std::ceil(std::min(s, 1e7) * 1000)));
  bool g = false;
  if (root["global"].get(g) == simdjson::SUCCESS && g)
    global = true;
}

} // namespace

RateLimits::Bucket& RateLimits::bucket_of(std::string_view route) {
  for (Bucket& b : buckets_)
    if (b.route == route)
      return b;
  return buckets_.emplace_back(Bucket{std::string(route), {}, {}});
}

const RateLimits::Bucket* RateLimits::find(std::string_view route) const {
  for (const Bucket& b : buckets_)
    if (b.route == route)
      return &b;
  return nullptr;
}

milliseconds RateLimits::observe(std::string_view route, const Answer& a, Clock::time_point now) {
  Bucket& b = bucket_of(route);
  if (const std::string* id = header(a, "x-ratelimit-bucket"); id && *id != b.id) {
    b.id = *id; // a new bucket for this route: what was known of the old one no longer applies
    b.until = {};
  }
  const std::optional<milliseconds> reset_after = seconds_text(header(a, "x-ratelimit-reset-after"));
  if (a.status == 429) {
    std::optional<milliseconds> retry;
    bool global = true_text(header(a, "x-ratelimit-global"));
    if (const std::string* scope = header(a, "x-ratelimit-scope"); scope && topgg::iequals(*scope, "global"))
      global = true;
    read_body(a.body, retry, global);
    if (!retry)
      retry = seconds_text(header(a, "retry-after"));
    if (!retry)
      retry = reset_after;
    const milliseconds wait = std::min(retry.value_or(default_retry), longest_wait);
    last_global_ = global;
    (global ? global_until_ : b.until) = std::max(global ? global_until_ : b.until, now + wait);
  } else if (const std::string* remaining = header(a, "x-ratelimit-remaining"); remaining && reset_after) {
    // The bucket's last request for now: the next waits for the reset.
    if (*remaining == "0")
      b.until = std::max(b.until, now + std::min(*reset_after, longest_wait));
    else
      b.until = {};
  }
  const Clock::time_point ready = ready_at(route);
  return ready > now ? std::chrono::ceil<milliseconds>(ready - now) : milliseconds::zero();
}

RateLimits::Clock::time_point RateLimits::ready_at(std::string_view route) const {
  const Bucket* b = find(route);
  return std::max(global_until_, b ? b->until : Clock::time_point{});
}

} // namespace topgg::discord
