// VoteBook: the thread that hands due expiries to the on_vote_expired
// handlers, and the status queries. The records and the index of owed
// expiries are the store's (VoteLedger); this holds at most one batch.
#include "topgg/vote_book.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace topgg {

namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

v1::Timestamp wall_now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

constexpr v1::Timestamp never = v1::Timestamp::max();

std::string random_token() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "book-%08x%08x%08x", rd(), rd(), rd());
  return buf;
}

/// One expiry being delivered.
struct Flight {
  enum State : std::uint8_t { queued, running, finished };
  DueExpiry due;
  Steady::time_point deadline;
  State state = queued;
  std::function<void()> give_up; // set once Router::deliver returned
};

} // namespace

struct VoteBook::Impl : std::enable_shared_from_this<Impl> {
  Router& router;
  ManagerBase* manager = nullptr; // deliver on its loop when set
  std::shared_ptr<IdempotencyStore> store;
  VoteLedger* ledger = nullptr;
  VoteBookOptions opt;
  const std::string token = random_token();

  mutable std::mutex m;
  std::condition_variable cv;
  bool started = false, stopping = false;
  v1::Timestamp nudged = never; // the earliest expiry recorded here since the store was last asked
  std::list<std::shared_ptr<Flight>> flights;
  VoteBookStats stats;
  bool store_down = false;
  std::thread thread;

  Impl(Router& r, VoteBookOptions o) : router(r), opt(std::move(o)) {}

  void report(std::string_view line) noexcept {
    try {
      if (opt.on_error)
        return opt.on_error(line);
    } catch (...) {
    }
    std::fprintf(stderr, "topgg-webhook: %.*s\n", static_cast<int>(line.size()), line.data());
  }

  /// A vote was recorded here: its expiry may be sooner than the thread's wake.
  void nudge(v1::Timestamp due) {
    std::lock_guard lock(m);
    if (due < nudged) {
      nudged = due;
      cv.notify_all();
    }
  }

  milliseconds ack_timeout() const { return router.settings().ack_timeout; }
  /// How long a claim holds: the handler's time, the loop's queue, and a margin.
  std::chrono::microseconds lease() const {
    const auto t = std::clamp<milliseconds>(ack_timeout(), milliseconds(0), std::chrono::hours(24));
    return std::chrono::duration_cast<std::chrono::microseconds>(t + std::chrono::seconds(30));
  }
  milliseconds backoff(std::uint32_t failures) const {
    milliseconds wait = opt.retry_first;
    for (std::uint32_t i = 0; i < failures && wait < opt.retry_most; ++i)
      wait *= 2;
    return std::min(wait, opt.retry_most);
  }

  void store_failed(const std::string& why) {
    std::lock_guard lock(m);
    ++stats.store_errors;
    if (std::exchange(store_down, true))
      return;
    report("vote book: the store cannot be asked (" + why + "); expiries wait until it answers");
  }
  void store_worked() {
    bool was;
    {
      std::lock_guard lock(m);
      was = std::exchange(store_down, false);
    }
    if (was)
      report("vote book: the store answers again");
  }

  // ---- deliveries ----

  void launch(const DueExpiry& d) {
    auto f = std::make_shared<Flight>();
    f->due = d;
    f->deadline = Steady::now() + ack_timeout() + milliseconds(250);
    {
      std::lock_guard lock(m);
      flights.push_back(f);
    }
    VoteExpired ev;
    ev.subject = d.subject;
    ev.user = d.user;
    ev.route = d.record.route;
    ev.voted_at = d.record.voted_at;
    ev.expired_at = d.record.expires_at;
    ev.weight = d.record.weight;
    ev.streak = d.record.streak;
    ev.count = d.record.count;
    ev.attempt = d.attempts + 1;
    auto self = shared_from_this();
    auto deliver = [self, f, ev = std::move(ev)] {
      {
        std::lock_guard lock(self->m);
        if (f->state != Flight::queued)
          return; // given up while it waited for the loop
        f->state = Flight::running;
      }
      std::function<void()> give_up =
          self->router.deliver(ev, Now::current(), [self, f](Error e) { self->finished(f, e); });
      std::lock_guard lock(self->m);
      if (f->state == Flight::running)
        f->give_up = std::move(give_up);
    };
    if (!manager)
      return deliver();
    bool posted = false;
    try {
      posted = manager->post(deliver);
    } catch (...) {
    }
    if (!posted) // not running now: given back at once, tried again when it runs
      finished(f, Error::store_unavailable, false);
  }

  /// A delivery ended: the store hears whether it was handled.
  void finished(const std::shared_ptr<Flight>& f, Error e, bool counts = true) {
    {
      std::lock_guard lock(m);
      if (f->state == Flight::finished)
        return;
      f->state = Flight::finished;
      f->give_up = nullptr;
      flights.remove(f);
      if (counts)
        ++(e == Error::ok ? stats.delivered : stats.failed);
    }
    cv.notify_all();
    const bool delivered = e == Error::ok;
    const std::uint32_t failures = counts ? f->due.attempts : 0;
    const v1::Timestamp retry_at = wall_now() + std::chrono::duration_cast<std::chrono::microseconds>(
                                                    counts ? backoff(failures) : milliseconds(0));
    try {
      ledger->finish(f->due, token, delivered, retry_at);
    } catch (const std::exception& ex) {
      report(std::string("vote book: cannot end a claim: ") + ex.what());
    } catch (...) {
    }
  }

  /// Deliveries past their deadline: answered as timed out (Router::deliver's give-up), or, still
  /// waiting for the loop, given back without running. Called with `lock` held; may release it.
  bool give_up_late(std::unique_lock<std::mutex>& lock) {
    const auto now = Steady::now();
    std::vector<std::function<void()>> calls;
    std::vector<std::shared_ptr<Flight>> unstarted;
    for (const auto& f : flights) {
      if (f->deadline > now)
        continue;
      if (f->state == Flight::queued) {
        unstarted.push_back(f);
      } else if (f->give_up) {
        calls.push_back(std::exchange(f->give_up, nullptr));
        f->deadline = now + std::chrono::seconds(1); // its done() follows; look again if not
      } else {
        f->deadline = now + std::chrono::seconds(1); // a plain handler still running: it cannot be stopped
      }
    }
    if (calls.empty() && unstarted.empty())
      return false;
    lock.unlock();
    for (auto& c : calls)
      c();
    for (auto& f : unstarted)
      finished(f, Error::ack_timeout);
    lock.lock();
    return true;
  }

  Steady::time_point earliest_deadline() const {
    Steady::time_point t = Steady::time_point::max();
    for (const auto& f : flights)
      t = std::min(t, f->deadline);
    return t;
  }

  // ---- the thread ----

  void run() {
    milliseconds store_wait{100};
    std::unique_lock lock(m);
    while (!stopping) {
      if (give_up_late(lock)) // also while the manager is closed: its queued jobs are gone
        continue;
      if (manager && !manager->running()) {
        cv.wait_until(lock, std::min(Steady::now() + milliseconds(100), earliest_deadline()));
        continue;
      }
      const Steady::time_point now_s = Steady::now();
      const v1::Timestamp now_w = wall_now();
      const std::size_t room = opt.in_flight > flights.size() ? opt.in_flight - flights.size() : 0;
      std::optional<v1::Timestamp> next;
      bool failed = false, more = false, took = false;
      if (room > 0) {
        nudged = never; // what the store answers now includes them
        lock.unlock();
        try {
          const std::size_t want = std::min(opt.batch, room);
          const std::vector<DueExpiry> due = ledger->take_due(now_w, want, now_w + lease(), token);
          took = !due.empty();
          for (const DueExpiry& d : due)
            launch(d);
          more = due.size() == want;
          if (!more)
            next = ledger->next_due();
          store_worked();
          store_wait = milliseconds(100);
        } catch (const std::exception& e) {
          failed = true;
          store_failed(e.what());
        }
        lock.lock();
        if (more)
          continue;
      }
      v1::Timestamp target = now_w + std::chrono::duration_cast<std::chrono::microseconds>(opt.poll);
      if (failed) {
        target = now_w + std::chrono::duration_cast<std::chrono::microseconds>(std::min(store_wait, opt.poll));
        store_wait = std::min(store_wait * 2, opt.poll);
      } else if (next) {
        target = std::min(target, *next);
      }
      if (target <= now_w && !took) // due but not handed out (another receiver holds it): not a busy loop
        target = now_w + std::chrono::milliseconds(20);
      Steady::time_point until = now_s + std::max(target - now_w, std::chrono::microseconds(0));
      until = std::min(until, earliest_deadline());
      const std::size_t full = flights.size();
      cv.wait_until(lock, until, [&] {
        return stopping || nudged < target || (room == 0 && flights.size() < full) || (manager && !manager->running());
      });
    }
    // Stopping: what is under way gets until its deadline.
    while (!flights.empty()) {
      if (give_up_late(lock))
        continue;
      cv.wait_until(lock, earliest_deadline());
    }
  }
};

// ---- the public class ------------------------------------------------------

namespace {

std::shared_ptr<VoteBook::Impl> make_impl(Router& router, VoteBookOptions options) {
  if (options.batch == 0 || options.in_flight == 0 || options.retry_first.count() <= 0 ||
      options.retry_most < options.retry_first || options.poll.count() <= 0)
    throw std::invalid_argument("topgg: VoteBookOptions: batch, in_flight, retry_first and poll must be positive, "
                                "retry_most at least retry_first");
  auto impl = std::make_shared<VoteBook::Impl>(router, std::move(options));
  impl->store = router.idempotency_store();
  impl->ledger = impl->store ? impl->store->vote_ledger() : nullptr;
  // Checks the store and the rules, and throws while the router is frozen (running).
  router.attach_vote_book(impl->opt.rules, [weak = std::weak_ptr<VoteBook::Impl>(impl)](v1::Timestamp due) {
    if (const auto book = weak.lock())
      book->nudge(due);
  });
  return impl;
}

} // namespace

VoteBook::VoteBook(ManagerBase& manager, VoteBookOptions options)
    : impl_(make_impl(manager.router(), std::move(options))) {
  impl_->manager = &manager;
}

VoteBook::VoteBook(Router& router, VoteBookOptions options) : impl_(make_impl(router, std::move(options))) {}

VoteBook::~VoteBook() { stop(); }

void VoteBook::start() {
  std::lock_guard lock(impl_->m);
  if (impl_->started || impl_->stopping)
    return;
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_] { impl->run(); });
}

void VoteBook::stop() {
  {
    std::lock_guard lock(impl_->m);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable() && impl_->thread.get_id() != std::this_thread::get_id())
    impl_->thread.join();
}

void VoteBook::status(const VoteSubject& subject, std::string_view user,
                      std::function<void(std::optional<VoteStatus>)> done) {
  impl_->ledger->find(
      subject, user,
      [done = std::move(done), grace = impl_->opt.rules.streak_grace](std::optional<VoteRecord> record, bool ok) {
        if (!ok)
          return done(std::nullopt);
        done(status_of(record, std::chrono::system_clock::now(), grace));
      });
}

VoteStatus VoteBook::status(const VoteSubject& subject, std::string_view user) {
  auto answer = std::make_shared<std::promise<std::optional<VoteStatus>>>();
  auto got = answer->get_future();
  status(subject, user, [answer](std::optional<VoteStatus> s) { answer->set_value(std::move(s)); });
  // Every store answers within its own bounds (Redis: command_timeout); this is only a backstop.
  if (got.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
    throw std::runtime_error("vote book: the store did not answer");
  std::optional<VoteStatus> s = got.get();
  if (!s)
    throw std::runtime_error("vote book: the store cannot be asked");
  return *s;
}

void VoteBook::subjects(std::function<void(std::optional<std::vector<VoteSubject>>)> done) {
  impl_->ledger->subjects([done = std::move(done)](std::vector<VoteSubject> list, bool ok) {
    if (!ok)
      return done(std::nullopt);
    done(std::move(list));
  });
}

const VoteRules& VoteBook::rules() const noexcept { return impl_->opt.rules; }

VoteBookStats VoteBook::stats() const {
  std::lock_guard lock(impl_->m);
  return impl_->stats;
}

} // namespace topgg
