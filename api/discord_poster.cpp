// The Discord poster's thread: events handed over are rendered and pushed to the queue in order;
// the queue's oldest message is posted until Discord accepts it, within its rate limits, through
// outages; then removed. See topgg/discord.hpp for the contract.
#include <openssl/crypto.h>

#include <cstdio>
#include <deque>
#include <optional>
#include <stdexcept>
#include <thread>

#include "client_impl.hpp"
#include "topgg/discord.hpp"
#include "topgg/version.hpp"

namespace topgg::discord {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

namespace {

/// A webhook URL and the forms of it that are scrubbed from every line.
struct WebhookUrl {
  std::string given; // as the caller gave it
  std::string url;   // with wait=true: what is posted to
  std::string token; // its last path segment

  /// False when `u` is not https://… without spaces or a fragment.
  bool parse(const std::string& u);
  void cleanse() {
    for (std::string* s : {&given, &url, &token})
      OPENSSL_cleanse(s->data(), s->size());
  }
};

} // namespace

struct __attribute__((visibility("hidden"))) Poster::Impl {
  PosterOptions opt;
  std::shared_ptr<PostQueue> queue;
  WebhookUrl hook; // secrets: the thread's to read; written by it under secrets_m
  mutable std::mutex secrets_m;
  std::vector<WebhookUrl> retired; // URLs replaced by set_webhook_url: still scrubbed
  api::detail::Transfer transfer;
  RateLimits limits;

  mutable std::mutex m;
  std::mutex stop_m;               // stop() by one caller at a time: a second waits, then finds the thread joined
  std::condition_variable cv;      // the thread waits on it: intake, stop
  std::condition_variable done_cv; // stop() waits on it: the thread ended
  std::deque<VoteFields> inbox;
  std::optional<WebhookUrl> next_hook; // set_webhook_url's, for the thread to take before its next post
  bool next_revives = false;           // posting had stopped when it was given
  std::size_t held = 0;                // taken.size() as last told by the thread (never less): inbox + held <= intake
  bool stopping = false, finished = false, gone = false, full_said = false;
  PosterStats st;
  std::thread thread;

  // The thread's own.
  std::deque<VoteFields> taken;
  std::optional<QueuedPost> current;
  std::optional<std::uint64_t> unpopped; // accepted by Discord, its removal threw: removed before any post
  std::uint64_t queued = 0;
  milliseconds poll{0};           // the queue's poll_interval(): shared by processes when positive
  Steady::time_point next_poll{}; // a shared queue that had nothing for this poster is asked again then
  bool outage = false, store_trouble = false, queue_full = false;

  ~Impl() {
    hook.cleanse();
    for (WebhookUrl& w : retired)
      w.cleanse();
    if (next_hook)
      next_hook->cleanse();
  }

  // Never throws: an on_log that throws (or an allocation that fails) must not end the poster's
  // thread (std::terminate) nor fail post() on the caller's thread; the line is lost instead.
  void log(const std::string& line) const noexcept {
    try {
      const std::string clean = scrub(line);
      if (opt.on_log)
        opt.on_log(clean);
      else
        std::fprintf(stderr, "topgg-webhook: %s\n", clean.c_str());
    } catch (...) {
    }
  }
  std::string scrub(std::string s) const {
    std::lock_guard lock(secrets_m);
    const auto hide = [&s](const WebhookUrl& w) {
      for (const std::string* secret : {&w.url, &w.given, &w.token}) // the longest first
        if (!secret->empty())
          for (auto at = s.find(*secret); at != std::string::npos; at = s.find(*secret, at))
            s.replace(at, secret->size(), "<webhook>");
    };
    hide(hook);
    for (const WebhookUrl& w : retired)
      hide(w);
    return s;
  }
  void set_queued() {
    std::lock_guard lock(m);
    st.queued = queued;
    held = taken.size();
  }
  /// Removes the message Discord accepted; throws (and keeps `unpopped`) when the store fails.
  void pop_unpopped() {
    queue->pop(*unpopped);
    unpopped.reset();
    if (queued > 0) // a shared queue's holder also posts what other processes pushed
      --queued;
    set_queued();
  }

  void run();
  bool take_next_hook();
  bool push_taken();
  bool post_front();
  /// Waits until `t` (or for intake when `t` is max) or stop; false once stopping.
  bool wait_until(Steady::time_point t);
};

namespace {

bool header_safe(std::string_view s) {
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f)
      return false;
  return true;
}

} // namespace

bool is_webhook_url(std::string_view u) noexcept {
  return u.size() > 8 && api::detail::starts_with_nocase(u, "https://") && header_safe(u) &&
         u.find('#') == std::string_view::npos;
}

namespace {

constexpr const char* kBadUrl = "the Discord webhook URL must be https://… without spaces or a fragment";

bool WebhookUrl::parse(const std::string& u) {
  if (!is_webhook_url(u))
    return false;
  given = u;
  url = u + (u.find('?') == std::string::npos ? "?wait=true" : "&wait=true");
  const std::size_t path_end = u.find('?') == std::string::npos ? u.size() : u.find('?');
  const std::size_t slash = u.rfind('/', path_end);
  token.clear();
  if (slash != std::string::npos && slash > 8 && path_end - slash > 8)
    token = u.substr(slash + 1, path_end - slash - 1);
  return true;
}

} // namespace

Poster::Poster(PosterOptions options, std::shared_ptr<PostQueue> queue) : impl_(std::make_shared<Impl>()) {
  Impl& i = *impl_;
  if (!queue)
    throw std::invalid_argument("the Discord poster needs a queue");
  if (!i.hook.parse(options.webhook_url))
    throw std::invalid_argument(kBadUrl);
  if (options.retry_first <= milliseconds::zero() || options.retry_most < options.retry_first ||
      options.timeout <= milliseconds::zero() || options.stop_grace < milliseconds::zero() || options.intake == 0)
    throw std::invalid_argument("Discord poster: waits and timeouts must be positive, retry_most >= retry_first");
  OPENSSL_cleanse(options.webhook_url.data(), options.webhook_url.size()); // kept in `hook` alone
  options.webhook_url.clear();
  i.opt = std::move(options);
  i.queue = std::move(queue);
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  i.transfer.headers = curl_slist_append(nullptr, "Content-Type: application/json");
  api::detail::TransferOptions t;
  t.ca_file = i.opt.ca_file;
  t.user_agent = "topgg-webhook/" TOPGG_WEBHOOK_VERSION;
  t.timeout = i.opt.timeout;
  t.connect_timeout = std::min(i.opt.timeout, milliseconds(10000));
  t.max_response_bytes = 1u << 20;
  if (!i.transfer.headers || !i.transfer.open(t))
    throw std::invalid_argument("libcurl refused an option (https support missing?)");
  i.poll = i.queue->poll_interval();
  try {
    i.queued = i.queue->size();
  } catch (const std::exception&) {
    if (i.poll <= milliseconds::zero())
      throw; // a store of its own that cannot be read at start is the caller's to report
    // a shared store (Redis) may come later: the thread asks it every poll interval
  }
  i.st.queued = i.queued;
  i.thread = std::thread([impl = impl_] { impl->run(); });
}

Poster::~Poster() { stop(); }

void Poster::post(VoteFields f) {
  Impl& i = *impl_;
  bool say_full = false;
  {
    std::lock_guard lock(i.m);
    if (i.gone || i.stopping) {
      ++i.st.overflow;
      return;
    }
    if (i.inbox.size() + i.held >= i.opt.intake) { // taken too: it grows while the store is down
      ++i.st.overflow;
      say_full = !i.full_said;
      i.full_said = true;
    } else {
      i.full_said = false;
      i.inbox.push_back(std::move(f));
    }
  }
  if (say_full)
    i.log("Discord: " + std::to_string(i.opt.intake) +
          " events wait to be queued (the queue's store is slow or down): events are dropped until they are");
  else
    i.cv.notify_one();
}

void Poster::stop() {
  Impl& i = *impl_;
  std::lock_guard one(i.stop_m); // two callers at once would both join()
  std::unique_lock lock(i.m);
  if (!i.thread.joinable())
    return;
  i.stopping = true;
  i.cv.notify_all();
  if (!i.done_cv.wait_for(lock, i.opt.stop_grace, [&i] { return i.finished; })) {
    lock.unlock();
    i.transfer.cancel(); // posted again at the next start if Discord had accepted it: at least once
    lock.lock();
  }
  lock.unlock();
  i.thread.join();
}

void Poster::set_webhook_url(const std::string& url) {
  WebhookUrl w;
  if (!w.parse(url))
    throw std::invalid_argument(kBadUrl);
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.m);
    if (i.next_hook)
      i.next_hook->cleanse();
    i.next_hook = std::move(w);
    i.next_revives = i.next_revives || i.gone;
    i.gone = i.st.stopped = false; // events handed over from now on are queued for the new webhook
  }
  i.cv.notify_all();
}

PosterStats Poster::stats() const {
  std::lock_guard lock(impl_->m);
  return impl_->st;
}

bool Poster::Impl::wait_until(Steady::time_point t) {
  std::unique_lock lock(m);
  const auto woken = [this] { return stopping || !inbox.empty() || next_hook; };
  if (t == Steady::time_point::max())
    cv.wait(lock, woken);
  else
    cv.wait_until(lock, t, woken);
  for (auto& f : inbox)
    taken.push_back(std::move(f));
  inbox.clear();
  held = taken.size();
  return !stopping;
}

/// Renders and queues what was handed over; false while the store cannot be written.
bool Poster::Impl::push_taken() {
  while (!taken.empty()) {
    VoteFields& f = taken.front();
    if (opt.message.uses_streak() && opt.streak && !f.streak) {
      try {
        f.streak = opt.streak(f);
      } catch (...) {
        // the streak is cosmetic: the message goes out without it
      }
    }
    const std::string body = message_body(f, opt.message.render(f));
    bool added = false;
    try {
      added = queue->push(body);
    } catch (const std::exception& e) {
      if (!store_trouble)
        log(std::string("Discord: cannot queue a message (") + e.what() + "); trying again");
      store_trouble = true;
      set_queued();
      return false;
    }
    if (store_trouble)
      log("Discord: the queue's store works again");
    store_trouble = false;
    if (added) {
      ++queued;
      queue_full = false;
    } else {
      {
        std::lock_guard lock(m);
        ++st.overflow;
      }
      if (!queue_full)
        log("Discord: the queue is full (" + std::to_string(queued) +
            " messages wait): new messages are dropped until it drains");
      queue_full = true;
    }
    taken.pop_front();
  }
  set_queued();
  return true;
}

/// One attempt at the oldest message; false when posting must wait (a failure, a limit).
bool Poster::Impl::post_front() {
  if (unpopped)
    pop_unpopped(); // its removal threw last time: tried again before any post, never posted twice
  if (!current || poll > milliseconds::zero())
    current = queue->front(); // a shared queue's lease may have moved since the last attempt
  if (!current) {
    queued = 0; // nothing for this poster: it waits for its next push, or the next poll
    next_poll = Steady::now() + poll;
    const std::size_t waiting = poll > milliseconds::zero() ? queue->size() : 0; // for whichever process posts
    std::lock_guard lock(m);
    st.queued = waiting;
    return false;
  }
  const api::detail::Attempt a = transfer.perform(hook.url, &current->body);
  if (a.cancelled)
    return false;
  const auto now = Steady::now();
  if (a.code != CURLE_OK || a.status >= 500 || a.status < 200) {
    if (!outage)
      log("Discord: cannot post (" +
          (a.code != CURLE_OK ? std::string(curl_easy_strerror(a.code)) +
                                    (transfer.curl_error[0] ? std::string(": ") + transfer.curl_error : "")
                              : "HTTP " + std::to_string(a.status)) +
          "); " + std::to_string(queued) + " messages wait, tried again with growing waits");
    outage = true;
    std::lock_guard lock(m);
    ++st.retried;
    return false;
  }
  Answer answer{a.status, transfer.answer_headers, transfer.body};
  limits.observe("webhook", answer, now);
  if (a.status == 429) {
    std::lock_guard lock(m);
    ++st.retried;
    ++st.rate_limited;
    return true; // the limits say when
  }
  if (a.status == 401 || a.status == 403 || a.status == 404) {
    {
      std::lock_guard lock(m); // before the line: an event handed over after it is counted as dropped
      if (next_hook)
        return false; // the URL was replaced meanwhile: the message goes to the new one
      gone = st.stopped = true;
    }
    log("Discord answered " + std::to_string(a.status) +
        " to the webhook: it was deleted, or the URL is wrong. Posting stops until a new URL is given "
        "(deliveries go on; " +
        std::to_string(queued) + " messages stay queued)");
    return false;
  }
  if (a.status >= 300) {
    log("Discord refused a message (HTTP " + std::to_string(a.status) + ": " + api::detail::snippet(transfer.body) +
        "); it is dropped");
    std::lock_guard lock(m);
    ++st.rejected;
  } else {
    std::lock_guard lock(m);
    ++st.posted;
  }
  if (outage)
    log("Discord: posting again");
  outage = false;
  // Removed now, not before the next post: a stop (or, shared, a lease that ends) during the rate
  // limit's wait must not leave it queued to be posted again.
  unpopped = current->seq;
  current.reset();
  pop_unpopped(); // may throw: `unpopped` stays, removed before the next post or at the stop
  return true;
}

/// A URL given by set_webhook_url() is used from the next attempt on; one the last answer (a 401,
/// 403 or 404 to the old URL) made this poster stop posting starts again with it. True when it
/// took one: the old webhook's waits (its back-off, its rate limits) are then not the new one's.
bool Poster::Impl::take_next_hook() {
  std::optional<WebhookUrl> w;
  bool was_gone = false;
  {
    std::lock_guard lock(m);
    if (!next_hook)
      return false;
    w.swap(next_hook);
    was_gone = next_revives || gone;
    next_revives = gone = st.stopped = false;
  }
  {
    std::lock_guard lock(secrets_m);
    retired.push_back(std::move(hook));
    hook = std::move(*w);
  }
  limits = RateLimits{};
  outage = false;
  log("Discord: a new webhook URL is used from now on" +
      (was_gone ? "; posting again (" + std::to_string(queued) + " messages wait)" : std::string()));
  return true;
}

void Poster::Impl::run() {
  milliseconds backoff = opt.retry_first;
  Steady::time_point next_try{};
  for (;;) {
    if (take_next_hook()) {
      backoff = opt.retry_first;
      next_try = {};
    }
    const bool pushed = push_taken();
    {
      std::lock_guard lock(m);
      if (stopping)
        break;
    }
    const bool halted = [this] {
      std::lock_guard lock(m);
      return gone;
    }();
    const auto ready = std::max(limits.ready_at("webhook"), next_try);
    const bool idle =
        !current && queued == 0 && !unpopped && (poll <= milliseconds::zero() || Steady::now() < next_poll);
    if (halted || Steady::now() < ready || idle || !pushed) {
      // What could not be pushed is tried again after a while, even with nothing to post: an
      // idle poster would otherwise hold it until the next event arrives.
      const auto until = halted                                ? Steady::time_point::max()
                         : !pushed                             ? Steady::now() + backoff
                         : idle && poll > milliseconds::zero() ? next_poll // others push too
                         : idle                                ? Steady::time_point::max()
                                                               : ready;
      if (!wait_until(until))
        continue; // stopping: push what came, then end
      continue;
    }
    bool ok = false;
    try {
      ok = post_front();
      store_trouble = false;
    } catch (const std::exception& e) {
      if (!store_trouble)
        log(std::string("Discord: cannot read the queue (") + e.what() + "); trying again");
      store_trouble = true;
    }
    if (ok || limits.ready_at("webhook") > Steady::now()) {
      if (ok)
        backoff = opt.retry_first;
      next_try = {};
    } else if (!current && !unpopped && !store_trouble) {
      next_try = {}; // nothing to post (or cancelled)
    } else {
      next_try = Steady::now() + backoff;
      backoff = std::min(backoff * 2, opt.retry_most);
    }
    wait_until(Steady::now()); // takes what arrived meanwhile
  }
  if (unpopped) {
    try {
      pop_unpopped(); // a last try: else it is posted again at the next start
    } catch (const std::exception& e) {
      log(std::string("Discord: cannot remove a posted message (") + e.what() + "): it may be posted again");
    }
  }
  if (!taken.empty())
    log("Discord: " + std::to_string(taken.size()) + " messages could not be queued before the stop: lost");
  std::lock_guard lock(m);
  finished = true;
  done_cv.notify_all();
}

} // namespace topgg::discord

namespace topgg::discord {

void write_prometheus(const PosterStats& s, std::string& out) {
  const auto metric = [&out](const char* name, const char* type, const char* help) {
    out += std::string("# HELP topgg_webhook_discord_") + name + " " + help + "\n# TYPE topgg_webhook_discord_" + name +
           " " + type + "\n";
  };
  const auto value = [&out](const std::string& series, std::uint64_t v) {
    out += "topgg_webhook_discord_" + series + " " + std::to_string(v) + "\n";
  };
  metric("posts_total", "counter", "Messages Discord accepted.");
  value("posts_total", s.posted);
  metric("retries_total", "counter", "Attempts tried again: rate limited (429), or failed (5xx, network, timeout).");
  value("retries_total{reason=\"rate_limited\"}", s.rate_limited);
  value("retries_total{reason=\"failed\"}", s.retried - s.rate_limited);
  metric("rejected_total", "counter", "Messages Discord refused (a 4xx other than 401, 403, 404, 429): dropped.");
  value("rejected_total", s.rejected);
  metric("dropped_total", "counter", "Events not queued: the queue was full, or posting had stopped.");
  value("dropped_total", s.overflow);
  metric("queued", "gauge", "Messages waiting to be posted.");
  value("queued", s.queued);
  metric("stopped", "gauge", "1 while posting is stopped: Discord answered 401, 403 or 404 (until a new URL).");
  value("stopped", s.stopped ? 1 : 0);
}

} // namespace topgg::discord
