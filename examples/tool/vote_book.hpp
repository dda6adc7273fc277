// `listen --track-votes`: the vote book in the --dedup store, its vote.expired
// lines (written by listen's handle_events, like every event), the status
// endpoint (--votes-route, --votes-key), and `topgg-webhook status`.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "options.hpp"
#include "secrets.hpp"
#include "topgg/manager.hpp"
#include "topgg/vote_ledger.hpp"

namespace topgg {
class VoteBook;
}

namespace tool {

class Service;

/// listen's vote book options (valued); --track-votes is a flag.
inline const std::vector<std::string> kVoteBookOptions = {"vote-duration", "streak-grace", "votes-route", "votes-key"};

/// Checks them before anything listens: usage_error (exit 2) for --track-votes
/// with --no-dedup, an option without --track-votes, --votes-route without
/// --votes-key (or the other way round), a key no source has (--votes-key
/// VAR: $VAR_FILE, $VAR, the credential votes-key; or @FILE), a bad duration
/// or route. Adds --votes-key's VAR to `secret_vars` (kept from --exec).
/// Returns --votes-key's key (nullopt without --votes-route), for make_vote_book().
std::optional<FoundSecret> check_vote_book_options(const Options& o, std::vector<std::string>& secret_vars);

/// The running vote book; stop it (destroy it) before closing the manager.
class VoteBookRunner {
public:
  virtual ~VoteBookRunner() = default;
  /// After run(): expiries are delivered from now on.
  virtual void start() = 0;
  /// The book (its statuses: the Discord messages' streaks, asked until the
  /// poster stops, after this runner is gone).
  virtual std::shared_ptr<topgg::VoteBook> book() = 0;
};

/// With --track-votes: records every vote `m` handles in its store (set
/// before this), and serves --votes-route with `votes_key` (the check's),
/// read again by `service` on SIGHUP. Call before run(). nullptr without.
std::unique_ptr<VoteBookRunner> make_vote_book(topgg::ManagerBase& m, const Options& o,
                                               std::optional<FoundSecret> votes_key, Service& service);

/// "project", "bot" or "guild" and its ID, checked (a project ID: letters, digits, '-', '_'; the
/// others: Discord IDs); nullopt with `why` when malformed.
std::optional<topgg::VoteSubject> subject_named(std::string_view kind, std::string_view id, std::string& why);

/// {"user":"…","voted":…,"voted_at":"…"|null,"expires_at":"…"|null,"weight":N,"streak":N,"count":N}
std::string status_json(std::string_view user, const topgg::VoteStatus& s);

/// `topgg-webhook status --dedup STORE USER [--project ID|--bot ID|--guild ID]`.
int status_main(int argc, char** argv);

} // namespace tool
