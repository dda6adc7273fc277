// topgg-webhook status: what the vote book of `listen --track-votes` knows of
// one user, read from its store: the JSON of the listener's --votes-route.
#include <unistd.h>

#include <cstdio>
#include <future>
#include <optional>
#include <stdexcept>

#include "dedup.hpp"
#include "vote_book.hpp"
#include "topgg/vote_book.hpp"

namespace tool {

namespace {

constexpr const char* status_help =
    R"(usage: topgg-webhook status --dedup STORE USER [--project ID | --bot ID | --guild ID]

Prints what the vote book of `topgg-webhook listen --track-votes --dedup STORE`
knows of USER (a Discord ID), as the listener's --votes-route endpoint does:
  {"user":"…","voted":true,"voted_at":"…","expires_at":"…","weight":1,"streak":2,"count":5}
("voted_at" and "expires_at" are null for a user who never voted). No API call.
Exit status 0, 1 when the store cannot be read, 2 on a usage error.

  --dedup STORE      sqlite:PATH, redis://[:PASSWORD@]HOST:PORT[/DB], or redis ($TOPGG_REDIS_URL)
  --project ID       the Top.gg project (v1 votes) ...
  --bot ID           ... or the bot (legacy bot votes) ...
  --guild ID         ... or the server (legacy server votes) the votes were for; needed only
                     when the store holds votes for several
  --streak-grace D   as given to listen (default 12h): a streak is 0 once it cannot go on
)";

} // namespace

int status_main(int argc, char** argv) {
  const Options o(argc, argv, 2, {{"dedup", "project", "bot", "guild", "streak-grace"}});
  if (o.help()) {
    std::fputs(status_help, stdout);
    return 0;
  }
  if (o.positional().size() != 1)
    usage_error("status needs exactly one USER (a Discord ID)");
  const std::string user = o.positional()[0];
  if (!topgg::Snowflake::parse(user))
    usage_error("USER must be a Discord ID (digits), not '" + user + "'");
  if (!o.has("dedup"))
    usage_error("status needs --dedup: the store listen --track-votes keeps its votes in");
  const std::string spec = o.get("dedup");
  std::optional<topgg::VoteSubject> subject;
  for (const char* kind : {"project", "bot", "guild"}) {
    if (!o.has(kind))
      continue;
    if (subject)
      usage_error("give one of --project, --bot, --guild");
    std::string why;
    if (!(subject = subject_named(kind, o.get(kind), why)))
      usage_error(std::string("--") + kind + ": " + why);
  }
  topgg::VoteBookOptions options;
  options.rules.streak_grace =
      o.duration("streak-grace", std::chrono::hours(12), std::chrono::seconds(0), std::chrono::hours(24 * 30));
  const std::shared_ptr<topgg::IdempotencyStore> store = open_kept_store(spec, "listen --track-votes");
  if (!store)
    return 1;
  try {
    topgg::Router router;
    router.idempotency_store(store);
    topgg::VoteBook book(router, options);
    if (!subject) {
      auto p = std::make_shared<std::promise<std::optional<std::vector<topgg::VoteSubject>>>>();
      auto f = p->get_future();
      book.subjects([p](std::optional<std::vector<topgg::VoteSubject>> s) { p->set_value(std::move(s)); });
      const auto list = f.get();
      if (!list)
        throw std::runtime_error("vote book: the store cannot be asked");
      if (list->size() > 1)
        usage_error("votes for several projects, bots or servers are recorded: give --project, --bot or --guild");
      if (!list->empty())
        subject = list->front();
    }
    const topgg::VoteStatus s = subject ? book.status(*subject, user) : topgg::VoteStatus{};
    std::printf("%s\n", status_json(user, s).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topgg-webhook: %s\n", library_words(e).c_str());
    return 1;
  }
}

} // namespace tool
