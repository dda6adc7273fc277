#include "catch_up.hpp"

#include <chrono>
#include <string>

#include "log.hpp"
#if TOOL_HAVE_API
#include "topgg/catch_up.hpp"
#endif

namespace tool {

namespace {
constexpr std::chrono::seconds kYear{365L * 24 * 3600};

// Read where they are checked and where they are used, with one range each:
// the API takes a year back at most, and a round re-reads an hour before.
[[maybe_unused]] std::chrono::seconds catch_up_since(const Options& o) {
  return o.duration("catch-up-since", std::chrono::hours(12), std::chrono::seconds(1), kYear - std::chrono::hours(1));
}
[[maybe_unused]] std::chrono::seconds catch_up_every(const Options& o) {
  return o.duration("catch-up-every", std::chrono::seconds(0), std::chrono::seconds(10), std::chrono::hours(24));
}
} // namespace

void check_catch_up_options(const Options& o) {
  for (const char* name : {"catch-up-since", "catch-up-every", "api-base", "api-ca"})
    if (o.has(name) && !o.has("catch-up"))
      usage_error(std::string("--") + name + " needs --catch-up");
  if (!o.has("catch-up"))
    return;
#if !TOOL_HAVE_API
  usage_error("--catch-up: this build has no API client (libcurl was not found)");
#else
  if (!o.has("v1"))
    usage_error("--catch-up delivers vote.create events: it needs a --v1 route");
  if (env_or_empty("TOPGG_TOKEN").empty())
    usage_error("--catch-up needs the v1 API token in $TOPGG_TOKEN");
  (void)catch_up_since(o); // checked now, before anything starts
  (void)catch_up_every(o);
#endif
}

#if TOOL_HAVE_API
namespace {
class Runner final : public CatchUpRunner {
public:
  Runner(topgg::ManagerBase& m, topgg::api::CatchUpOptions options) : catch_up_(m, std::move(options)) {
    catch_up_.start();
  }
  ~Runner() override { catch_up_.stop(); }

private:
  topgg::api::CatchUp catch_up_;
};
} // namespace
#endif

std::unique_ptr<CatchUpRunner> start_catch_up(topgg::ManagerBase& m, const Options& o) {
  if (!o.has("catch-up"))
    return nullptr;
#if TOOL_HAVE_API
  topgg::api::CatchUpOptions c;
  c.api.token = env_or_empty("TOPGG_TOKEN"); // never logged
  if (o.has("api-base"))
    c.api.base_url = o.get("api-base");
  c.api.ca_file = o.get("api-ca");
  c.since = catch_up_since(o);
  c.every = catch_up_every(o);
  c.on_error = [](std::string_view line) { log_line(std::string(line)); };
  c.on_info = [](std::string_view line) { log_line("info: " + std::string(line)); };
  return std::make_unique<Runner>(m, std::move(c));
#else
  (void)m;
  return nullptr;
#endif
}

} // namespace tool
