// Fuzz target: v1 payload decoding, topgg::v1::decode. Cross-checks, abort()
// on mismatch:
// - decode() (copies into a padded buffer) and decode_padded() agree;
// - decoding into an Event reused from earlier inputs gives the same result
//   as decoding into a fresh one (stale fields must not survive);
// - a decoded event, written back as JSON (times as RFC 3339 with
//   microseconds in UTC, query as a form-encoded string), decodes to the same
//   fields.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "fuzz_util.hpp"
#include "topgg/v1.hpp"

namespace {

using namespace topgg::v1;

[[noreturn]] void fail(const char* what, std::string_view a = {}, std::string_view b = {}) {
  fuzz::fail("fuzz_v1_payload", what, a, b);
}

bool same(const Project& a, const Project& b) {
  return a.id == b.id && a.type == b.type && a.platform == b.platform && a.platform_id == b.platform_id;
}
bool same(const User& a, const User& b) {
  return a.id == b.id && a.platform_id == b.platform_id && a.name == b.name && a.avatar_url == b.avatar_url;
}

bool same(const Event& a, const Event& b) {
  if (a.type != b.type)
    return false;
  switch (a.type) {
  case EventType::vote_create: {
    const auto &x = a.get<topgg::v1::VoteCreate>(), &y = b.get<topgg::v1::VoteCreate>();
    return x.id == y.id && x.weight == y.weight && x.created_at == y.created_at && x.expires_at == y.expires_at &&
           same(x.project, y.project) && same(x.user, y.user) && x.query == y.query && x.trace == y.trace;
  }
  case EventType::webhook_test:
    return same(a.get<topgg::v1::WebhookTest>().project, b.get<topgg::v1::WebhookTest>().project) && same(a.get<topgg::v1::WebhookTest>().user, b.get<topgg::v1::WebhookTest>().user) &&
           a.get<topgg::v1::WebhookTest>().trace == b.get<topgg::v1::WebhookTest>().trace;
  case EventType::integration_create: {
    const auto &x = a.get<topgg::v1::IntegrationCreate>(), &y = b.get<topgg::v1::IntegrationCreate>();
    return x.connection_id == y.connection_id && x.webhook_secret == y.webhook_secret && same(x.project, y.project) &&
           same(x.user, y.user) && x.trace == y.trace;
  }
  case EventType::integration_delete:
    return a.get<topgg::v1::IntegrationDelete>().connection_id == b.get<topgg::v1::IntegrationDelete>().connection_id &&
           a.get<topgg::v1::IntegrationDelete>().trace == b.get<topgg::v1::IntegrationDelete>().trace;
  case EventType::unknown: return true;
  }
  return false;
}

void field(std::string& s, std::string_view key, std::string_view value) {
  if (s.back() != '{')
    s.push_back(',');
  fuzz::json_string(s, key);
  s.push_back(':');
  fuzz::json_string(s, value);
}

void write(std::string& s, const Project& p) {
  s += "{";
  field(s, "id", p.id);
  field(s, "type", p.type);
  field(s, "platform", p.platform);
  field(s, "platform_id", p.platform_id);
  s += "}";
}

void write(std::string& s, const User& u) {
  s += "{";
  field(s, "id", u.id);
  field(s, "platform_id", u.platform_id);
  field(s, "name", u.name);
  if (!u.avatar_url.empty())
    field(s, "avatar_url", u.avatar_url);
  else
    s += ",\"avatar_url\":null";
  s += "}";
}

// RFC 3339 in UTC with microseconds; false for years outside 0000-9999.
bool write_time(std::string& s, Timestamp t) {
  using namespace std::chrono;
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999)
    return false;
  const auto tod = t - day;
  const auto h = duration_cast<hours>(tod);
  const auto m = duration_cast<minutes>(tod - h);
  const auto sec = duration_cast<seconds>(tod - h - m);
  const auto us = tod - h - m - sec;
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ\"", y, static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(h.count()), static_cast<int>(m.count()),
                static_cast<int>(sec.count()), static_cast<long long>(us.count()));
  s += buf;
  return true;
}

// Returns "" when the event cannot be written back (a time out of range).
std::string to_json(const Event& e) {
  std::string s = "{\"data\":{";
  switch (e.type) {
  case EventType::vote_create: {
    const auto& v = e.get<topgg::v1::VoteCreate>();
    field(s, "id", v.id);
    s += ",\"weight\":" + std::to_string(v.weight) + ",\"created_at\":";
    if (!write_time(s, v.created_at))
      return "";
    s += ",\"expires_at\":";
    if (!write_time(s, v.expires_at))
      return "";
    s += ",\"project\":";
    write(s, v.project);
    s += ",\"user\":";
    write(s, v.user);
    field(s, "query", v.query.encode());
    break;
  }
  case EventType::webhook_test:
    s += "\"project\":";
    write(s, e.get<topgg::v1::WebhookTest>().project);
    s += ",\"user\":";
    write(s, e.get<topgg::v1::WebhookTest>().user);
    break;
  case EventType::integration_create:
    field(s, "connection_id", e.get<topgg::v1::IntegrationCreate>().connection_id);
    field(s, "webhook_secret", e.get<topgg::v1::IntegrationCreate>().webhook_secret);
    s += ",\"project\":";
    write(s, e.get<topgg::v1::IntegrationCreate>().project);
    s += ",\"user\":";
    write(s, e.get<topgg::v1::IntegrationCreate>().user);
    break;
  case EventType::integration_delete: field(s, "connection_id", e.get<topgg::v1::IntegrationDelete>().connection_id); break;
  case EventType::unknown: return "";
  }
  s += "},\"type\":";
  fuzz::json_string(s, to_string(e.type));
  return s + "}";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static Event reused;
  Event fresh;
  const topgg::DecodeStatus a = decode(body, fresh);
  const topgg::DecodeStatus b = decode(body, reused);
  if (a.error != b.error || a.detail != b.detail)
    fail("fresh and reused decodes disagree on the status", a.detail, b.detail);
  if (a.detail.empty() != bool(a))
    fail("a failure without a detail, or a success with one", a.detail);
  if (!a && (fresh.type != EventType::unknown || reused.type != EventType::unknown))
    fail("failed decode left a type");

  std::string padded(body);
  padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
  Event via_padded;
  const topgg::DecodeStatus c = decode_padded(padded, via_padded);
  if (c.error != a.error || c.detail != a.detail)
    fail("decode and decode_padded disagree", a.detail, c.detail);
  if (!a)
    return 0;
  if (!same(fresh, reused))
    fail("fresh and reused decodes disagree on the fields", to_json(fresh), to_json(reused));
  if (!same(fresh, via_padded))
    fail("decode and decode_padded disagree on the fields", to_json(fresh), to_json(via_padded));

  const std::string json = to_json(fresh);
  if (json.empty())
    return 0;
  Event again;
  if (const auto st = decode(json, again); !st)
    fail("re-serialised event does not decode", json, st.detail);
  if (!same(fresh, again))
    fail("re-serialised event decodes to other fields", json, to_json(again));

  fresh.set_trace("trace-1");
  again.set_trace("trace-1");
  if (!same(fresh, again))
    fail("set_trace differs");
  return 0;
}
