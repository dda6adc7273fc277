#include "topgg/catch_up.hpp"

#include "topgg/metrics.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <cstdio>
#include <mutex>
#include <thread>

namespace topgg::api {

namespace {

using Clock = std::chrono::system_clock;

v1::Timestamp now_us() { return std::chrono::time_point_cast<std::chrono::microseconds>(Clock::now()); }

// The API takes startDate at most a year back; keep an hour's margin.
v1::Timestamp oldest_allowed() { return now_us() - std::chrono::hours(365 * 24 - 1); }

std::string describe(const Error& e) {
  std::string line = "catch-up: ";
  switch (e.kind) {
  case ErrorKind::unauthorized:
    line += "token refused (" + std::to_string(e.http_status) + "): check TOPGG_TOKEN";
    break;
  case ErrorKind::rate_limited: line += "rate limited by Top.gg"; break;
  default: line += std::string(to_string(e.kind));
  }
  if (!e.message.empty())
    line += " (" + e.message + ")";
  return line + "; live deliveries go on";
}

v1::VoteCreate to_event(const VoteRecord& r, const v1::Project& project) {
  v1::VoteCreate v;
  v.weight = r.weight;
  v.created_at = r.created_at;
  v.expires_at = r.expires_at;
  v.project = project;
  v.user.id = r.user_id;
  v.user.platform_id = r.platform_id;
  v.source = v1::Source::catch_up; // id, user name and avatar: not in the history
  return v;
}

} // namespace

struct CatchUp::Impl {
  Router& router;
  ManagerBase* manager = nullptr; // deliver on its loop when set
  CatchUpOptions options;
  std::optional<Client> client;
  std::optional<v1::Project> project;
  std::string route; // the v1 route votes go through
  std::string mark_name;
  bool told_no_handler = false; // rounds run one at a time
  bool told_wrong_target = false;

  std::mutex m;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
  CatchUpStats stats; // under m

  // A round ended: counted here and in the Router's metrics, if any.
  void tell(const CatchUpRound& r) {
    const bool ok = !r.error && r.failed == 0;
    const auto at = Clock::now();
    {
      std::lock_guard lock(m);
      ++(ok ? stats.rounds : stats.rounds_failed);
      stats.votes += r.delivered;
      if (ok)
        stats.last_success = at;
    }
    if (const std::shared_ptr<Metrics> metrics = router.metrics())
      metrics->catch_up_round(ok, at, r.delivered);
  }

  Impl(Router& r, CatchUpOptions o) : router(r), options(std::move(o)) {
    // Made here, before any other thread may call stop() (which cancels it).
    auto c = Client::create(options.api);
    if (c)
      client.emplace(std::move(*c));
    else
      client_error = c.error();
  }
  std::optional<Error> client_error; // the options were refused

  void report(std::string_view line) noexcept {
    try {
      if (options.on_error)
        return options.on_error(line);
    } catch (...) {
    }
    std::fprintf(stderr, "topgg-webhook: %.*s\n", static_cast<int>(line.size()), line.data());
  }
  void info(std::string_view line) noexcept {
    try {
      if (options.on_info)
        options.on_info(line);
    } catch (...) {
    }
  }
  bool stopped() {
    std::lock_guard lock(m);
    return stopping;
  }

  // One vote through the pipeline; waits for its outcome (bounded). What
  // continues after a store's late answer runs where the vote started: on the
  // manager's loop, or here (the waiting thread runs the jobs it is handed).
  std::optional<topgg::Error> deliver(const v1::VoteCreate& vote) {
    struct Wait {
      std::mutex m;
      std::condition_variable cv;
      std::optional<topgg::Error> result;
      std::deque<std::function<void()>> jobs;
      bool left = false; // deliver() returned: later jobs run where they are handed over
    };
    auto w = std::make_shared<Wait>();
    auto done = [w](topgg::Error e) {
      std::lock_guard lock(w->m);
      w->result = e;
      w->cv.notify_all();
    };
    if (manager) {
      ManagerBase* m = manager;
      Executor on_loop = [m](std::function<void()> job) {
        if (!m->post(job))
          job(); // not running: no loop thread to keep to
      };
      // The job may run after this CatchUp is gone (stop() does not wait for
      // it): it holds the manager's Router, which lives as long as its loop.
      if (!manager->post([r = &router, route = route, vote, done, on_loop] {
            r->deliver(route, vote, Now::current(), done, on_loop);
          }))
        return std::nullopt; // not running
    } else {
      Executor here = [w](std::function<void()> job) {
        std::unique_lock lock(w->m);
        if (w->left) {
          lock.unlock();
          return job();
        }
        w->jobs.push_back(std::move(job));
        w->cv.notify_all();
      };
      router.deliver(route, vote, Now::current(), done, here);
    }
    const auto deadline = std::chrono::steady_clock::now() + options.vote_timeout;
    std::unique_lock lock(w->m);
    while (!w->result && std::chrono::steady_clock::now() < deadline && !stopped()) {
      if (!w->jobs.empty()) {
        auto job = std::move(w->jobs.front());
        w->jobs.pop_front();
        lock.unlock();
        job();
        lock.lock();
        continue;
      }
      w->cv.wait_for(lock, std::chrono::milliseconds(100)); // stop() does not reach this condition variable
    }
    // Given up (timeout or stop): what is still queued runs now, so the delivery
    // finishes — its claim released — rather than waiting here forever.
    w->left = true;
    auto rest = std::move(w->jobs);
    const auto result = w->result;
    lock.unlock();
    for (auto& job : rest)
      job();
    return result;
  }

  std::optional<v1::Timestamp> load_mark(IdempotencyStore* store) {
    if (!store)
      return std::nullopt;
    try {
      return store->load_mark(mark_name);
    } catch (const std::exception& e) {
      report(std::string("catch-up: cannot read the mark: ") + e.what());
      return std::nullopt;
    }
  }

  void save_mark(IdempotencyStore* store, v1::Timestamp t) {
    if (!store)
      return;
    try {
      store->save_mark(mark_name, t);
    } catch (const std::exception& e) {
      report(std::string("catch-up: cannot keep the mark: ") + e.what());
    }
  }

  bool prepare(CatchUpRound& round) {
    if (!client) {
      round.error = client_error;
      return false;
    }
    if (manager && !manager->running()) {
      round.error = Error{ErrorKind::invalid_argument, 0, {}, "the webhook manager is not running"};
      return false;
    }
    if (route.empty()) {
      route = options.route.empty() ? router.only_v1_route() : options.route;
      if (route.empty()) {
        round.error =
            Error{ErrorKind::invalid_argument,
                  0,
                  {},
                  "no v1 route to deliver the votes through (with several, name one in CatchUpOptions::route)"};
        return false;
      }
    }
    if (!project) {
      auto p = client->project();
      if (!p) {
        round.error = p.error();
        return false;
      }
      if (options.only_token_project && !router.learn_project(route, p->as_v1().id)) {
        round.error = Error{ErrorKind::invalid_argument,
                            0,
                            {},
                            "the route " + route + " serves another project than the token's (" + p->as_v1().id + ")"};
        return false;
      }
      project = p->as_v1();
      mark_name = "catch-up/" + project->id;
    }
    return true;
  }

  CatchUpRound round() {
    CatchUpRound r;
    if (!prepare(r)) {
      if (r.error->kind != ErrorKind::cancelled) { // stop() asked for it
        report(describe(*r.error));
        tell(r);
      }
      return r;
    }
    const std::shared_ptr<IdempotencyStore> store = router.idempotency_store();
    const std::optional<v1::Timestamp> mark = load_mark(store.get());
    r.since = std::max(mark ? *mark - options.overlap : now_us() - options.since, oldest_allowed());
    std::optional<v1::Timestamp> newest = mark; // of the votes handled before any failure
    VotePosition at = VotePosition::starting_at(r.since);
    auto walked = client->for_each_vote(at, [&](const VoteRecord& record) {
      ++r.fetched;
      const std::optional<topgg::Error> e = deliver(to_event(record, *project));
      if (e == topgg::Error::no_handler) { // no vote can be delivered: no point reading the rest
        ++r.failed;
        if (!std::exchange(told_no_handler, true))
          report("catch-up: no vote.create handler is set, so no vote can be delivered: each round stops at its "
                 "first vote until one is");
        return false;
      }
      if (e == topgg::Error::wrong_target || e == topgg::Error::not_found) { // misconfigured: none would go
        ++r.failed;
        if (!std::exchange(told_wrong_target, true))
          report("catch-up: the route " + route +
                 (e == topgg::Error::not_found ? " is no v1 route"
                                               : " serves another project than the token's (" + project->id + ")") +
                 ": no vote can be delivered through it");
        return false;
      }
      if (e == topgg::Error::ok || e == topgg::Error::duplicate) {
        ++(e == topgg::Error::ok ? r.delivered : r.duplicates);
        if (r.failed == 0)
          newest = std::max(newest.value_or(record.created_at), record.created_at);
      } else {
        ++r.failed; // the mark stays before it: the next round delivers it again
        if (!e && manager && !manager->running())
          return false; // closed meanwhile: nothing can be delivered now
      }
      return !stopped();
    });
    if (!walked && walked.error().kind != ErrorKind::cancelled) {
      r.error = walked.error();
      report(describe(*r.error));
    }
    // A complete, clean walk also covers the votes handled live meanwhile.
    if (walked && walked->complete && r.failed == 0)
      if (const auto live = router.newest_vote(project->id); live && (!newest || *live > *newest))
        newest = live;
    if (newest && newest != mark)
      save_mark(store.get(), *newest);
    r.mark = newest;
    if (r.delivered || r.failed)
      info("catch-up: " + std::to_string(r.delivered) + " votes delivered, " + std::to_string(r.duplicates) +
           " already handled, " + std::to_string(r.failed) + " failed");
    if (!(r.error && r.error->kind == ErrorKind::cancelled))
      tell(r);
    return r;
  }

  // A failed round comes again sooner than `every`, with back-off: the first
  // round failing (Top.gg unreachable at start) is not left until the next
  // scheduled one, or forever when rounds do not repeat.
  void loop() {
    constexpr std::chrono::milliseconds most_backoff = std::chrono::minutes(5);
    std::chrono::milliseconds backoff = options.retry_first;
    for (;;) {
      if (stopped())
        return;
      const CatchUpRound r = round();
      std::chrono::milliseconds wait;
      if (r.error && r.error->kind != ErrorKind::cancelled) {
        wait = options.every.count() > 0 ? std::min<std::chrono::milliseconds>(backoff, options.every) : backoff;
        backoff = std::min(backoff * 2, most_backoff);
        report("catch-up: the round is tried again in " + std::to_string((wait.count() + 999) / 1000) + " s");
      } else {
        backoff = options.retry_first;
        if (options.every.count() <= 0)
          return;
        wait = options.every;
      }
      std::unique_lock lock(m);
      if (cv.wait_for(lock, wait, [&] { return stopping; }))
        return;
    }
  }
};

CatchUp::CatchUp(Router& router, CatchUpOptions options) : impl_(std::make_unique<Impl>(router, std::move(options))) {}

CatchUp::CatchUp(ManagerBase& manager, CatchUpOptions options)
    : impl_(std::make_unique<Impl>(manager.router(), std::move(options))) {
  impl_->manager = &manager;
}

CatchUp::~CatchUp() { stop(); }

void CatchUp::start() {
  std::lock_guard lock(impl_->m);
  if (impl_->thread.joinable() || impl_->stopping)
    return;
  impl_->thread = std::thread([impl = impl_.get()] { impl->loop(); });
}

void CatchUp::stop() {
  {
    std::lock_guard lock(impl_->m);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->client)
    impl_->client->cancel();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

CatchUpRound CatchUp::run_once() { return impl_->round(); }

CatchUpStats CatchUp::stats() const {
  std::lock_guard lock(impl_->m);
  return impl_->stats;
}

} // namespace topgg::api
