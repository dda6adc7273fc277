// `topgg-webhook listen`: the routes and their keys, the server, and the
// stderr log (one timestamped line per refusal).
#include "listen.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "catch_up.hpp"
#include "dedup.hpp"
#include "discord.hpp"
#include "event_output.hpp"
#include "events_json.hpp"
#include "log.hpp"
#include "exec_runner.hpp"
#include "integrations.hpp"
#include "metrics_http.hpp"
#include "options.hpp"
#include "redis_stream.hpp"
#include "routes.hpp"
#include "service.hpp"
#include "vote_book.hpp"
#include "topgg/topgg.hpp"
#if TOOL_HAVE_UV
#include "topgg/uv.hpp"
#endif
#if TOOL_HAVE_ASIO
#include "topgg/asio.hpp"
#endif

namespace tool {
namespace {

constexpr const char* listen_help = R"help(usage: topgg-webhook listen [options]

Receives Top.gg webhooks and prints each accepted event on stdout as one JSON
line; logs and refused requests go to stderr.

routes (each may be given several times, e.g. one --dbl per bot):
  --dbl ROUTE[=VAR]      bot votes (legacy), e.g. /dbl      key: $VAR, else $TOPGG_DBL_AUTH
  --dsl ROUTE[=VAR]      server votes (legacy), e.g. /dsl   key: $VAR, else $TOPGG_DSL_AUTH
  --v1 ROUTE[=VAR]       signed v1 events, e.g. /topgg      secret: $VAR, else $TOPGG_V1_SECRET
                         (several secrets: commas in a variable, one per line in a file)
                         A route starts with '/'; two routes on one path are refused.
                         VAR names an environment variable holding that route's key,
                         so that keys stay off the command line; it must be set.
  --dbl ROUTE=@FILE, --dsl ROUTE=@FILE, --v1 ROUTE=@FILE
                         the route's key in FILE (read whole, one trailing newline
                         dropped; unreadable or empty: exit 2).
                         A route without its own takes, in this order, --dbl-auth
                         (--dsl-auth, --v1-secret), the file named by
                         $TOPGG_DBL_AUTH_FILE, $TOPGG_DBL_AUTH, then the systemd
                         credential dbl-auth (dsl-auth, v1-secret) in
                         $CREDENTIALS_DIRECTORY. Files and credentials are read
                         again on SIGHUP (see "service" below).
                         Several bots in one process, each with its own key:
                           BOT1_AUTH=k1 BOT2_AUTH=k2 topgg-webhook listen \
                             --dbl /bot1=BOT1_AUTH --dbl /bot2=BOT2_AUTH
                         (each line's "bot" or "guild" says which one was voted for).
  --dbl-auth KEY, --dsl-auth KEY, --v1-secret S
                         the key of the routes given without =VAR, instead of the
                         environment (visible to other users in `ps`!)
                         A route whose key is unset or empty stops the tool at
                         start (exit 2): it would be open to anyone (legacy) or
                         refuse everything (v1).
  --allow-no-auth        legacy routes without a key accept every request (a local
                         test; warned at start)
  --only-for ROUTE=ID    the route serves this bot (--dbl: its Discord ID), server
                         (--dsl: the guild ID) or project (--v1: the Top.gg project
                         ID or the bot's Discord ID; @me: the project of the
                         --catch-up token): a delivery naming another is refused 403.
                         Each line's "route" says which route received the event.
server:
  --host H               address or name to listen on (default 0.0.0.0; :: for IPv6;
                         a name such as localhost is looked up)
  --port P               port, 0 to 65535 (default 8080; 0 picks a free one)
  --loop uv|asio         event loop (default uv)
metrics and health:
  --metrics HOST:PORT    a second listener (never the public --host/--port) serving
                         GET or HEAD /metrics (Prometheus text: topgg_webhook_requests_total
                         {route,status}, _events_total{event}, _refused_total{reason},
                         _duplicates_total, _handler_seconds, _store_up, _build_info, …),
                         /healthz (200 "ok" while the process serves) and /readyz (200
                         "ready" while the public listener runs and the --dedup store
                         answers; 503 and why otherwise, and from SIGTERM on). HOST is
                         required (127.0.0.1:9464, [::1]:9464): nothing is exposed by
                         default. Off: nothing is counted.
service (systemd, proxies, logs):
  --log-format text|json every stderr line as text (default) or as one JSON object:
                         {"time","level","msg"} and, where known, "status",
                         "method", "path", "peer", "trace", "event"; with --exec,
                         what CMD writes becomes such lines too
  --trust-proxy CIDR[,CIDR]
                         connections from these addresses are proxies of yours
                         (nginx, Caddy): a refused request's line names the client
                         from their X-Forwarded-For (else Forwarded), the last
                         address not of your proxies, "via" the proxy. For logs
                         and the refusal rate limits only; e.g. 127.0.0.1/32,::1
  Under systemd (Type=notify): READY=1 once listening, STATUS=, STOPPING=1 on
  SIGTERM, RELOADING=1 then READY=1 on SIGHUP, WATCHDOG=1 every half of
  $WATCHDOG_USEC from the event loop (a stuck loop stops them). With socket
  activation ($LISTEN_FDS, $LISTEN_PID) the socket systemd passed is served
  (one; --host and --port are not used): a restart loses no connection.
  SIGHUP reads every key and secret that comes from a file or a credential
  again (the routes', --votes-key's, --discord-webhook's) and swaps those that
  changed without closing a connection, one line each; a file that cannot be
  read keeps the old key. systemd copies credentials when the service starts:
  a new credential takes a restart (which loses no request). Keys from
  variables or options cannot change while running. $TOPGG_TOKEN and
  $TOPGG_REDIS_URL (--catch-up, --dedup redis) may come from
  $TOPGG_TOKEN_FILE and $TOPGG_REDIS_URL_FILE, or the credentials
  topgg-token and redis-url; they are read at start only. systemd's variables are removed from --exec's
  environment.
handling:
  --exec CMD             run CMD (with /bin/sh) per event, the JSON line on its stdin;
                         the delivery is acknowledged only if CMD exits 0 (else 503,
                         and Top.gg delivers again). CMD's stdout goes to stderr
                         (with --log-format json, each line it writes is logged).
                         Each failure is one stderr line with the event's kind and
                         why (exit status N, killed by signal N, timed out, queue
                         full, command not found), never the event's data.
  --exec-jobs N          CMDs running at once, 1 to 256 (default 4); 16 x N more
                         events wait for one, beyond that they are answered 503
  --exec-timeout MS      from CMD's start to its exit, writing its stdin included
                         (default 3000); then CMD's whole process group is killed
                         and the delivery answered 503. An event waits for a free
                         CMD only while its whole --exec-timeout still fits before
                         its --ack-timeout (less up to 250 ms to answer); later it is
                         answered 503 and not run, so a CMD never runs for a
                         delivery answered 503 (Top.gg's retry runs it once).
                         On SIGTERM, running CMDs get at most this long; events
                         still waiting are answered 503 and not run.
  --exec-env NAME        hand $NAME to CMD although it holds a secret (repeat it, or
                         NAME,NAME). CMD gets the tool's environment without
                         TOPGG_V1_SECRET, TOPGG_DBL_AUTH, TOPGG_DSL_AUTH, TOPGG_TOKEN,
                         TOPGG_REDIS_URL, TOPGG_INTEGRATION_SECRET, every VAR of a
                         ROUTE=VAR, the VAR of --discord-webhook VAR and of
                         --votes-key VAR (the *_FILE variables, paths, are kept).
Redis Streams (for a bot that runs as many processes: each reads the stream in a
consumer group; see the README for C++, Python and Node consumers):
  --redis-stream NAME    XADD each handled event to the stream NAME (fields "event", the
                         event's name, and "json", the line stdout gets) before its
                         delivery is answered: 2xx only once Redis took it; while Redis
                         cannot, 503 (Top.gg delivers again) and one line per outage.
                         Retries and catch-up twins are de-duplicated before (use
                         --dedup redis://… when several instances share the stream).
  --redis-stream-url URL the stream's Redis (default: that of --dedup redis://…, else
                         $TOPGG_REDIS_URL)
  --redis-stream-maxlen N
                         trim the stream to about N entries (MAXLEN ~; default 100000;
                         0 never trims)
de-duplication (Top.gg delivers again after a timeout or a 5xx; a retry of a
delivery already handled is answered 2xx with no second line, and said on stderr):
  --dedup memory         in this process's memory (the default): forgotten on restart,
                         not shared between instances
  --dedup sqlite:PATH    in an SQLite file: survives restarts; processes on one host
                         may share the file
  --dedup redis://[:PASSWORD@]HOST:PORT[/DB]
                         in Redis or Valkey: survives restarts and is shared by every
                         instance behind a load balancer. `--dedup redis` reads the URL
                         from $TOPGG_REDIS_URL (keeps a password out of `ps`). Asked at
                         start: a wrong password, db or host name exits 1. While
                         Redis is unreachable deliveries are answered 503 (Top.gg
                         retries) and one line says so.
  --dedup-ttl S          how long a handled delivery is remembered (default 3600); a
                         legacy vote at most 11 h whatever this says (it has no vote
                         ID, and its voter may vote again after 12 h); a vote.create
                         25 h at least (its key holds the vote's time)
  --no-dedup             handle every delivery, retries included
catch-up (votes cast while no receiver was up: Top.gg retries a v1 delivery only
three times, within seconds):
  --catch-up             read Top.gg's vote history (v1 API token in $TOPGG_TOKEN,
                         never logged) and deliver each vote not yet seen like a live
                         vote.create, with "source":"catch-up" ("id", the user's
                         "name" and "avatar_url" are "" then). Rounds start from the
                         newest vote handled, kept in the --dedup store (sqlite or
                         redis keep it across restarts), re-reading an hour before it.
  --catch-up-since D     without a kept mark, how far back (default 12h; 90s, 30m, 7d)
  --catch-up-every D     a round every D after the first (default: only at start; 5m);
                         a round that fails is tried again sooner, after 5 s, then
                         doubling up to 5 min
  --catch-up-route ROUTE the --v1 route caught-up votes go through (their key, their
                         "route"); needed when there are several
  --api-base URL, --api-ca FILE
                         another API address (https only) and CA file (for tests)
vote book (votes as state: who voted, until when, streaks, and an event when a vote
runs out; no API call):
  --track-votes          record every handled vote in the --dedup store (not with
                         --no-dedup; a retry or a vote both caught up and delivered
                         counts once) and print one line when a user's latest vote
                         runs out with no newer one extending it:
                           {"event":"vote.expired","route":"/topgg","user":"…",
                            "project":"…","voted_at":"…","expired_at":"…","streak":2}
                         ("bot" or "guild" for legacy votes). Like every line it goes
                         to --exec too; a failed CMD gets it again later (after 1 s,
                         doubling up to 5 min), a CMD that exits 0 never again.
                         memory: lost on restart; sqlite: expiries that came due
                         while the tool was down come at start, late; redis: shared
                         by every instance, each expiry printed by one of them.
  --vote-duration D      how long a legacy vote lasts (default 12h; v1 votes carry
                         their own expires_at); D as 90s, 30m, 12h, 7d
  --streak-grace D       a vote cast at most D after the previous one ran out
                         continues the streak, a later one starts again at 1
                         (default 12h)
  --votes-route ROUTE    GET ROUTE/USER_ID[?project=ID|?bot=ID|?guild=ID] answers what
  --votes-key VAR|@FILE  the book knows of a user, for the bot's other processes, with
                         `Authorization: Bearer KEY` (both needed: never open without
                         a key; compared in constant time). KEY comes from $VAR_FILE
                         (a path), $VAR, the credential votes-key, or FILE; from a
                         file it is read again on SIGHUP:
                           {"user":"…","voted":true,"voted_at":"…","expires_at":"…",
                            "weight":1,"streak":2,"count":5}
                         401 without the key or with a wrong one, 400 for a malformed
                         ID (or several projects recorded and none named), 503 while
                         the store is unreachable. `topgg-webhook status` prints the
                         same from the store.
Discord (post each handled vote in a channel, through a Discord webhook):
  --discord-webhook VAR|@FILE
                         post a message per handled event to the webhook URL in
                         $VAR_FILE (a path), $VAR, the credential discord-webhook, or
                         FILE (a secret: never logged, kept from --exec's children;
                         from a file read again on SIGHUP). After
                         the delivery was answered 2xx, from a thread of its own: a
                         post never delays or fails a delivery; retries and catch-up
                         twins are de-duplicated first, so each vote is posted once.
                         Discord's rate limits (buckets, 429 retry_after, the global
                         limit) are waited for; 5xx and network errors are retried
                         with waits doubling up to 1 min, for as long as it takes.
                         Messages wait in order in the --dedup store: sqlite's file
                         (a restart or an outage loses none), or Redis, one queue
                         for every listener on it (one listener posts at a time;
                         another takes over within 60 s if it dies), else in memory.
                         401/403/404 (webhook deleted): one line, posting stops
                         (what is queued stays) until SIGHUP reads a new URL from
                         its file; deliveries go on. A crash between Discord's answer and the
                         message's removal posts it again (at least once).
  --discord-events LIST  which events (default vote.create,dbl_vote,dsl_vote; also
                         webhook.test, vote.expired)
  --discord-template T   the message (default "Thank you for voting, {user}!"):
                         {user} (a mention), {user_id}, {user_name} (Top.gg name,
                         v1 webhook votes; else the mention), {bot}, {guild},
                         {project}, {weight}, {weekend} (yes/no), {streak} (with
                         --track-votes; else 1), {event}, {route}, {type}; {{ }}
                         are braces. Only the voter can be pinged (allowed_mentions).
  --discord-queue N      messages kept waiting, at most (default 100000); beyond,
                         new ones are dropped with one line per episode
  --discord-ca FILE      the only CA trusted for the webhook's host (tests)
integrations (a service many bots connect to, Top.gg v1 "integrations"):
  --integrations ROUTE[=VAR|=@FILE]
                         the integration's configuration URL: integration.create is
                         answered with {"webhook_url":"<public URL>ROUTE/<id>",
                         "routes":[…]}, the connection's secret kept in the --dedup
                         store; integration.delete forgets it. Each connection's
                         deliveries arrive at ROUTE/<connection_id>, verified with its
                         own secret only (not the integration's: 403), and their lines
                         carry "connection_id". A deleted connection: 403 (its refusal
                         line, rate-limited); an unknown one: 500 (Top.gg retries) while
                         the store is read again, then 403. Only ROUTE itself makes and
                         ends connections: integration.create/delete at ROUTE/<id>: 403;
                         at a --v1 route: its usual line. A replayed integration.create with a new secret
                         replaces the old one at once (rotation). The integration's
                         own secret: $VAR, the file, --integration-secret,
                         $TOPGG_INTEGRATION_SECRET(_FILE) or the credential
                         integration-secret. memory: connections lost on restart;
                         sqlite: kept across restarts; redis: shared by every
                         instance (seen by the others within a second). Secrets are
                         stored as given: keep the file 0600, Redis behind an ACL.
                         `topgg-webhook integrations list|forget` shows and ends them.
  --public-url URL       where Top.gg reaches this server (https://bot.example.com):
                         the start of every webhook_url
  --integration-events E[,E]
                         the events each connection asks for (default vote.create;
                         e.g. vote.create,webhook.test)
  --integration-secret S the integration's secret, instead of the environment
                         (visible to other users in `ps`!)
  --print-integration-secret
                         put "webhook_secret" in integration.create lines (only
                         without --integrations; never by default)
limits (MS: whole milliseconds, 1 to 86400000 = 24 h; S: whole seconds, 1 to 86400):
  --max-body BYTES       1 to 16777216 (default 65536)
  --max-header BYTES     1024 to 1048576 (default 16384)
  --max-connections N    1 to 1000000 (default 1024)
  --header-timeout MS (10000)  --body-timeout MS (10000)  --idle-timeout MS (60000)
  --ack-timeout MS (4000)  --v1-window S (300)

Output (stdout), one line per event, "route" the route that received it:
  {"event":"dbl_vote","route":"/dbl","bot":"…","user":"…","type":"upvote","is_weekend":false,"query":{…}}
  {"event":"dsl_vote","route":"/dsl","guild":"…","user":"…","type":"test","query":{…}}
  {"event":"vote.create","route":"/topgg","id":"…","weight":1,…,"user":{"id":…,"platform_id":…},…,"trace":"…"}
  {"event":"vote.expired","user":"…","project":"…","voted_at":"…","expired_at":"…","streak":1}
Repeated query keys: "query" holds each key's first value; "query_pairs" then
lists every [key, value] in order.
Output is always valid UTF-8: each invalid byte sequence in an event's data
(e.g. a query's ?ref=%FF) is written as U+FFFD, one per maximal ill-formed
subpart, as Python's errors="replace" decodes it.
Secrets: an integration.create line (a --v1 route answered by you) carries the
connection's "webhook_secret" only with --print-integration-secret, then in
clear on stdout and --exec's stdin: treat both as secret. The tool never
writes it to stderr; a CMD that echoes its stdin would (CMD's stdout goes to
stderr). With --integrations the tool keeps the secrets itself.

Log (stderr), one line per refused request, time in UTC (per reason and
client the first 5 of each 10 s; the rest one "N more like …" summary line):
  topgg-webhook: 2025-06-01T12:34:56.789Z refused 401 POST /dbl from 203.0.113.7:51234: Authorization header does not match the route's key
  ("(before the request line)" when a request broke before its path was read;
  "from 198.51.100.7 via 127.0.0.1:51234" behind a --trust-proxy).
  With --log-format json:
  {"time":"2025-06-01T12:34:56.789Z","level":"warning","msg":"refused 401 POST /dbl from …","status":401,"method":"POST","path":"/dbl","peer":"203.0.113.7:51234","reason":"…"}
A retry of a delivery already handled is an "info:" line. While the de-duplication
store is unavailable, its deliveries are refused 503 with one line per outage
(the store says when it fails and when it is back).

examples:
  TOPGG_DBL_AUTH=s3cret topgg-webhook listen --dbl /dbl --dsl /dsl --port 8080
  topgg-webhook listen --v1 /topgg --exec 'python3 handle_vote.py'
)help";

constexpr long kMaxMs = 24L * 60 * 60 * 1000; // no duration here has a use beyond a day
constexpr long kMaxS = 24L * 60 * 60;

/// --exec-env NAME[,NAME] (repeatable): each an environment variable name.
std::vector<std::string> exec_env_names(const Options& o) {
  std::vector<std::string> names;
  for (const std::string& value : o.all("exec-env"))
    for (const std::string& n : split_commas(value)) {
      if (!env_name(n))
        usage_error("--exec-env takes environment variable names (letters, digits, _), not '" + n + "'");
      names.push_back(n);
    }
  return names;
}

// ---- --exec -------------------------------------------------------------------

/// The command runner and the time each command is given.
struct Exec {
  std::unique_ptr<ExecRunner> runner;
  std::chrono::milliseconds ack_timeout{};
  std::chrono::milliseconds run_limit{}; ///< --exec-timeout, cut to what fits in --ack-timeout
  /// Kept between a command's end and its delivery's deadline: the line is
  /// written and the answer sent in that time.
  static std::chrono::milliseconds answer_margin(std::chrono::milliseconds ack_timeout) {
    return std::min(std::chrono::milliseconds(250), ack_timeout / 5);
  }
  /// What an event may always wait for a free command, even when
  /// --exec-timeout takes all of --ack-timeout (the command's limit is cut).
  static std::chrono::milliseconds least_wait(std::chrono::milliseconds ack_timeout) {
    return std::min(std::chrono::milliseconds(250), ack_timeout / 10);
  }
};

std::unique_ptr<Exec> start_exec(const Options& o, std::chrono::milliseconds ack_timeout,
                                 const std::vector<std::string>& secret_vars) {
  if (!o.has("exec"))
    return nullptr;
  auto exec = std::make_unique<Exec>();
  const auto jobs = static_cast<std::size_t>(o.number("exec-jobs", 4, 1, 256, "commands"));
  const std::chrono::milliseconds timeout(o.number("exec-timeout", 3000, 1, kMaxMs, "ms"));
  const auto margin = Exec::answer_margin(ack_timeout);
  exec->ack_timeout = ack_timeout;
  exec->run_limit =
      std::max(std::chrono::milliseconds(1), std::min(timeout, ack_timeout - margin - Exec::least_wait(ack_timeout)));
  const auto queue_wait = ack_timeout - margin - exec->run_limit;
  const auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; };
  if (timeout > exec->run_limit)
    log_start(Level::warning, "--exec-timeout (" + ms(timeout) + ") does not fit in --ack-timeout (" + ms(ack_timeout) +
                                  ") with " + ms(margin) + " left to answer: each command is stopped after " +
                                  ms(exec->run_limit) + ", and an event waits at most " + ms(queue_wait) +
                                  " for a free command (beyond --exec-jobs they are answered 503 without running)");
  else if (queue_wait < std::chrono::milliseconds(500))
    log_start(Level::warning, "with --exec-timeout " + ms(timeout) + " and --ack-timeout " + ms(ack_timeout) +
                                  " an event waits at most " + ms(queue_wait) +
                                  " for a free command (it must still be able to run its whole --exec-timeout and be "
                                  "answered); then it is answered 503 without running");
  // With JSON logs, what a command writes becomes log lines too: stderr stays JSON.
  std::function<void(std::string_view)> output;
  if (log_format() == LogFormat::json)
    output = [](std::string_view line) { log(Level::info, line, {0, {}, {}, {}, {}, {}, {{"source", "exec"}}}); };
  exec->runner = std::make_unique<ExecRunner>(o.get("exec"), jobs, exec->run_limit, exec_env_names(o), secret_vars,
                                              std::move(output));
  return exec;
}

// ---- events -------------------------------------------------------------------

/// Every event: printed (and, with --exec, handed to CMD first) before the
/// Ack — the Ack completes once its line is written (see event_output.hpp).
/// With --discord-webhook, `discord` (set before the server runs) is offered
/// each event once its delivery was answered 2xx, in the order of the lines;
/// with --redis-stream, the line is added to the stream before it is written.
template <class Manager, class Event>
topgg::AckHandler<Event> handle_events(Manager& m, EventOutput& out, Exec* exec, topgg::RedisStreamWriter* stream,
                                       const std::unique_ptr<DiscordSink>& discord) {
  auto handler = [&out, exec, stream, &discord](const Event& ev, topgg::Ack ack) {
    std::string line = to_json(ev);
    std::function<void()> then;
    if constexpr (kPostable<Event>)
      if (discord)
        then = [&discord, copy = ev] { discord->offer(copy); };
    if (!exec)
      return finish_event(out, stream, event_name(ev), std::move(line), std::move(ack), std::move(then));
    const std::string_view kind = event_name(ev);
    // The command gets its whole time limit and must end `answer_margin`
    // before the delivery's deadline (time to write the line and answer):
    // an event that cannot start by then is answered 503 without running.
    const auto deadline = ack.deadline();
    const auto latest_start = deadline == topgg::Clock::time_point::max()
                                  ? deadline
                                  : deadline - Exec::answer_margin(exec->ack_timeout) - exec->run_limit;
    std::string copy = line;
    exec->runner->submit(
        std::move(copy), latest_start, [ack] { return !ack.done(); },
        [&out, stream, line = std::move(line), ack, kind, then = std::move(then)](const ExecResult& r) {
          if (r.ok)
            return finish_event(out, stream, kind, line, ack, then);
          // Names the event's kind, never its line: integration.create carries a
          // webhook secret, and stderr ends up in logs. The retry reason is ours
          // too (the error hook skips it: this line already says why).
          const std::string why =
              (r.started ? "--exec failed for " : "--exec did not run ") + std::string(kind) + ": " + r.why;
          const bool answered_now = ack.retry(why);
          if constexpr (std::is_same_v<Event, topgg::VoteExpired>) // the vote book's: no Top.gg retry
            return log(Level::error, why + (answered_now ? "; given again later" : " (already given up)"),
                       {0, {}, {}, {}, {}, kind});
          log(Level::error,
              why + (answered_now ? "; answered 503, Top.gg delivers again" : " (the delivery was already answered)"),
              {answered_now ? 503 : 0, {}, {}, {}, {}, kind});
        });
  };
  topgg::AckHandler<Event> h(handler);
  m.template on<Event>(h);
  return h; // --integrations hands other routes' connection events to it
}

// ---- the server ---------------------------------------------------------------

template <class Manager> int serve(const Options& o) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGHUP);                   // reload
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // every thread started from here on inherits it
  Service service(o);                         // systemd's environment read (and removed) before any thread starts

  topgg::Settings s;
  s.max_body_bytes = static_cast<std::size_t>(o.number("max-body", 65536, 1, 16L << 20, "bytes"));
  s.max_header_bytes = static_cast<std::size_t>(o.number("max-header", 16384, 1024, 1L << 20, "bytes"));
  s.max_connections = static_cast<std::size_t>(o.number("max-connections", 1024, 1, 1'000'000, "connections"));
  s.header_timeout = std::chrono::milliseconds(o.number("header-timeout", 10000, 1, kMaxMs, "ms"));
  s.body_timeout = std::chrono::milliseconds(o.number("body-timeout", 10000, 1, kMaxMs, "ms"));
  s.idle_timeout = std::chrono::milliseconds(o.number("idle-timeout", 60000, 1, kMaxMs, "ms"));
  s.ack_timeout = std::chrono::milliseconds(o.number("ack-timeout", 4000, 1, kMaxMs, "ms"));
  s.v1_window = std::chrono::seconds(o.number("v1-window", 300, 1, kMaxS, "s"));
  s.dedup_ttl = std::chrono::seconds(o.number("dedup-ttl", 3600, 1, kMaxS, "s"));
  if (o.has("no-dedup"))
    s.dedup_ttl = std::chrono::seconds(0);
  if (s.dedup_ttl > std::chrono::hours(11) && (o.has("dbl") || o.has("dsl")))
    log_start(Level::warning, "--dedup-ttl " + std::to_string(s.dedup_ttl.count()) +
                                  " s: legacy votes (--dbl, --dsl) are remembered 11 h at most, since their voter may "
                                  "vote again after 12 h");
  const std::string host = o.get("host", "0.0.0.0");
  const auto port = static_cast<std::uint16_t>(o.number("port", 8080, 0, 65535, "port"));
  Routes routes = route_specs(o);
  check_catch_up_options(o, routes);
  std::vector<std::string> secret_vars = routes.secret_vars;
  std::optional<FoundSecret> votes_key = check_vote_book_options(o, secret_vars);
  std::optional<FoundSecret> discord_url = check_discord_options(o, secret_vars);
  check_integration_options(o, routes);
  print_integration_secret = o.has("print-integration-secret");
  const std::optional<MetricsAddress> metrics_at = check_metrics_option(o, host, port);

  std::shared_ptr<topgg::IdempotencyStore> store;
  if (o.has("dedup") && !o.has("no-dedup")) {
    try {
      store = make_store(o.get("dedup"));
    } catch (const std::invalid_argument& e) {
      usage_error(library_words(e));
    } catch (const StoreUnusable& e) { // exits before listening: every vote would be answered 503
      log_start(Level::error, e.what());
      return 1;
    } catch (const std::exception& e) {
      log_start(Level::error, "cannot open the de-duplication store: " + library_words(e));
      return 1;
    }
    store->on_error(log_store_line);
  }

  std::unique_ptr<Exec> exec = start_exec(o, s.ack_timeout, secret_vars);

  // Anyone can send refused requests: a few lines per reason and client, then a summary.
  LineLimiter refusal_limits({}, [](const std::string& line) { log_summary(line); });
  limit_refusal_lines(&refusal_limits);
  struct Unlimit {
    ~Unlimit() { limit_refusal_lines(nullptr); }
  } unlimit; // before the limiter goes (it is declared first: destroyed last)
  Manager m;
  EventOutput output(STDOUT_FILENO, [&m](std::function<void()> job) { return m.post(std::move(job)); });
  std::shared_ptr<topgg::RedisStreamWriter> stream; // after `output`, so gone before it: its completions write there
  try {
    stream = make_stream(o);
  } catch (const StoreUnusable& e) {
    log_start(Level::error, e.what());
    return 1;
  }
  if (store)
    m.idempotency_store(store);
  m.settings(s).on_error(log_rejection).on_duplicate(log_duplicate).on_warning([](std::string_view w) {
    log(Level::warning, w);
  });
  try {
    for (const RouteSpec& r : routes.list) {
      if (r.kind == "integrations") // make_integrations() sets it up
        continue;
      if (r.kind == "dbl")
        m.dbl_webhook(r.path, r.key);
      else if (r.kind == "dsl")
        m.dsl_webhook(r.path, r.key);
      else
        m.v1_webhook(r.path, r.secrets);
      if (!r.only_for.empty() && r.only_for != "@me") // @me: catch-up learns it from its token
        m.only_for(r.path, r.only_for);
    }
  } catch (const std::invalid_argument& e) { // a route without '/', two on one path
    usage_error(library_words(e));
  }
  std::unique_ptr<DiscordSink> discord; // made once the vote book is (its streaks), before the server runs
  handle_events<Manager, topgg::BotVote>(m, output, exec.get(), stream.get(), discord);
  handle_events<Manager, topgg::ServerVote>(m, output, exec.get(), stream.get(), discord);
  handle_events<Manager, topgg::v1::VoteCreate>(m, output, exec.get(), stream.get(), discord);
  handle_events<Manager, topgg::v1::WebhookTest>(m, output, exec.get(), stream.get(), discord);
  const auto on_create =
      handle_events<Manager, topgg::v1::IntegrationCreate>(m, output, exec.get(), stream.get(), discord);
  const auto on_delete =
      handle_events<Manager, topgg::v1::IntegrationDelete>(m, output, exec.get(), stream.get(), discord);
  handle_events<Manager, topgg::VoteExpired>(m, output, exec.get(), stream.get(), discord);
  std::unique_ptr<VoteBookRunner> votes =
      make_vote_book(m, o, std::move(votes_key), service); // before run(): it configures the router
  discord = make_discord(o, std::move(discord_url), votes ? votes->book() : nullptr, service);
  std::unique_ptr<topgg::Integrations> integrations;
  try {
    integrations = make_integrations(m, o, routes, on_create, on_delete); // before run(), as the vote book
    if (integrations)
      integrations->start();                 // every stored connection, before the first delivery
  } catch (const std::invalid_argument& e) { // two routes on one path
    usage_error(library_words(e));
  } catch (const std::exception& e) {
    log_start(Level::error, "cannot read the integration connections: " + library_words(e));
    return 1;
  }
  count_metrics(metrics_at, m);

  try {
    service.listen(m, port, host);    // or on the socket systemd passed
  } catch (const std::exception& e) { // the library's text names the address
    log_start(Level::error, library_words(e));
    return 1;
  }
  std::unique_ptr<MetricsServer> metrics_server;
  try {
    metrics_server = serve_metrics<Manager>(metrics_at, m, [&discord](std::string& page) {
      if (discord)
        discord->write_metrics(page);
    });
  } catch (const std::exception& e) {
    log_start(Level::error, e.what());
    // As at SIGTERM: the public listener ran meanwhile, so a command may be
    // running, and its completion writes to `output`, destroyed before `exec`.
    if (exec)
      exec->runner->refuse_waiting();
    m.close();
    exec.reset();
    return 1;
  }
  service.ready(m); // "listening on", and READY=1 under systemd, once both listeners run
  std::unique_ptr<CatchUpRunner> catch_up = start_catch_up(m, o, routes);
  if (votes)
    votes->start();
  int sig = 0;
  while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
    service.reload(m, routes);
  service.stopping(sig);
  log_line(std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + ": closing (answering requests in flight)");
  if (metrics_server)
    metrics_server->stopping(); // /readyz: 503 while the answers in flight go out
  catch_up.reset();             // its round in progress is cancelled; the mark stays where it got
  votes.reset();                // deliveries under way finish or are given back to the store
  integrations.reset();         // a create or delete arriving from now on is answered 503 (retried)
  if (exec)
    exec->runner->refuse_waiting(); // answered 503 now, never run (the retry is)
  m.close();
  exec.reset();   // waits for running commands; their Acks find a closed server
  stream.reset(); // the batch under way ends; what is queued fails (503 that no one reads: Top.gg retries)
  output.flush(); // a line added after the loop stopped: its delivery was answered, so it is not written
  if (discord)
    discord->stop(); // what was handed over is queued (kept with sqlite); a post under way gets a moment
  return 0;
}

} // namespace

int listen_main(int argc, char** argv) {
  std::vector<std::string> valued = {"host", "port", "loop"};
  valued.insert(valued.end(), kRouteOptions.begin(), kRouteOptions.end());
  valued.insert(valued.end(), kVoteBookOptions.begin(), kVoteBookOptions.end());
  valued.insert(valued.end(), kDiscordOptions.begin(), kDiscordOptions.end());
  valued.insert(valued.end(), kIntegrationOptions.begin(), kIntegrationOptions.end());
  valued.insert(valued.end(),
                {"exec", "exec-jobs", "exec-timeout", "exec-env", "max-body", "max-header", "max-connections",
                 "header-timeout", "body-timeout", "idle-timeout", "ack-timeout", "v1-window", "dedup", "dedup-ttl",
                 "catch-up-since", "catch-up-every", "catch-up-route", "api-base", "api-ca"});
  valued.push_back("metrics"); // metrics_http.hpp
  valued.insert(valued.end(), kStreamOptions.begin(), kStreamOptions.end());
  valued.insert(valued.end(), kLogOptions.begin(), kLogOptions.end());
  valued.insert(valued.end(), kServiceOptions.begin(), kServiceOptions.end());
  const Options o(argc, argv, 2,
                  {valued,
                   {"no-dedup", "catch-up", "allow-no-auth", "track-votes", "print-integration-secret"},
                   {"dbl", "dsl", "v1", "exec-env", "only-for", "trust-proxy"}});
  if (o.help()) {
    std::fputs(listen_help, stdout);
    return 0;
  }
  set_log_format_from(o); // before anything is said
  if (o.has("no-dedup") && (o.has("dedup") || o.has("dedup-ttl")))
    usage_error("--no-dedup and --dedup/--dedup-ttl contradict each other");
  if (!o.positional().empty())
    usage_error("unexpected argument '" + o.positional()[0] + "'");
  if (!o.has("dbl") && !o.has("dsl") && !o.has("v1") && !o.has("integrations"))
    usage_error("nothing to listen for: give --dbl, --dsl, --v1 and/or --integrations");
  for (const char* exec_option : {"exec-jobs", "exec-timeout", "exec-env"})
    if (o.has(exec_option) && !o.has("exec"))
      usage_error(std::string("--") + exec_option + " needs --exec");

  const std::string loop = o.get("loop", "uv");
#if TOOL_HAVE_UV
  if (loop == "uv")
    return serve<topgg::uv::WebhookManager>(o);
#endif
#if TOOL_HAVE_ASIO
  if (loop == "asio")
    return serve<topgg::asio::WebhookManager>(o);
#endif
  usage_error("--loop must be uv or asio (and built in), not '" + loop + "'");
}

} // namespace tool
