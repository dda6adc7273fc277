#include "discord.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <mutex>
#include <stdexcept>

#include "log.hpp"
#include "service.hpp"
#if TOOL_HAVE_API
#include "topgg/discord.hpp"
#include "topgg/vote_book.hpp"
#endif
#if TOOL_HAVE_SQLITE
#include "topgg/sqlite_post_queue.hpp"
#endif
#if TOOL_HAVE_REDIS
#include "dedup.hpp"
#include "topgg/redis_post_queue.hpp"
#endif

namespace tool {

namespace {

constexpr const char* kDefaultEvents = "vote.create,dbl_vote,dsl_vote";
constexpr const char* kPostable[] = {"vote.create", "dbl_vote", "dsl_vote", "webhook.test", "vote.expired"};

std::vector<std::string> events_of(const Options& o) {
  std::vector<std::string> out = split_commas(o.get("discord-events", kDefaultEvents));
  for (const std::string& e : out) {
    bool known = false;
    for (const char* k : kPostable)
      known = known || e == k;
    if (!known)
      usage_error("--discord-events: '" + e +
                  "' is not an event a message is made of (vote.create, dbl_vote, dsl_vote, webhook.test, "
                  "vote.expired)");
  }
  if (out.empty())
    usage_error("--discord-events names no event");
  return out;
}

#if TOOL_HAVE_API
class Sink final : public DiscordSink {
public:
  Sink(std::vector<std::string> events, std::unique_ptr<topgg::discord::Poster> poster)
      : events_(std::move(events)), poster_(std::move(poster)) {}
  ~Sink() override { stop(); }
  void offer(const topgg::BotVote& e) override { give(e); }
  void offer(const topgg::ServerVote& e) override { give(e); }
  void offer(const topgg::v1::VoteCreate& e) override { give(e); }
  void offer(const topgg::v1::WebhookTest& e) override { give(e); }
  void offer(const topgg::VoteExpired& e) override { give(e); }
  void write_metrics(std::string& page) override {
    std::lock_guard lock(stats_m_);
    topgg::discord::write_prometheus(poster_ ? poster_->stats() : last_, page);
  }
  void stop() override {
    std::lock_guard lock(stats_m_);
    if (!poster_)
      return;
    poster_->stop();
    const topgg::discord::PosterStats s = last_ = poster_->stats();
    log_line("Discord: " + std::to_string(s.posted) + " messages posted, " + std::to_string(s.queued) +
             " still queued, " + std::to_string(s.overflow) + " dropped (queue full or posting stopped), " +
             std::to_string(s.rejected) + " refused by Discord");
    poster_.reset();
  }
  /// SIGHUP's new URL: "" once the poster was given it (its thread takes it before its next
  /// attempt), else why not.
  std::string set_url(const std::string& url) {
    std::lock_guard lock(stats_m_);
    if (!poster_)
      return "posting has ended";
    try {
      poster_->set_webhook_url(url);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return {};
  }

private:
  template <class E> void give(const E& e) {
    topgg::discord::VoteFields f = topgg::discord::fields_of(e);
    for (const std::string& k : events_)
      if (k == f.event)
        return poster_->post(std::move(f));
  }
  std::vector<std::string> events_;
  std::unique_ptr<topgg::discord::Poster> poster_;
  std::mutex stats_m_; // the metrics listener's thread reads while the main thread stops
  topgg::discord::PosterStats last_;
};

/// Why `url` cannot be the webhook's URL (the poster's own rule); "" when it can.
std::string url_problem(const std::string& url) {
  return topgg::discord::is_webhook_url(url) ? "" : "not an https:// URL without spaces, line breaks or a fragment";
}
#endif

} // namespace

std::optional<FoundSecret> check_discord_options(const Options& o, std::vector<std::string>& secret_vars) {
  for (const std::string& name : kDiscordOptions)
    if (name != "discord-webhook" && o.has(name) && !o.has("discord-webhook"))
      usage_error("--" + name + " needs --discord-webhook");
  if (!o.has("discord-webhook"))
    return std::nullopt;
#if !TOOL_HAVE_API
  (void)secret_vars;
  usage_error("--discord-webhook: this topgg-webhook was built without libcurl (the API library)");
#else
  FoundSecret url = option_secret("discord-webhook", o.get("discord-webhook"), "discord-webhook", secret_vars);
  if (const std::string why = url_problem(url.value); !why.empty())
    usage_error("--discord-webhook: " + url.source.describe() + ": " + why);
  events_of(o);
  try {
    topgg::discord::Template t(o.get("discord-template", std::string(topgg::discord::Template::default_text)));
  } catch (const std::invalid_argument& e) {
    usage_error(std::string("--discord-template: ") + e.what());
  }
  o.number("discord-queue", 100000, 1, 10'000'000, "messages");
  return url;
#endif
}

#if TOOL_HAVE_API
namespace {
/// The streak of `f`'s voter with this vote counted. An event reaches the sink as its Ack succeeds;
/// the loop records the vote a moment later (when it finishes the delivery): the record is asked
/// again until it holds this vote — its time (v1: created_at; legacy: when it was handled, so within
/// the last hour, while a legacy voter's previous vote is 12 h old) — for 5 s at most.
std::optional<std::uint32_t> streak_of(topgg::VoteBook& book, const topgg::discord::VoteFields& f) {
  if (!f.subject || f.user_id.empty() || f.event == "webhook.test")
    return std::nullopt; // the book never records a test: waiting for it would hold the poster 5 s
  const auto now = std::chrono::system_clock::now();
  const topgg::v1::Timestamp this_vote =
      f.voted_at ? *f.voted_at : std::chrono::floor<std::chrono::microseconds>(now - std::chrono::hours(1));
  // 5 s in all, the store's answers included (a slow store must not make it 100 slow answers).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  topgg::VoteStatus s;
  for (;;) {
    try {
      s = book.status(*f.subject, f.user_id);
    } catch (const std::exception&) { // the store cannot be asked now: no streak
      return std::nullopt;
    }
    if ((s.voted_at && *s.voted_at >= this_vote) || std::chrono::steady_clock::now() >= give_up)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return s.streak;
}
} // namespace
#endif

std::unique_ptr<DiscordSink> make_discord(const Options& o, std::optional<FoundSecret> url,
                                          std::shared_ptr<topgg::VoteBook> book, Service& service) {
  if (!url)
    return nullptr;
  if (o.has("no-dedup")) // without it, Top.gg's retries of handled votes would be posted again
    usage_error("--discord-webhook posts each vote once: it cannot go with --no-dedup");
#if !TOOL_HAVE_API
  (void)book;
  (void)service;
  return nullptr;
#else
  const auto capacity = static_cast<std::size_t>(o.number("discord-queue", 100000, 1, 10'000'000, "messages"));
  std::shared_ptr<topgg::PostQueue> queue;
  const std::string store = o.has("no-dedup") ? "" : o.get("dedup", "memory");
  try {
#if TOOL_HAVE_SQLITE
    if (store.rfind("sqlite:", 0) == 0)
      queue = std::make_shared<topgg::SqlitePostQueue>(store.substr(7), capacity);
#endif
#if TOOL_HAVE_REDIS
    // One queue for every replica on this Redis; one of them posts at a time (the lease).
    if (const auto redis = redis_options_of(store))
      queue = std::make_shared<topgg::RedisPostQueue>(*redis, capacity);
#endif
  } catch (const std::exception& e) {
    log_start(Level::error, std::string("cannot open the Discord queue: ") + e.what());
    std::exit(1);
  }
  if (!queue) {
    log_start(Level::warning, "--discord-webhook: messages wait in memory (lost on exit; a Discord outage loses "
                              "what is queued when the tool stops); --dedup sqlite:PATH or redis://… keeps them");
    queue = std::make_shared<topgg::MemoryPostQueue>(capacity);
  }
  topgg::discord::PosterOptions p;
  p.webhook_url = url->value;
  p.ca_file = o.get("discord-ca");
  p.message = topgg::discord::Template(o.get("discord-template", std::string(topgg::discord::Template::default_text)));
  p.on_log = [](std::string_view line) { log(Level::warning, line); };
  if (book)
    p.streak = [book](const topgg::discord::VoteFields& f) { return streak_of(*book, f); };
  // The book outlives listen's vote book runner (destroyed before the server closes): the poster
  // still renders what the last deliveries handed over when it stops, after the close.
  try {
    auto poster = std::make_unique<topgg::discord::Poster>(std::move(p), std::move(queue));
    auto sink = std::make_unique<Sink>(events_of(o), std::move(poster));
    // SIGHUP's swaps come from the main thread's wait for signals, which ends before the sink goes.
    service.add_secret({"--discord-webhook", std::move(*url), [s = sink.get()](const std::string& value) {
                          const std::string why = url_problem(value);
                          return why.empty() ? s->set_url(value) : why;
                        }});
    return sink;
  } catch (const std::exception& e) {
    log_start(Level::error, std::string("cannot start the Discord poster: ") + e.what());
    std::exit(1);
  }
#endif
}

} // namespace tool
