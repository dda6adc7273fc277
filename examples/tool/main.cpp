// topgg-webhook: receive Top.gg webhooks from the command line (`listen`),
// or send a delivery the way Top.gg does, to test a setup (`send`).
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dedup.hpp"
#include "events_json.hpp"
#include "exec_runner.hpp"
#include "send.hpp"
#include "votes.hpp"
#include "topgg/topgg.hpp"
#if TOOL_HAVE_UV
#include "topgg/uv.hpp"
#endif
#if TOOL_HAVE_ASIO
#include "topgg/asio.hpp"
#endif

namespace {

constexpr const char* listen_help = R"(usage: topgg-webhook listen [options]

Receives Top.gg webhooks and prints each accepted event on stdout as one JSON
line; logs and refused requests go to stderr.

routes (each one given is enabled):
  --dbl ROUTE            bot votes (legacy), e.g. /dbl      key: $TOPGG_DBL_AUTH or --dbl-auth
  --dsl ROUTE            server votes (legacy), e.g. /dsl   key: $TOPGG_DSL_AUTH or --dsl-auth
  --v1 ROUTE             signed v1 events, e.g. /topgg      secret: $TOPGG_V1_SECRET or --v1-secret
                         (several secrets: separate them with commas)
  --dbl-auth KEY, --dsl-auth KEY, --v1-secret S
                         override the environment (visible to other users in `ps`!)
server:
  --host H               address to listen on (default 0.0.0.0; :: for IPv6)
  --port P               port (default 8080; 0 picks a free one)
  --loop uv|asio         event loop (default uv)
handling:
  --exec CMD             run CMD (with /bin/sh) per event, the JSON line on its stdin;
                         the delivery is acknowledged only if CMD exits 0 (else 503,
                         and Top.gg delivers again). CMD's stdout goes to stderr.
                         Each failure is one stderr line with the event's kind and
                         why (exit status N, killed by signal N, timed out, queue
                         full, command not found), never the event's data.
  --exec-jobs N          CMDs running at once, 1 to 256 (default 4); 16 x N more
                         events wait for one, beyond that they are answered 503
  --exec-timeout MS      from CMD's start to its exit, writing its stdin included
                         (default 3500); then CMD's whole process group is killed
                         and the delivery answered 503. Keep it below --ack-timeout.
                         On SIGTERM, running CMDs get at most this long; events
                         still waiting are not run.
  --exec-env NAME        hand $NAME to CMD although it holds a secret (repeat it, or
                         NAME,NAME). CMD gets the tool's environment without
                         TOPGG_V1_SECRET, TOPGG_DBL_AUTH, TOPGG_DSL_AUTH, TOPGG_TOKEN.
de-duplication (Top.gg delivers again after a timeout or a 5xx; a retry of a
delivery already handled is answered 2xx with no second line, and said on stderr):
  --dedup memory         in this process's memory (the default): forgotten on restart,
                         not shared between instances
  --dedup sqlite:PATH    in an SQLite file: survives restarts; processes on one host
                         may share the file
  --dedup redis://[:PASSWORD@]HOST:PORT[/DB]
                         in Redis or Valkey: survives restarts and is shared by every
                         instance behind a load balancer. `--dedup redis` reads the URL
                         from $TOPGG_REDIS_URL (keeps a password out of `ps`). While
                         Redis is unreachable deliveries are answered 503 (Top.gg
                         retries) and one line says so.
  --dedup-ttl S          how long a handled delivery is remembered (default 3600)
  --no-dedup             handle every delivery, retries included
limits (MS: whole milliseconds, 1 to 86400000 = 24 h; S: whole seconds, 1 to 86400):
  --max-body BYTES (65536)  --max-header BYTES (16384)  --max-connections N (1024)
  --header-timeout MS (10000)  --body-timeout MS (10000)  --idle-timeout MS (60000)
  --ack-timeout MS (4000)  --v1-window S (300)

Repeated query keys: "query" holds each key's first value; "query_pairs" then
lists every [key, value] in order.
Output is always valid UTF-8: each invalid byte sequence in an event's data
(e.g. a query's ?ref=%FF) is written as U+FFFD, one per maximal ill-formed
subpart, as Python's errors="replace" decodes it.
Secrets: an integration.create line carries the new connection's
"webhook_secret" in clear (the bot needs it), on stdout and --exec's stdin
only: treat both as secret. The tool never writes it to stderr; a CMD that
echoes its stdin would (CMD's stdout goes to stderr).

examples:
  TOPGG_DBL_AUTH=s3cret topgg-webhook listen --dbl /dbl --dsl /dsl --port 8080
  topgg-webhook listen --v1 /topgg --exec 'python3 handle_vote.py'
)";

constexpr const char* send_help = R"(usage: topgg-webhook send URL --kind dbl|dsl|vote.create|webhook.test [options]

Sends one delivery exactly as Top.gg would (v1 ones signed with the current
time), prints the answer's status and body, and exits 1 unless it is 2xx.

  --auth KEY        Authorization for dbl/dsl (default $TOPGG_DBL_AUTH / $TOPGG_DSL_AUTH)
  --secret S        v1 signing secret (default $TOPGG_V1_SECRET)
  --bot ID          bot / project platform ID (default 264811613708746752)
  --guild ID        server ID for dsl (default 5678)
  --user ID         voter's Discord ID (default 160105994217586689)
  --type upvote|test  (default test)
  --query Q         query string the voter's link carried, e.g. '?ref=home'

examples:
  topgg-webhook send http://127.0.0.1:8080/dbl --kind dbl --auth s3cret --query '?ref=readme'
  topgg-webhook send http://127.0.0.1:8080/topgg --kind vote.create --secret whs_...
)";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "topgg-webhook: %s (try --help)\n", what.c_str());
  std::exit(2);
}

/// --name value / --name=value for options in `known`; --name alone for `flags`.
std::map<std::string, std::string> parse_options(int argc, char** argv, int first,
                                                 const std::vector<std::string>& known,
                                                 std::vector<std::string>& positional,
                                                 const std::vector<std::string>& flags = {}) {
  std::map<std::string, std::string> opts;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      opts["help"] = "1";
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (std::find(flags.begin(), flags.end(), name) != flags.end() && !inline_value) {
      opts[name] = "1";
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end())
      usage_error("unknown option --" + name);
    if (!inline_value) {
      if (i + 1 >= argc)
        usage_error("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "exec-env" && opts.count(name)) // the one option that may repeat: collect NAME,NAME
      opts[name] += "," + value;
    else
      opts[name] = value;
  }
  return opts;
}

constexpr long kMaxMs = 24L * 60 * 60 * 1000; // no duration here has a use beyond a day

/// `--name`'s value, a whole number from `lo` to `hi`, else exit 2 naming the
/// option and the range: an absurd value (9223372036854775807 ms) would
/// overflow deadlines computed from it.
long number_in(const std::map<std::string, std::string>& o, const std::string& name, long fallback, long lo, long hi,
               const char* unit) {
  auto it = o.find(name);
  if (it == o.end())
    return fallback;
  const std::string& text = it->second;
  const bool digits = !text.empty() && text.size() <= 18 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const long long v = digits ? std::stoll(text) : -1;
  if (!digits || v < lo || v > hi)
    usage_error("--" + name + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                " (" + unit + "), not '" + text + "'");
  return static_cast<long>(v);
}

long number(const std::map<std::string, std::string>& o, const std::string& name, long fallback) {
  auto it = o.find(name);
  if (it == o.end())
    return fallback;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < 0)
    usage_error("--" + name + " takes a non-negative number, not '" + it->second + "'");
  return v;
}

std::string secret_of(const std::map<std::string, std::string>& o, const std::string& flag, const char* env) {
  if (auto it = o.find(flag); it != o.end()) {
    std::fprintf(stderr, "topgg-webhook: warning: --%s is visible to other users in the process list; "
                         "prefer $%s\n", flag.c_str(), env);
    return it->second;
  }
  const char* v = std::getenv(env);
  return v ? v : "";
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

/// --exec-env NAME[,NAME]: each an environment variable name.
std::vector<std::string> exec_env_names(const std::map<std::string, std::string>& o) {
  auto it = o.find("exec-env");
  if (it == o.end())
    return {};
  std::vector<std::string> names = split_commas(it->second);
  for (const std::string& n : names) {
    const auto word = [](char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)); };
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0])) || !std::all_of(n.begin(), n.end(), word))
      usage_error("--exec-env takes environment variable names (letters, digits, _), not '" + n + "'");
  }
  return names;
}

std::mutex out_mutex;
void print_event(const std::string& line) {
  std::lock_guard lock(out_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

/// Every event: printed (and, with --exec, handed to CMD) before the Ack.
template <class Manager, class Event> void handle_events(Manager& m, tool::ExecRunner* exec) {
  auto handler = [exec](const Event& ev, topgg::Ack ack) {
    std::string line = tool::to_json(ev);
    if (!exec) {
      print_event(line);
      ack.ok();
      return;
    }
    const std::string_view kind = tool::event_name(ev);
    exec->submit(line, [line, ack, kind](const tool::ExecResult& r) {
      if (r.ok) {
        print_event(line);
        ack.ok();
        return;
      }
      // Names the event's kind, never its line: integration.create carries a
      // webhook secret, and stderr ends up in logs. The retry reason is ours
      // too (the error hook skips it: this line already says why).
      const std::string why = "--exec failed for " + std::string(kind) + ": " + r.why;
      const bool answered_now = ack.retry(why);
      std::fprintf(stderr, "topgg-webhook: %s%s\n", why.c_str(),
                   answered_now ? "; answered 503, Top.gg delivers again" : " (the delivery was already answered)");
    });
  };
  if constexpr (std::is_same_v<Event, topgg::BotVote>) m.on_bot_vote(topgg::AckHandler<Event>(handler));
  else if constexpr (std::is_same_v<Event, topgg::ServerVote>) m.on_server_vote(topgg::AckHandler<Event>(handler));
  else if constexpr (std::is_same_v<Event, topgg::v1::VoteCreate>) m.on_vote_create(topgg::AckHandler<Event>(handler));
  else if constexpr (std::is_same_v<Event, topgg::v1::WebhookTest>) m.on_webhook_test(topgg::AckHandler<Event>(handler));
  else if constexpr (std::is_same_v<Event, topgg::v1::IntegrationCreate>)
    m.on_integration_create(topgg::AckHandler<Event>(handler));
  else m.on_integration_delete(topgg::AckHandler<Event>(handler));
}

template <class Manager> int serve(const std::map<std::string, std::string>& o) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr); // every thread started from here on inherits it

  topgg::Settings s;
  s.max_body_bytes = static_cast<std::size_t>(number(o, "max-body", 65536));
  s.max_header_bytes = static_cast<std::size_t>(number(o, "max-header", 16384));
  s.max_connections = static_cast<std::size_t>(number(o, "max-connections", 1024));
  s.header_timeout = std::chrono::milliseconds(number_in(o, "header-timeout", 10000, 1, kMaxMs, "ms"));
  s.body_timeout = std::chrono::milliseconds(number_in(o, "body-timeout", 10000, 1, kMaxMs, "ms"));
  s.idle_timeout = std::chrono::milliseconds(number_in(o, "idle-timeout", 60000, 1, kMaxMs, "ms"));
  s.ack_timeout = std::chrono::milliseconds(number_in(o, "ack-timeout", 4000, 1, kMaxMs, "ms"));
  s.v1_window = std::chrono::seconds(number_in(o, "v1-window", 300, 1, 24 * 60 * 60, "s"));
  s.dedup_ttl = std::chrono::seconds(number_in(o, "dedup-ttl", 3600, 1, 24 * 60 * 60, "s"));
  if (o.count("no-dedup"))
    s.dedup_ttl = std::chrono::seconds(0);
  std::shared_ptr<topgg::IdempotencyStore> store;
  if (auto it = o.find("dedup"); it != o.end() && !o.count("no-dedup")) {
    try {
      store = tool::make_store(it->second);
    } catch (const std::invalid_argument& e) {
      usage_error(e.what());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "topgg-webhook: cannot open the de-duplication store: %s\n", e.what());
      std::exit(1);
    }
    store->on_error([](std::string_view w) {
      std::fprintf(stderr, "topgg-webhook: de-duplication store: %.*s\n", int(w.size()), w.data());
    });
  }

  std::unique_ptr<tool::ExecRunner> exec;
  if (auto it = o.find("exec"); it != o.end()) {
    const auto jobs = static_cast<std::size_t>(number_in(o, "exec-jobs", 4, 1, 256, "commands"));
    const std::chrono::milliseconds timeout(number_in(o, "exec-timeout", 3500, 1, kMaxMs, "ms"));
    if (timeout >= s.ack_timeout)
      std::fprintf(stderr,
                   "topgg-webhook: warning: --exec-timeout (%lld ms) is not below --ack-timeout (%lld ms): a command "
                   "still running then gets its delivery answered 503, and Top.gg delivers it again\n",
                   static_cast<long long>(timeout.count()), static_cast<long long>(s.ack_timeout.count()));
    exec = std::make_unique<tool::ExecRunner>(it->second, jobs, timeout, exec_env_names(o));
  }

  Manager m;
  if (store)
    m.idempotency_store(store);
  m.settings(s)
      .on_error([](const topgg::Rejection& r) {
        if (r.error == topgg::Error::handler_retry)
          return; // only --exec asks for retries, and it has said why on its own line
        if (r.error == topgg::Error::duplicate) {
          std::fprintf(stderr, "topgg-webhook: info: a retry of a handled delivery to %.*s: answered %d, no second line\n",
                       int(r.path.size()), r.path.data(), r.status);
          return;
        }
        std::fprintf(stderr, "topgg-webhook: refused %d %.*s: %.*s\n", r.status, int(r.path.size()), r.path.data(),
                     int(r.detail.size()), r.detail.data());
      })
      .on_warning([](std::string_view w) {
        std::fprintf(stderr, "topgg-webhook: warning: %.*s\n", int(w.size()), w.data());
      });
  if (auto it = o.find("dbl"); it != o.end())
    m.dbl_webhook(it->second, secret_of(o, "dbl-auth", "TOPGG_DBL_AUTH"));
  if (auto it = o.find("dsl"); it != o.end())
    m.dsl_webhook(it->second, secret_of(o, "dsl-auth", "TOPGG_DSL_AUTH"));
  if (auto it = o.find("v1"); it != o.end())
    m.v1_webhook(it->second, split_commas(secret_of(o, "v1-secret", "TOPGG_V1_SECRET")));
  handle_events<Manager, topgg::BotVote>(m, exec.get());
  handle_events<Manager, topgg::ServerVote>(m, exec.get());
  handle_events<Manager, topgg::v1::VoteCreate>(m, exec.get());
  handle_events<Manager, topgg::v1::WebhookTest>(m, exec.get());
  handle_events<Manager, topgg::v1::IntegrationCreate>(m, exec.get());
  handle_events<Manager, topgg::v1::IntegrationDelete>(m, exec.get());

  const std::string host = o.count("host") ? o.at("host") : "0.0.0.0";
  const long port = number(o, "port", 8080);
  if (port > 65535)
    usage_error("--port must be at most 65535");
  std::uint16_t bound = 0;
  try {
    bound = m.run(static_cast<std::uint16_t>(port), host);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "topgg-webhook: cannot listen on %s:%ld: %s\n", host.c_str(), port, e.what());
    return 1;
  }
  const bool v6 = host.find(':') != std::string::npos;
  std::fprintf(stderr, "listening on http://%s%s%s:%u\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "", bound);
  int sig = 0;
  sigwait(&stop, &sig);
  std::fprintf(stderr, "topgg-webhook: %s: closing (answering requests in flight)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  m.close();
  exec.reset(); // waits for running commands; their Acks find a closed server
  return 0;
}

int listen_main(int argc, char** argv) {
  std::vector<std::string> positional;
  auto o = parse_options(argc, argv, 2,
                         {"host", "port", "loop", "dbl", "dsl", "v1", "dbl-auth", "dsl-auth", "v1-secret", "exec",
                          "exec-jobs", "exec-timeout", "exec-env", "max-body", "max-header", "max-connections",
                          "header-timeout", "body-timeout", "idle-timeout", "ack-timeout", "v1-window", "dedup",
                          "dedup-ttl"},
                         positional, {"no-dedup"});
  if (o.count("no-dedup") && (o.count("dedup") || o.count("dedup-ttl")))
    usage_error("--no-dedup and --dedup/--dedup-ttl contradict each other");
  if (o.count("help")) {
    std::fputs(listen_help, stdout);
    return 0;
  }
  if (!positional.empty())
    usage_error("unexpected argument '" + positional[0] + "'");
  if (!o.count("dbl") && !o.count("dsl") && !o.count("v1"))
    usage_error("nothing to listen for: give --dbl, --dsl and/or --v1");
  for (const char* exec_option : {"exec-jobs", "exec-timeout", "exec-env"})
    if (o.count(exec_option) && !o.count("exec"))
      usage_error(std::string("--") + exec_option + " needs --exec");
  const std::string loop = o.count("loop") ? o.at("loop") : "uv";
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

std::string rfc3339_at(std::chrono::system_clock::time_point t) {
  const auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t);
  return tool::rfc3339(topgg::v1::Timestamp{us.time_since_epoch()});
}

int send_main(int argc, char** argv) {
  std::vector<std::string> positional;
  auto o = parse_options(argc, argv, 2, {"kind", "auth", "secret", "bot", "guild", "user", "type", "query"}, positional);
  if (o.count("help")) {
    std::fputs(send_help, stdout);
    return 0;
  }
  if (positional.size() != 1)
    usage_error("send needs exactly one URL");
  const std::string kind = o.count("kind") ? o.at("kind") : "";
  const std::string type = o.count("type") ? o.at("type") : "test";
  if (type != "upvote" && type != "test")
    usage_error("--type must be upvote or test");
  auto get = [&o](const char* k, const char* fallback) { return o.count(k) ? o.at(k) : std::string(fallback); };
  for (const char* id : {"bot", "guild", "user"})
    if (o.count(id) && !topgg::Snowflake::parse(o.at(id)))
      usage_error(std::string("--") + id + " must be a Discord ID (digits)");
  const std::string bot = get("bot", "264811613708746752"), user = get("user", "160105994217586689");
  std::string body, headers = "Content-Type: application/json\r\n";
  auto q = [](std::string_view s) {
    std::string out;
    tool::json_string(out, s);
    return out;
  };
  if (kind == "dbl" || kind == "dsl") {
    const char* env = std::getenv(kind == "dbl" ? "TOPGG_DBL_AUTH" : "TOPGG_DSL_AUTH");
    const std::string auth = o.count("auth") ? o.at("auth") : (env ? env : "");
    body = kind == "dbl" ? "{\"bot\":" + q(bot) : "{\"guild\":" + q(get("guild", "5678"));
    body += ",\"user\":" + q(user) + ",\"type\":" + q(type);
    if (kind == "dbl")
      body += ",\"isWeekend\":false";
    if (o.count("query"))
      body += ",\"query\":" + q(o.at("query"));
    body += "}";
    if (!auth.empty())
      headers += "Authorization: " + auth + "\r\n";
  } else if (kind == "vote.create" || kind == "webhook.test") {
    const char* env = std::getenv("TOPGG_V1_SECRET");
    const std::string secret = o.count("secret") ? o.at("secret") : (env ? env : "");
    if (secret.empty())
      usage_error("v1 deliveries need --secret or $TOPGG_V1_SECRET");
    std::mt19937_64 rng{std::random_device{}()};
    const std::string id = std::to_string(rng() >> 2);
    const std::string project = R"({"id":"803190510032756736","type":"bot","platform":"discord","platform_id":)" + q(bot) + "}";
    const std::string voter = R"({"id":"topgg-user","platform_id":)" + q(user) + R"(,"name":"test-voter","avatar_url":null})";
    if (kind == "vote.create") {
      const auto now = std::chrono::system_clock::now();
      body = R"({"type":"vote.create","data":{"id":)" + q(id) + R"(,"weight":1,"created_at":)" + q(rfc3339_at(now)) +
             R"(,"expires_at":)" + q(rfc3339_at(now + std::chrono::hours(12))) + R"(,"project":)" + project +
             R"(,"user":)" + voter;
      if (o.count("query")) {
        topgg::Query parsed;
        parsed.parse(o.at("query"));
        body += R"(,"query":{)";
        for (std::size_t i = 0; i < parsed.size(); ++i)
          body += (i ? "," : "") + q(parsed[i].key) + ":" + q(parsed[i].value);
        body += "}";
      }
      body += "}}";
    } else {
      body = R"({"type":"webhook.test","data":{"project":)" + project + R"(,"user":)" + voter + "}}";
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    headers += "x-topgg-signature: " + topgg::v1::sign(secret, now.count(), body) + "\r\n";
    headers += "x-topgg-trace: send-" + id + "\r\n";
  } else {
    usage_error("--kind must be dbl, dsl, vote.create or webhook.test");
  }
  const tool::HttpResult r = tool::http_post(positional[0], headers, body);
  if (r.status == 0) {
    std::fprintf(stderr, "topgg-webhook: %s\n", r.error.c_str());
    return 1;
  }
  std::printf("%d %s\n%s%s", r.status, std::string(topgg::reason_phrase(r.status)).c_str(), r.body.c_str(),
              r.body.empty() || r.body.back() == '\n' ? "" : "\n");
  return r.status >= 200 && r.status < 300 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "listen")
    return listen_main(argc, argv);
  if (cmd == "votes")
    return tool::votes_main(argc, argv);
  if (cmd == "send")
    return send_main(argc, argv);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::printf("usage: topgg-webhook listen|send|votes [options]   (topgg-webhook <command> --help)\n"
                "version %s\n", TOPGG_WEBHOOK_VERSION);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("%s\n", TOPGG_WEBHOOK_VERSION);
    return 0;
  }
  usage_error(cmd.empty() ? "missing command: listen, send or votes" : "unknown command '" + cmd + "'");
}
