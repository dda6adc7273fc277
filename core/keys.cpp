#include "keys.hpp"

#include <array>
#include <charconv>

namespace topgg::detail {

namespace {

// Components are joined with '/', so each is escaped: '/', '%' and bytes
// outside printable ASCII become %XX. Two different deliveries can then never
// share a key, whatever their IDs contain.
void append_part(std::string& key, std::string_view part) {
  static constexpr char hex[] = "0123456789ABCDEF";
  key.push_back('/');
  for (unsigned char c : part) {
    if (c == '/' || c == '%' || c <= 0x20 || c >= 0x7f) {
      key.push_back('%');
      key.push_back(hex[c >> 4]);
      key.push_back(hex[c & 15]);
    } else {
      key.push_back(static_cast<char>(c));
    }
  }
}

void append_id(std::string& key, Snowflake id) {
  std::array<char, 20> buf;
  key.push_back('/');
  key.append(id.format(buf));
}

template <class Vote>
bool legacy_key(std::string_view kind, Snowflake target, const Vote& v, std::string_view route, std::string& key) {
  if (v.type == VoteType::test)
    return false;
  key.assign(kind);
  append_part(key, route);
  append_id(key, target);
  append_id(key, v.user);
  key.append("/upvote");
  return true;
}

} // namespace

bool dedup_key(const BotVote& v, std::string_view route, std::string& key) {
  return legacy_key("dbl", v.bot, v, route, key);
}

bool dedup_key(const ServerVote& v, std::string_view route, std::string& key) {
  return legacy_key("dsl", v.guild, v, route, key);
}

bool dedup_key(const v1::VoteCreate& v, std::string_view route, std::string& key) {
  key.assign("v1/vote.create");
  append_part(key, route);
  append_part(key, v.project.id);
  append_part(key, v.user.id);
  const auto secs = std::chrono::floor<std::chrono::seconds>(v.created_at).time_since_epoch().count();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, secs);
  key.push_back('/');
  key.append(buf, r.ptr);
  return true;
}

// integration.create and integration.delete are never de-duplicated: each is
// an idempotent change of one connection, and a retry of integration.create
// needs the handshake answer again (Top.gg only connects once it has the
// webhook_url), while a replay with a new webhook_secret is a rotation.
bool dedup_key(const v1::IntegrationCreate&, std::string_view, std::string& key) {
  key.clear();
  return false;
}

bool dedup_key(const v1::IntegrationDelete&, std::string_view, std::string& key) {
  key.clear();
  return false;
}

} // namespace topgg::detail
