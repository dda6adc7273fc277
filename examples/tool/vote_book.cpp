#include "vote_book.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "events_json.hpp"
#include "log.hpp"
#include "service.hpp"
#include "topgg/vote_book.hpp"

namespace tool {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::seconds kWeek{7L * 24 * 3600}, kMonth{30L * 24 * 3600};

std::chrono::seconds streak_grace(const Options& o) { return o.duration("streak-grace", 12h, 0s, kMonth); }

topgg::VoteRules rules_of(const Options& o) {
  topgg::VoteRules r;
  r.legacy_duration = o.duration("vote-duration", 12h, 1s, kWeek);
  r.streak_grace = streak_grace(o);
  return r;
}

/// A Top.gg project ID as it may appear in a query: letters, digits, '-' and '_', at most 64.
bool project_id(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

topgg::Response json_response(int status, std::string body) {
  topgg::Response r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}};
  r.body = std::move(body);
  return r;
}

std::string error_body(std::string_view why) {
  std::string out = "{\"error\":";
  json_string(out, why);
  return out + "}";
}

/// The endpoint's key: swapped by SIGHUP (on the main thread) while the loop compares.
class VotesKey {
public:
  explicit VotesKey(const std::string& key) : header_("Bearer " + key) {}
  /// The whole Authorization value, compared in constant time.
  bool matches(std::string_view auth) {
    std::lock_guard lock(m_);
    return topgg::secret_equals(auth, header_);
  }
  void set(const std::string& key) {
    std::lock_guard lock(m_);
    header_ = "Bearer " + key;
  }

private:
  std::mutex m_;
  std::string header_; // "Bearer <key>"
};

/// GET <route>/<user_id>[?project=ID|bot=ID|guild=ID], `Authorization: Bearer <key>`.
struct Endpoint {
  std::shared_ptr<topgg::VoteBook> book;
  std::string under; // "<route>/"
  std::shared_ptr<VotesKey> key;

  void operator()(const topgg::Request& req, topgg::Ack ack) const {
    // The key first, compared in constant time: nothing else is looked at without it.
    const auto auth = req.header("Authorization");
    if (!auth || !key->matches(*auth)) {
      topgg::Response r = json_response(401, error_body("Authorization: Bearer <the --votes-key> is required"));
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      ack.ok(std::move(r));
      return;
    }
    const std::string_view path = req.path.empty() ? topgg::path_of(req.target) : req.path;
    const std::string user(path.substr(std::min(under.size(), path.size())));
    if (!topgg::Snowflake::parse(user)) {
      ack.ok(json_response(400, error_body("the user ID must be a Discord ID (digits)")));
      return;
    }
    std::optional<topgg::VoteSubject> subject;
    if (const auto q = req.target.find('?'); q != std::string_view::npos) {
      topgg::Query query;
      query.parse(req.target.substr(q + 1));
      for (const auto& p : query) {
        if (p.key != "project" && p.key != "bot" && p.key != "guild")
          continue;
        std::string why;
        if (subject || !(subject = subject_named(p.key, p.value, why))) {
          ack.ok(json_response(400, error_body(why.empty() ? "give one of project, bot, guild" : why)));
          return;
        }
      }
    }
    auto answer = [ack, user](std::optional<topgg::VoteStatus> s) {
      ack.ok(s ? json_response(200, status_json(user, *s))
               : json_response(503, error_body("the vote book's store cannot be asked now")));
    };
    if (subject)
      return book->status(*subject, user, answer);
    // Not named: the one subject recorded, if there is only one.
    book->subjects([book = book, ack, user, answer](std::optional<std::vector<topgg::VoteSubject>> list) {
      if (!list)
        return answer(std::nullopt);
      if (list->empty())
        return answer(topgg::VoteStatus{});
      if (list->size() > 1) {
        ack.ok(json_response(400, error_body("votes for several projects, bots or servers are recorded: add "
                                             "?project=ID, ?bot=ID or ?guild=ID")));
        return;
      }
      book->status(list->front(), user, answer);
    });
  }
};

class Runner final : public VoteBookRunner {
public:
  explicit Runner(std::shared_ptr<topgg::VoteBook> book) : book_(std::move(book)) {}
  ~Runner() override { book_->stop(); } // the route may still hold the book: it answers until the close
  void start() override { book_->start(); }
  std::shared_ptr<topgg::VoteBook> book() override { return book_; }

private:
  std::shared_ptr<topgg::VoteBook> book_;
};

/// Why `key` cannot be the endpoint's key; "" when it can.
std::string votes_key_problem(const std::string& key) {
  return key.find_first_of("\r\n") == std::string::npos ? "" : "it holds several lines (a key is one line)";
}

} // namespace

std::optional<topgg::VoteSubject> subject_named(std::string_view kind, std::string_view id, std::string& why) {
  if (kind == "project") {
    if (project_id(id))
      return topgg::VoteSubject::project(std::string(id));
    why = "a project ID is letters, digits, '-' and '_'";
  } else if (const auto sf = topgg::Snowflake::parse(id)) {
    return kind == "bot" ? topgg::VoteSubject::bot(*sf) : topgg::VoteSubject::guild(*sf);
  } else {
    why = std::string("a ") + (kind == "bot" ? "bot" : "guild") + " ID is a Discord ID (digits)";
  }
  return std::nullopt;
}

std::optional<FoundSecret> check_vote_book_options(const Options& o, std::vector<std::string>& secret_vars) {
  const bool on = o.has("track-votes");
  for (const std::string& name : kVoteBookOptions)
    if (o.has(name) && !on)
      usage_error("--" + name + " needs --track-votes");
  if (!on)
    return std::nullopt;
  if (o.has("no-dedup"))
    usage_error("--track-votes keeps the votes in the --dedup store: it cannot go with --no-dedup");
  rules_of(o); // the durations, in range
  if (o.has("votes-route") != o.has("votes-key"))
    usage_error("--votes-route and --votes-key go together: the endpoint is never open without a key");
  if (!o.has("votes-route"))
    return std::nullopt;
  const std::string route = o.get("votes-route");
  if (route.size() < 2 || route.front() != '/' || route.back() == '/' ||
      route.find_first_of("?#* ") != std::string::npos)
    usage_error("--votes-route takes a path such as /votes (the endpoint is GET /votes/USER_ID), not '" + route + "'");
  FoundSecret key = option_secret("votes-key", o.get("votes-key"), "votes-key", secret_vars);
  if (const std::string why = votes_key_problem(key.value); !why.empty())
    config_error("--votes-key: " + key.source.describe() + ": " + why);
  return key;
}

std::unique_ptr<VoteBookRunner> make_vote_book(topgg::ManagerBase& m, const Options& o,
                                               std::optional<FoundSecret> votes_key, Service& service) {
  if (!o.has("track-votes"))
    return nullptr;
  if (!o.has("dedup") || o.get("dedup") == "memory")
    log_start(Level::warning, "--track-votes with the memory store: the vote book is lost on restart (expiries "
                              "owed then never come); --dedup sqlite:PATH or redis keeps it");
  topgg::VoteBookOptions options;
  options.rules = rules_of(o);
  options.on_error = [](std::string_view line) { log(Level::error, line); };
  auto book = std::make_shared<topgg::VoteBook>(m, std::move(options));
  if (votes_key) {
    const std::string route = o.get("votes-route");
    auto key = std::make_shared<VotesKey>(votes_key->value);
    m.router().route("GET", route + "/*", topgg::AckRouteHandler(Endpoint{book, route + "/", key}));
    service.add_secret({"--votes-key", std::move(*votes_key), [key](const std::string& value) {
                          std::string why = votes_key_problem(value);
                          if (why.empty())
                            key->set(value);
                          return why;
                        }});
  }
  return std::make_unique<Runner>(std::move(book));
}

std::string status_json(std::string_view user, const topgg::VoteStatus& s) {
  std::string out = "{\"user\":";
  json_string(out, user);
  out += s.voted ? ",\"voted\":true" : ",\"voted\":false";
  out += ",\"voted_at\":";
  s.voted_at ? json_string(out, rfc3339(*s.voted_at)) : void(out += "null");
  out += ",\"expires_at\":";
  s.expires_at ? json_string(out, rfc3339(*s.expires_at)) : void(out += "null");
  out += ",\"weight\":" + std::to_string(s.weight);
  out += ",\"streak\":" + std::to_string(s.streak);
  out += ",\"count\":" + std::to_string(s.count);
  return out + "}";
}

} // namespace tool
