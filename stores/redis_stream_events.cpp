// decode_event_line: the JSON lines `topgg-webhook listen` prints (and adds to
// a stream) back into the typed events. The writer is
// examples/tool/events_json.hpp; tests/stores/test_redis_stream.cpp checks
// that every event survives the round trip.
#include <simdjson.h>

#include "topgg/redis_stream.hpp"

namespace topgg {

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

/// The line's fields, read by name; the first missing or mistyped one is remembered.
class Line {
public:
  Line(std::string_view json, std::string& why) : why_(why) {
    thread_local simdjson::dom::parser parser;
    padded_ = simdjson::padded_string(json);
    element root;
    if (parser.parse(padded_).get(root) != simdjson::SUCCESS || root.get_object().get(top_) != simdjson::SUCCESS)
      fail("not a JSON object");
  }
  bool ok() const noexcept { return ok_; }

  std::string text(object o, std::string_view key) {
    std::string_view v;
    if (ok_ && o[key].get_string().get(v) != simdjson::SUCCESS)
      fail("missing string", key);
    return ok_ ? std::string(v) : std::string();
  }
  std::string text(std::string_view key) { return text(top_, key); }
  template <class Int> Int number(std::string_view key) {
    std::int64_t v = 0;
    if (ok_ && top_[key].get_int64().get(v) != simdjson::SUCCESS)
      fail("missing number", key);
    return static_cast<Int>(v);
  }
  bool flag(std::string_view key) {
    bool v = false;
    if (ok_ && top_[key].get_bool().get(v) != simdjson::SUCCESS)
      fail("missing true/false", key);
    return v;
  }
  object part(std::string_view key) {
    object o;
    if (ok_ && top_[key].get_object().get(o) != simdjson::SUCCESS)
      fail("missing object", key);
    return o;
  }
  Snowflake id(std::string_view key) {
    const std::string t = text(key);
    if (!ok_)
      return {};
    if (auto s = Snowflake::parse(t))
      return *s;
    fail("not a Discord ID:", key);
    return {};
  }
  v1::Timestamp time(std::string_view key) {
    const std::string t = text(key);
    if (!ok_)
      return {};
    if (auto ts = v1::parse_rfc3339(t))
      return *ts;
    fail("not an RFC 3339 time:", key);
    return {};
  }
  VoteType vote_type() {
    const std::string t = text("type");
    if (t == "test")
      return VoteType::test;
    if (ok_ && t != "upvote")
      fail("\"type\" is neither upvote nor test");
    return VoteType::upvote;
  }
  /// "query_pairs" (every pair, in order) when present, else "query" (the first value of each key).
  void query(Query& q) {
    q.clear();
    if (!ok_)
      return;
    simdjson::dom::array pairs;
    if (top_["query_pairs"].get_array().get(pairs) == simdjson::SUCCESS) {
      for (element pair : pairs) {
        std::string_view k, v;
        simdjson::dom::array kv;
        if (pair.get_array().get(kv) != simdjson::SUCCESS || kv.size() != 2 || kv.at(0).get_string().get(k) ||
            kv.at(1).get_string().get(v))
          return fail("\"query_pairs\" holds something else than [key, value]");
        q.add(k, v);
      }
      return;
    }
    object o;
    if (top_["query"].get_object().get(o) != simdjson::SUCCESS)
      return; // absent: no query
    for (auto [k, value] : o) {
      std::string_view v;
      if (value.get_string().get(v) != simdjson::SUCCESS)
        return fail("\"query\" holds something else than strings");
      q.add(k, v);
    }
  }
  void project_user(v1::Project& p, v1::User& u) {
    const object po = part("project"), uo = part("user");
    p.id = text(po, "id");
    p.type = text(po, "type");
    p.platform = text(po, "platform");
    p.platform_id = text(po, "platform_id");
    u.id = text(uo, "id");
    u.platform_id = text(uo, "platform_id");
    u.name = text(uo, "name");
    u.avatar_url = text(uo, "avatar_url");
  }
  /// "trace" is optional: lines written before it existed have none.
  std::string optional_text(std::string_view key) {
    std::string_view v;
    if (ok_ && top_[key].get_string().get(v) == simdjson::SUCCESS)
      return std::string(v);
    return {};
  }
  bool done() const noexcept { return ok_; }

private:
  void fail(std::string_view w, std::string_view key = {}) {
    if (!ok_)
      return;
    ok_ = false;
    why_.assign(w);
    if (!key.empty())
      why_.append(" \"").append(key).append("\"");
  }
  std::string& why_;
  simdjson::padded_string padded_;
  object top_;
  bool ok_ = true; // until the first fail()
};

} // namespace

bool decode_event_line(std::string_view json, BotVote& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.bot = l.id("bot");
  out.user = l.id("user");
  out.type = l.vote_type();
  out.is_weekend = l.flag("is_weekend");
  l.query(out.query);
  return l.done();
}

bool decode_event_line(std::string_view json, ServerVote& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.guild = l.id("guild");
  out.user = l.id("user");
  out.type = l.vote_type();
  l.query(out.query);
  return l.done();
}

bool decode_event_line(std::string_view json, v1::VoteCreate& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.id = l.text("id");
  out.weight = l.number<std::int64_t>("weight");
  out.created_at = l.time("created_at");
  out.expires_at = l.time("expires_at");
  l.project_user(out.project, out.user);
  l.query(out.query);
  out.trace = l.optional_text("trace");
  out.source = l.optional_text("source") == "catch-up" ? v1::Source::catch_up : v1::Source::webhook;
  out.connection_id = l.optional_text("connection_id"); // through an integration's connection
  return l.done();
}

bool decode_event_line(std::string_view json, v1::WebhookTest& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  l.project_user(out.project, out.user);
  out.trace = l.optional_text("trace");
  out.connection_id = l.optional_text("connection_id");
  return l.done();
}

bool decode_event_line(std::string_view json, v1::IntegrationCreate& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.connection_id = l.text("connection_id");
  out.webhook_secret = l.optional_text("webhook_secret"); // only with --print-integration-secret
  l.project_user(out.project, out.user);
  out.trace = l.optional_text("trace");
  return l.done();
}

bool decode_event_line(std::string_view json, v1::IntegrationDelete& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.connection_id = l.text("connection_id");
  out.trace = l.optional_text("trace");
  return l.done();
}

bool decode_event_line(std::string_view json, VoteExpired& out, std::string& why) {
  Line l(json, why);
  out.route = l.text("route");
  out.user = l.text("user");
  // The subject is whichever of "project", "bot" or "guild" the line carries.
  using Kind = VoteSubject::Kind;
  for (Kind k : {Kind::project, Kind::bot, Kind::guild}) {
    std::string id = l.optional_text(to_string(k));
    if (!id.empty()) {
      out.subject = {k, std::move(id)};
      break;
    }
  }
  if (out.subject.id.empty() && l.ok()) {
    why = "none of \"project\", \"bot\", \"guild\"";
    return false;
  }
  out.voted_at = l.time("voted_at");
  out.expired_at = l.time("expired_at");
  out.streak = l.number<std::uint32_t>("streak");
  return l.done();
}

} // namespace topgg
