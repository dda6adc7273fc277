// What a Discord post says: an event's fields, the template filled with them, and the request body
// whose allowed_mentions lets only the voter be pinged.
#include <stdexcept>

#include "topgg/discord.hpp"

namespace topgg::discord {

namespace {

constexpr std::size_t max_content = 2000; // Discord's limit, in characters

enum class Slot { user, user_id, user_name, bot, guild, project, weight, weekend, streak, event, route, type };

struct Named {
  std::string_view name;
  Slot slot;
};
constexpr Named slots[] = {{"user", Slot::user},     {"user_id", Slot::user_id}, {"user_name", Slot::user_name},
                           {"bot", Slot::bot},       {"guild", Slot::guild},     {"project", Slot::project},
                           {"weight", Slot::weight}, {"weekend", Slot::weekend}, {"streak", Slot::streak},
                           {"event", Slot::event},   {"route", Slot::route},     {"type", Slot::type}};

const Named* slot_named(std::string_view name) {
  for (const Named& n : slots)
    if (n.name == name)
      return &n;
  return nullptr;
}

std::string mention(const VoteFields& f) { return f.user_id.empty() ? std::string("someone") : "<@" + f.user_id + ">"; }

std::string value_of(Slot s, const VoteFields& f) {
  switch (s) {
  case Slot::user: return mention(f);
  case Slot::user_id: return f.user_id;
  case Slot::user_name: return f.user_name.empty() ? mention(f) : f.user_name;
  case Slot::bot: return f.bot;
  case Slot::guild: return f.guild;
  case Slot::project: return f.project;
  case Slot::weight: return std::to_string(f.weight);
  case Slot::weekend: return f.weekend ? "yes" : "no";
  case Slot::streak: return std::to_string(f.streak.value_or(1));
  case Slot::event: return f.event;
  case Slot::route: return f.route;
  case Slot::type: return f.test ? "test" : "upvote";
  }
  return {};
}

/// Walks `text`: literal runs to `lit`, placeholders to `slot`; throws for a malformed text.
template <class Lit, class Put> void walk(std::string_view text, Lit lit, Put put) {
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      lit(text.substr(i, 1));
      i += 2;
    } else if (c == '}') {
      throw std::invalid_argument("the message template has a '}' without its '{' (write }} for a brace)");
    } else if (c == '{') {
      const std::size_t end = text.find('}', i);
      if (end == std::string_view::npos)
        throw std::invalid_argument("the message template has a '{' without its '}' (write {{ for a brace)");
      const std::string_view name = text.substr(i + 1, end - i - 1);
      const Named* n = slot_named(name);
      if (!n)
        throw std::invalid_argument("the message template names an unknown placeholder {" +
                                    std::string(name.substr(0, 40)) +
                                    "} (known: user, user_id, user_name, bot, guild, project, weight, weekend, "
                                    "streak, event, route, type)");
      put(n->slot);
      i = end + 1;
    } else {
      const std::size_t next = text.find_first_of("{}", i);
      const std::size_t stop = next == std::string_view::npos ? text.size() : next;
      lit(text.substr(i, stop - i));
      i = stop;
    }
  }
}

/// `s` cut to at most `max` characters (UTF-8 code points), ending in "…" when cut.
std::string cut(std::string s, std::size_t max) {
  std::size_t chars = 0, at = 0, keep = 0;
  for (; at < s.size(); ++at) {
    if ((static_cast<unsigned char>(s[at]) & 0xC0) == 0x80)
      continue; // a continuation byte
    if (chars == max - 1)
      keep = at;
    if (++chars > max) {
      s.resize(keep);
      return s + "\u2026";
    }
  }
  return s;
}

void json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

bool digits(std::string_view s) {
  if (s.empty() || s.size() > 20)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

} // namespace

namespace {
template <class V> VoteFields legacy_fields(const V& v, std::string_view event) {
  VoteFields f;
  f.event = std::string(event);
  f.route = v.route;
  f.user_id = v.user.to_string();
  f.test = v.type == VoteType::test;
  return f;
}
} // namespace

VoteFields fields_of(const BotVote& v) {
  VoteFields f = legacy_fields(v, "dbl_vote");
  f.bot = v.bot.to_string();
  f.weight = v.is_weekend ? 2 : 1;
  f.weekend = v.is_weekend;
  f.subject = VoteSubject::bot(v.bot);
  return f;
}

VoteFields fields_of(const ServerVote& v) {
  VoteFields f = legacy_fields(v, "dsl_vote");
  f.guild = v.guild.to_string();
  f.subject = VoteSubject::guild(v.guild);
  return f;
}

namespace {
template <class V> VoteFields v1_fields(const V& v, std::string_view event) {
  VoteFields f;
  f.event = std::string(event);
  f.route = v.route;
  f.user_id = v.user.platform_id;
  f.user_name = v.user.name;
  f.project = v.project.id;
  if (v.project.type == "bot")
    f.bot = v.project.platform_id;
  else if (v.project.type == "server")
    f.guild = v.project.platform_id;
  f.subject = VoteSubject::project(v.project.id);
  return f;
}
} // namespace

VoteFields fields_of(const v1::VoteCreate& v) {
  VoteFields f = v1_fields(v, v1::VoteCreate::name);
  f.weight = v.weight;
  f.weekend = v.weight >= 2;
  f.voted_at = v.created_at;
  return f;
}

VoteFields fields_of(const v1::WebhookTest& v) {
  VoteFields f = v1_fields(v, v1::WebhookTest::name);
  f.test = true;
  return f;
}

VoteFields fields_of(const VoteExpired& v) {
  VoteFields f;
  f.event = std::string(VoteExpired::name);
  f.route = v.route;
  f.user_id = v.user;
  (v.subject.kind == VoteSubject::Kind::bot     ? f.bot
   : v.subject.kind == VoteSubject::Kind::guild ? f.guild
                                                : f.project) = v.subject.id;
  f.weight = v.weight;
  f.streak = v.streak;
  f.subject = v.subject;
  return f;
}

Template::Template(std::string text) : text_(std::move(text)) {
  if (text_.empty())
    throw std::invalid_argument("the message template is empty");
  walk(
      text_, [](std::string_view) {}, [this](Slot s) { uses_streak_ = uses_streak_ || s == Slot::streak; });
}

std::string Template::render(const VoteFields& f) const {
  std::string out;
  walk(
      text_, [&out](std::string_view lit) { out += lit; }, [&out, &f](Slot s) { out += value_of(s, f); });
  return cut(std::move(out), max_content);
}

std::string message_body(const VoteFields& f, std::string_view content) {
  std::string out = "{\"content\":";
  json_string(out, content);
  out += ",\"allowed_mentions\":{\"parse\":[],\"users\":[";
  if (digits(f.user_id))
    json_string(out, f.user_id);
  out += "]}}";
  return out;
}

} // namespace topgg::discord
