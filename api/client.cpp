// The API client's public side: options checked before anything is sent, calls serialised (and
// refused after cancel()), and the walk over the vote history page by page. See client_impl.hpp
// for the rest.
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <unordered_set>

#include "client_impl.hpp"
#include "topgg/version.hpp"

namespace topgg::api {

using detail::is_header_safe;
using detail::make_error;
using detail::snippet;
using detail::starts_with_nocase;

namespace {

std::once_flag curl_once;
CURLcode curl_init_result = CURLE_FAILED_INIT;

/// Why `options` cannot make a client, or nothing: then their defaults are filled in, and `base` is
/// the base URL without trailing slashes.
std::optional<std::string> refusal(Options& options, std::string& base) {
  if (curl_init_result != CURLE_OK)
    return "libcurl failed to initialise";
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (!info || !(info->features & CURL_VERSION_SSL))
    return "libcurl was built without TLS";
  if (options.token.empty())
    return "no API token";
  if (!is_header_safe(options.token))
    return "the API token contains a space, control or non-ASCII byte";
  base = options.base_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  if (!starts_with_nocase(base, "https://"))
    return "the API base URL must start with https:// (got '" + snippet(base, 100) + "')";
  if (base.size() == 8 || !is_header_safe(base) || base.find_first_of("?#") != std::string::npos)
    return "the API base URL must be https://host[:port][/path] without spaces, query or fragment";
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0)
    return "cannot read the CA file '" + snippet(options.ca_file, 200) + "'";
  if (options.timeout <= std::chrono::milliseconds::zero() ||
      options.connect_timeout <= std::chrono::milliseconds::zero())
    return "timeouts must be positive";
  if (options.min_interval < std::chrono::milliseconds::zero() || options.backoff < std::chrono::milliseconds::zero())
    return "intervals must not be negative";
  if (options.max_backoff < options.backoff)
    options.max_backoff = options.backoff;
  if (options.user_agent.empty())
    options.user_agent = "topgg-webhook/" TOPGG_WEBHOOK_VERSION;
  if (!std::all_of(options.user_agent.begin(), options.user_agent.end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
    return "the user agent contains a control or non-ASCII byte";
  return std::nullopt;
}

} // namespace

Client::Impl::~Impl() { OPENSSL_cleanse(opt.token.data(), opt.token.size()); }

Client::Client(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::create(Options options) {
  std::call_once(curl_once, [] { curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string base;
  if (std::optional<std::string> why = refusal(options, base)) {
    OPENSSL_cleanse(options.token.data(), options.token.size());
    return make_error(ErrorKind::invalid_argument, std::move(*why));
  }

  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(options);
  impl->votes_url = base + "/projects/@me/votes";
  impl->project_url = base + "/projects/@me";
  std::string auth = "Authorization: Bearer " + impl->opt.token;
  impl->headers = curl_slist_append(nullptr, auth.c_str());
  OPENSSL_cleanse(auth.data(), auth.size());
  if (impl->headers)
    impl->headers = curl_slist_append(impl->headers, "Accept: application/json");
  if (!impl->headers)
    return make_error(ErrorKind::invalid_argument, "out of memory");
  const Options& o = impl->opt;
  if (!impl->open({o.ca_file, o.user_agent, o.timeout, o.connect_timeout, o.max_response_bytes}))
    return make_error(ErrorKind::invalid_argument, "libcurl refused an option (https support missing?)");
  return Client(std::move(impl));
}

#define TOPGG_API_CALL_GUARD                                                                                           \
  if (!impl_)                                                                                                          \
    return make_error(ErrorKind::invalid_argument, "use of a moved-from Client");                                      \
  std::lock_guard call_lock(impl_->call_mutex);                                                                        \
  if (impl_->cancel_flag.load())                                                                                       \
    return impl_->cancelled_error();

Result<Project> Client::project() {
  TOPGG_API_CALL_GUARD
  if (auto e = impl_->get(impl_->project_url, "/projects/@me"))
    return std::move(*e);
  Project out;
  std::string why;
  if (!detail::decode_project(impl_->parser, impl_->body, out, why))
    return impl_->fail(ErrorKind::bad_response, "GET /projects/@me: " + why, 200);
  return out;
}

Result<VotesPage> Client::votes_page(v1::Timestamp since) {
  TOPGG_API_CALL_GUARD
  return impl_->page_since(since);
}

Result<VotesPage> Client::votes_page(std::string_view cursor) {
  TOPGG_API_CALL_GUARD
  return impl_->page_after(cursor);
}

Result<WalkStats> Client::for_each_vote(VotePosition& from, const VoteCallback& on_vote) {
  TOPGG_API_CALL_GUARD
  if (!on_vote)
    return make_error(ErrorKind::invalid_argument, "no vote callback");
  WalkStats stats;
  // Every cursor of this walk, to catch a history that leads back to a page
  // already walked (A -> B -> A) rather than paging forever. A few thousand
  // pages at most for a year of votes: a set of their cursors is small.
  std::unordered_set<std::string> seen;
  if (!from.cursor.empty())
    seen.insert(from.cursor);
  for (;;) {
    Result<VotesPage> page = from.cursor.empty() ? impl_->page_since(from.since) : impl_->page_after(from.cursor);
    if (!page)
      return page.error();
    ++stats.pages;
    if (page->records.empty()) {
      stats.complete = true;
      return stats;
    }
    for (const VoteRecord& r : page->records) {
      bool go = false;
      try {
        go = on_vote(r);
      } catch (const std::exception& ex) {
        return impl_->fail(ErrorKind::callback_failed, std::string("vote callback threw: ") + ex.what());
      } catch (...) {
        return impl_->fail(ErrorKind::callback_failed, "vote callback threw a non-std exception");
      }
      if (!go)
        return stats;
      from.last = r;
      ++stats.records;
    }
    // `from` keeps naming this page until the next cursor is known to be usable, so a bad page
    // end re-delivers it later rather than skipping what follows.
    if (page->cursor.empty())
      return impl_->fail(ErrorKind::bad_response, "GET /projects/@me/votes: a page of votes came without a cursor",
                         200);
    if (page->cursor == from.cursor)
      return impl_->fail(ErrorKind::bad_response, "GET /projects/@me/votes: the cursor did not move forward", 200);
    if (!seen.insert(page->cursor).second)
      return impl_->fail(ErrorKind::bad_response,
                         "GET /projects/@me/votes: the cursor led back to a page already walked (after " +
                             std::to_string(stats.pages) + " pages): the history loops",
                         200);
    from.cursor = std::move(page->cursor);
  }
}

Result<VotePosition> Client::for_each_vote(v1::Timestamp since, const VoteCallback& on_vote) {
  VotePosition at = VotePosition::starting_at(since);
  Result<WalkStats> r = for_each_vote(at, on_vote);
  if (!r)
    return r.error();
  return at;
}

#undef TOPGG_API_CALL_GUARD

void Client::cancel() noexcept {
  if (!impl_)
    return;
  impl_->cancel();
}

void Client::reset_cancel() noexcept {
  if (impl_)
    impl_->cancel_flag.store(false);
}

bool Client::cancelled() const noexcept { return impl_ && impl_->cancel_flag.load(); }

} // namespace topgg::api
