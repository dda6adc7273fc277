// `listen --discord-webhook VAR|@FILE`: each handled event of the chosen kinds posted in a Discord
// channel, from the API library's poster thread, after its delivery was answered 2xx.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "options.hpp"
#include "secrets.hpp"
#include "topgg/vote_ledger.hpp"
#include "topgg/votes.hpp"
#include "topgg/v1.hpp"

namespace topgg {
class VoteBook;
}

namespace tool {

class Service;

/// listen's Discord options (valued).
inline const std::vector<std::string> kDiscordOptions = {"discord-webhook", "discord-ca", "discord-events",
                                                         "discord-template", "discord-queue"};

/// Checks them before anything listens (usage_error, exit 2: an option without --discord-webhook, a
/// URL in no source ($VAR_FILE, $VAR, the credential discord-webhook; or @FILE) or not https, an
/// unknown event kind or placeholder, the tool built without the API library). Adds the VAR to
/// `secret_vars` (kept from --exec's children). Returns the URL (nullopt without the option), for
/// make_discord().
std::optional<FoundSecret> check_discord_options(const Options& o, std::vector<std::string>& secret_vars);

/// The events a message may be made of.
template <class E>
constexpr bool kPostable = std::is_same_v<E, topgg::BotVote> || std::is_same_v<E, topgg::ServerVote> ||
                           std::is_same_v<E, topgg::v1::VoteCreate> || std::is_same_v<E, topgg::v1::WebhookTest> ||
                           std::is_same_v<E, topgg::VoteExpired>;

/// The running poster: offer() each event once its delivery was answered 2xx.
class DiscordSink {
public:
  virtual ~DiscordSink() = default;
  virtual void offer(const topgg::BotVote& e) = 0;
  virtual void offer(const topgg::ServerVote& e) = 0;
  virtual void offer(const topgg::v1::VoteCreate& e) = 0;
  virtual void offer(const topgg::v1::WebhookTest& e) = 0;
  virtual void offer(const topgg::VoteExpired& e) = 0;
  /// Appends the poster's counters to a /metrics page (topgg_webhook_discord_*).
  virtual void write_metrics(std::string& page) = 0;
  /// Queued messages are pushed to the queue; the thread ends. Before the store closes.
  virtual void stop() = 0;
};

/// With --discord-webhook: the poster of `url` (the check's), its queue in the --dedup store (the
/// SQLite file, or Redis shared by replicas; else in memory), streaks from `book` when votes are
/// tracked (may be null); the URL read again by `service` on SIGHUP (a new one starts posting again
/// after a 401, 403 or 404). nullptr without `url`. Exits 1 (after one line) when the queue cannot
/// be opened.
std::unique_ptr<DiscordSink> make_discord(const Options& o, std::optional<FoundSecret> url,
                                          std::shared_ptr<topgg::VoteBook> book, Service& service);

} // namespace tool
