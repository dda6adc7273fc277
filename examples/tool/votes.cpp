// topgg-webhook votes: prints the project's vote history from Top.gg's v1 API, one JSON line per
// vote, oldest first. The token comes from $TOPGG_TOKEN only: a flag would show it in `ps`.
#include "votes.hpp"

#include <cstdio>

#if TOOL_HAVE_API

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events_json.hpp"
#include "options.hpp"
#include "secrets.hpp"
#include "topgg/api.hpp"

namespace tool {
namespace {

constexpr const char* votes_help = R"(usage: topgg-webhook votes --since TIME [options]

Prints the vote history of the project $TOPGG_TOKEN belongs to, from Top.gg's
v1 API: one JSON line per vote on stdout, oldest first. Exit status: 0 when the
whole history was printed, 1 on an error (one line on stderr; the votes printed
before it are valid), 2 on a usage error.

  --since TIME       first vote to print: RFC 3339 (2026-11-01T00:00:00Z) or a
                     time ago (90s, 30m, 12h, 7d); at most one year back
  --until TIME       stop before the first vote cast at or after TIME (same forms)
  --api-base URL     API root (default https://top.gg/api/v1; https only)
  --api-ca FILE      trust the CA certificates in FILE instead of the system's
  --timeout MS       per request (default 30000)
  --max-retries N    after 429, 5xx and network errors (default 4)
  --interval MS      at least this long between two requests (default 250)

The token is read from $TOPGG_TOKEN, a file named by $TOPGG_TOKEN_FILE, or the
systemd credential topgg-token (never from a flag: flags are visible in the
process list), and never printed.

output:
  {"event":"vote","source":"api","user_id":"...","platform_id":"...","weight":1,
   "created_at":"2026-11-01T02:19:19.145733Z","expires_at":"2026-11-01T14:19:19.145733Z"}
)";

int usage(const std::string& what) {
  std::fprintf(stderr, "topgg-webhook: %s (try votes --help)\n", what.c_str());
  return 2;
}

/// RFC 3339, or a duration before `now`: digits then s, m, h or d.
std::optional<topgg::v1::Timestamp> parse_time(const std::string& text, topgg::v1::Timestamp now) {
  if (auto t = topgg::v1::parse_rfc3339(text))
    return t;
  if (text.size() < 2 || text.size() > 10)
    return std::nullopt;
  long n = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9')
      return std::nullopt;
    n = n * 10 + (text[i] - '0');
  }
  const std::chrono::seconds unit = text.back() == 's'   ? std::chrono::seconds(1)
                                    : text.back() == 'm' ? std::chrono::minutes(1)
                                    : text.back() == 'h' ? std::chrono::hours(1)
                                    : text.back() == 'd' ? std::chrono::hours(24)
                                                         : std::chrono::seconds(0);
  if (unit.count() == 0)
    return std::nullopt;
  return now - n * unit;
}

std::string vote_line(const topgg::api::VoteRecord& r) {
  std::string out = R"({"event":"vote","source":"api")";
  field(out, "user_id", r.user_id);
  field(out, "platform_id", r.platform_id);
  out += ",\"weight\":" + std::to_string(r.weight);
  field(out, "created_at", rfc3339(r.created_at));
  if (r.expires_at == topgg::v1::Timestamp{})
    out += ",\"expires_at\":null";
  else
    field(out, "expires_at", rfc3339(r.expires_at));
  out += "}\n";
  return out;
}

std::string failure_line(const topgg::api::Error& e) {
  if (e.kind == topgg::api::ErrorKind::unauthorized)
    return "token refused (" + std::to_string(e.http_status) + "): check TOPGG_TOKEN";
  return std::string(topgg::api::to_string(e.kind)) + ": " + e.message;
}

} // namespace

int votes_main(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) // never echo the value: it is the secret
    if (const std::string_view a = argv[i]; a.starts_with("--token") || a.starts_with("--api-token"))
      return usage(std::string(a.substr(0, a.find('='))) +
                   " is not accepted: put the token in $TOPGG_TOKEN (flags are visible in `ps`)");
  // Given twice, an option's last value counts (a wrapper's default, then the caller's).
  const std::vector<std::string> valued = {"since",   "until",       "api-base", "api-ca",
                                           "timeout", "max-retries", "interval"};
  const Options o(argc, argv, 2, {valued, {}, valued});
  if (o.help()) {
    std::fputs(votes_help, stdout);
    return 0;
  }
  if (!o.positional().empty())
    return usage("unexpected argument '" + o.positional().front() + "'");

  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  if (!o.has("since"))
    return usage("votes needs --since");
  const auto since = parse_time(o.get("since"), now);
  if (!since)
    return usage("--since takes an RFC 3339 time (2026-11-01T00:00:00Z) or a time ago (12h), not '" + o.get("since") +
                 "'");
  if (*since < now - std::chrono::days(365))
    return usage("--since is more than one year back: Top.gg keeps one year of votes");
  std::optional<topgg::v1::Timestamp> until;
  if (o.has("until")) {
    until = parse_time(o.get("until"), now);
    if (!until)
      return usage("--until takes an RFC 3339 time or a time ago, not '" + o.get("until") + "'");
  }
  const long timeout = o.number("timeout", 30000, 1, 86'400'000, "milliseconds");
  const long retries = o.number("max-retries", 4, 0, 86'400'000, "attempts");
  const long interval = o.number("interval", 250, 0, 86'400'000, "milliseconds");

  const std::string token = find_secret("TOPGG_TOKEN", "topgg-token").value;
  if (token.empty())
    return usage("set $TOPGG_TOKEN to the project's v1 API token");

  topgg::api::Options opt;
  opt.token = token;
  opt.base_url = o.get("api-base", opt.base_url);
  opt.ca_file = o.get("api-ca", opt.ca_file);
  opt.timeout = std::chrono::milliseconds(timeout);
  opt.connect_timeout = std::min(opt.timeout, std::chrono::milliseconds(10000));
  opt.max_retries = static_cast<unsigned>(retries);
  opt.min_interval = std::chrono::milliseconds(interval);
  auto client = topgg::api::Client::create(std::move(opt));
  if (!client)
    return usage(client.error().message);

  std::uint64_t printed = 0;
  bool write_failed = false;
  topgg::api::VotePosition at = topgg::api::VotePosition::starting_at(*since);
  const auto walk = client->for_each_vote(at, [&](const topgg::api::VoteRecord& r) {
    if (until && r.created_at >= *until)
      return false; // oldest first: every later vote is past --until too
    const std::string line = vote_line(r);
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) {
      write_failed = true;
      return false;
    }
    ++printed;
    return true;
  });
  if (std::fflush(stdout) != 0 || write_failed) {
    std::fprintf(stderr, "topgg-webhook: cannot write to stdout\n");
    return 1;
  }
  if (!walk) {
    std::string line = failure_line(walk.error());
    if (at.last)
      line +=
          " (after " + std::to_string(printed) + " votes; resume with --since " + rfc3339(at.last->created_at) + ")";
    std::fprintf(stderr, "topgg-webhook: %s\n", line.c_str());
    return 1;
  }
  return 0;
}

} // namespace tool

#else // built without the API library

namespace tool {

int votes_main(int, char**) {
  std::fprintf(stderr, "topgg-webhook: this build has no API client (libcurl was not found when it was built)\n");
  return 1;
}

} // namespace tool

#endif
