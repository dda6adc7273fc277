// One JSON line per event, as `topgg-webhook listen` prints it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/topgg.hpp"

namespace tool {

/// Length (2-4) of the well-formed UTF-8 sequence that starts at p[0] >= 0x80,
/// or 0 if it is ill-formed; then `subpart` is the length of its maximal
/// subpart (Unicode §3.9, "U+FFFD substitution of maximal subparts"): the
/// bytes one U+FFFD replaces, as in Python's errors="replace", WHATWG and ICU.
inline std::size_t utf8_sequence(const unsigned char* p, std::size_t n, std::size_t& subpart) {
  const unsigned char c = p[0];
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF; // range of the second byte (Table 3-7)
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) { // no overlong forms (E0), no surrogates (ED)
    len = 3;
    lo = c == 0xE0 ? 0xA0 : 0x80;
    hi = c == 0xED ? 0x9F : 0xBF;
  } else if (c >= 0xF0 && c <= 0xF4) { // no overlong forms (F0), nothing past U+10FFFF (F4)
    len = 4;
    lo = c == 0xF0 ? 0x90 : 0x80;
    hi = c == 0xF4 ? 0x8F : 0xBF;
  } else { // 0x80-0xC1, 0xF5-0xFF start no sequence
    subpart = 1;
    return 0;
  }
  for (std::size_t i = 1; i < len; ++i) {
    const unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
    if (i >= n || p[i] < min || p[i] > max) {
      subpart = i;
      return 0;
    }
  }
  return len;
}

/// A JSON string of `s`. The result is always valid UTF-8: event data is
/// whatever a voter's link or a header carried (`?ref=%FF` decodes to a
/// lone 0xFF), and strict JSON readers reject a line with one invalid byte.
inline void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      std::size_t subpart = 0;
      if (const std::size_t len = utf8_sequence(p + i, s.size() - i, subpart)) {
        // U+0085, U+2028 and U+2029 escaped: readers that split lines on them
        // (Python's str.splitlines(), older JavaScript) would split the line.
        if (len == 2 && c == 0xC2 && p[i + 1] == 0x85) // C2 85
          out += "\\u0085";
        else if (len == 3 && c == 0xE2 && p[i + 1] == 0x80 && (p[i + 2] == 0xA8 || p[i + 2] == 0xA9)) // E2 80 A8/A9
          out += p[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
        else
          out.append(s.data() + i, len);
        i += len;
      } else {
        out += "\xEF\xBF\xBD"; // U+FFFD REPLACEMENT CHARACTER
        i += subpart;
      }
      continue;
    }
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    ++i;
  }
  out.push_back('"');
}

/// Writes `,"key":"value"`.
inline void field(std::string& out, std::string_view key, std::string_view value) {
  out.push_back(',');
  json_string(out, key);
  out.push_back(':');
  json_string(out, value);
}

/// "query": the first value of each key, as strings. When a key repeats,
/// "query_pairs" also lists every pair in order, so nothing is lost.
/// O(n log n): a 64 KiB body holds thousands of keys, and this runs on the
/// loop thread (comparing each key with all before it took 0.3 s there).
inline void query_fields(std::string& out, const topgg::Query& q) {
  // Sorted by (key, position), the first of each run of equal keys is where
  // that key first appears.
  std::vector<std::size_t> by_key(q.size());
  std::iota(by_key.begin(), by_key.end(), std::size_t{0});
  std::sort(by_key.begin(), by_key.end(), [&q](std::size_t a, std::size_t b) {
    const int c = q[a].key.compare(q[b].key);
    return c != 0 ? c < 0 : a < b;
  });
  std::vector<bool> first_of_key(q.size());
  bool repeated = false;
  for (std::size_t i = 0; i < by_key.size(); ++i) {
    const bool first = i == 0 || q[by_key[i]].key != q[by_key[i - 1]].key;
    first_of_key[by_key[i]] = first;
    repeated = repeated || !first;
  }
  out += ",\"query\":{";
  bool first = true;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (!first_of_key[i])
      continue;
    if (!first)
      out.push_back(',');
    first = false;
    json_string(out, q[i].key);
    out.push_back(':');
    json_string(out, q[i].value);
  }
  out.push_back('}');
  if (!repeated)
    return;
  out += ",\"query_pairs\":[";
  for (std::size_t i = 0; i < q.size(); ++i) {
    out += i ? ",[" : "[";
    json_string(out, q[i].key);
    out.push_back(',');
    json_string(out, q[i].value);
    out.push_back(']');
  }
  out.push_back(']');
}

/// The "event" of each line; also how stderr names an event without its data.
constexpr std::string_view event_name(const topgg::BotVote&) { return "dbl_vote"; }
constexpr std::string_view event_name(const topgg::ServerVote&) { return "dsl_vote"; }
constexpr std::string_view event_name(const topgg::v1::VoteCreate&) { return "vote.create"; }
constexpr std::string_view event_name(const topgg::v1::WebhookTest&) { return "webhook.test"; }
constexpr std::string_view event_name(const topgg::v1::IntegrationCreate&) { return "integration.create"; }
constexpr std::string_view event_name(const topgg::v1::IntegrationDelete&) { return "integration.delete"; }
constexpr std::string_view event_name(const topgg::VoteExpired&) { return topgg::VoteExpired::name; }

/// `{"event":"<name>","route":"<path>"`, the start of every line: the route
/// says which of several routes (bots, projects) received the event.
template <class Event> std::string line_start(const Event& e) {
  std::string out = "{\"event\":";
  json_string(out, event_name(e));
  field(out, "route", e.route);
  return out;
}

inline std::string rfc3339(topgg::v1::Timestamp t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  const auto micros = (t - secs).count();
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), int(hms.hours().count()), int(hms.minutes().count()), int(hms.seconds().count()),
                static_cast<long long>(micros));
  return buf;
}

inline std::string to_json(const topgg::BotVote& v) {
  std::string out = line_start(v);
  field(out, "bot", v.bot.to_string());
  field(out, "user", v.user.to_string());
  field(out, "type", topgg::to_string(v.type));
  out += v.is_weekend ? R"(,"is_weekend":true)" : R"(,"is_weekend":false)";
  query_fields(out, v.query);
  return out + "}";
}

inline std::string to_json(const topgg::ServerVote& v) {
  std::string out = line_start(v);
  field(out, "guild", v.guild.to_string());
  field(out, "user", v.user.to_string());
  field(out, "type", topgg::to_string(v.type));
  query_fields(out, v.query);
  return out + "}";
}

inline void project_user(std::string& out, const topgg::v1::Project& p, const topgg::v1::User& u) {
  out += R"(,"project":{"id":)";
  json_string(out, p.id);
  field(out, "type", p.type);
  field(out, "platform", p.platform);
  field(out, "platform_id", p.platform_id);
  out += R"(},"user":{"id":)";
  json_string(out, u.id);
  field(out, "platform_id", u.platform_id);
  field(out, "name", u.name);
  field(out, "avatar_url", u.avatar_url);
  out += "}";
}

inline std::string to_json(const topgg::v1::VoteCreate& v) {
  std::string out = line_start(v);
  field(out, "id", v.id);
  out += ",\"weight\":" + std::to_string(v.weight);
  field(out, "created_at", rfc3339(v.created_at));
  field(out, "expires_at", rfc3339(v.expires_at));
  project_user(out, v.project, v.user);
  query_fields(out, v.query);
  field(out, "trace", v.trace);
  // Caught up from the vote history: "id", the user's "name" and "avatar_url" are "".
  field(out, "source", v.source == topgg::v1::Source::catch_up ? "catch-up" : "webhook");
  if (!v.connection_id.empty()) // came through an integration's connection (--integrations)
    field(out, "connection_id", v.connection_id);
  return out + "}";
}

inline std::string to_json(const topgg::v1::WebhookTest& t) {
  std::string out = line_start(t);
  project_user(out, t.project, t.user);
  field(out, "trace", t.trace);
  if (!t.connection_id.empty())
    field(out, "connection_id", t.connection_id);
  return out + "}";
}

/// Whether integration.create lines carry "webhook_secret" (listen --print-integration-secret): off
/// by default, since stdout ends up in logs.
inline bool print_integration_secret = false;

inline std::string to_json(const topgg::v1::IntegrationCreate& c) {
  std::string out = line_start(c);
  field(out, "connection_id", c.connection_id);
  if (print_integration_secret)
    field(out, "webhook_secret", c.webhook_secret);
  project_user(out, c.project, c.user);
  field(out, "trace", c.trace);
  return out + "}";
}

inline std::string to_json(const topgg::v1::IntegrationDelete& d) {
  std::string out = line_start(d);
  field(out, "connection_id", d.connection_id);
  field(out, "trace", d.trace);
  return out + "}";
}

/// A vote ran out (the vote book): "user" as the legacy lines write it, then
/// "project", "bot" or "guild", the times in UTC, the streak it ended; its
/// "route" is the one that received the vote.
inline std::string to_json(const topgg::VoteExpired& e) {
  std::string out = line_start(e);
  field(out, "user", e.user);
  field(out, topgg::to_string(e.subject.kind), e.subject.id);
  field(out, "voted_at", rfc3339(e.voted_at));
  field(out, "expired_at", rfc3339(e.expired_at));
  out += ",\"streak\":" + std::to_string(e.streak);
  return out + "}";
}

} // namespace tool
