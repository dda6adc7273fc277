// SqliteStore: the public class, the Impl's life, and what callers' threads do
// (queue an op and wake the worker). See sqlite_impl.hpp for the rest.
#include "topgg/sqlite_store.hpp"

#include <climits>
#include <stdexcept>

#include "sqlite_impl.hpp"

namespace topgg {

using namespace detail::sqlite;

namespace {

std::int64_t unix_ms(std::chrono::system_clock::time_point t) noexcept {
  return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
}

// now + d without overflow; a negative duration acts as zero (as in MemoryStore).
std::int64_t plus(std::int64_t now, milliseconds d) noexcept {
  if (d.count() <= 0)
    return now;
  return now > INT64_MAX - d.count() ? INT64_MAX : now + d.count();
}

} // namespace

SqliteStore::Impl::Impl(SqliteStore& o, std::string p, SqliteOptions op)
    : owner(&o), path(std::move(p)), opt(op), next_purge(Steady::now() + opt.purge_interval),
      outage([this](std::string_view s) { report(s); }, "sqlite " + path,
             "claims answer unavailable until it works again", "working again", "answered unavailable"),
      overload([this](std::string_view s) { report(s); }, "sqlite " + path, "claims answer unavailable until it drains",
               "queue drained", "answered unavailable") {
  if (opt.busy_timeout.count() < 0 || opt.max_queue == 0 || opt.purge_interval.count() <= 0)
    throw std::invalid_argument(
        "SqliteStore: busy_timeout must not be negative, max_queue and purge_interval positive");
  open();
}

/// The worker holds the Impl too: a store destroyed on its own worker
/// thread (a claim's completion dropped the last reference) leaves it alive
/// until the worker has finished.
void SqliteStore::Impl::start(const std::shared_ptr<Impl>& self) {
  self->worker = std::thread([self] { self->run(); });
}

/// The store goes: the worker finishes what is queued and ends; joined,
/// unless this is the worker itself, which cannot wait for itself.
void SqliteStore::Impl::stop() {
  {
    std::lock_guard lock(m);
    stopping = true;
  }
  owner.clear();
  cv.notify_one();
  detail::join_unless_self(worker);
}

// ---- callers' side --------------------------------------------------------

/// Queues `op`; false (and nothing queued) when `bounded` and the queue is full.
bool SqliteStore::Impl::push(Op&& op, bool bounded, ClaimDeferral* later) {
  {
    std::lock_guard lock(m);
    if (bounded && queue.size() >= opt.max_queue) {
      ++rejected;
      return false;
    }
    if (later)
      op.ticket = later->defer();
    queue.push_back(std::move(op));
    if (queue.size() > 1)
      return true; // the worker was told when the queue stopped being empty
  }
  cv.notify_one();
  return true;
}

std::shared_ptr<detail::MarkCall> SqliteStore::Impl::call_mark(Op&& op) {
  auto call = std::make_shared<MarkCall>();
  op.mark = call;
  push(std::move(op), false);
  std::unique_lock lock(call->m);
  call->cv.wait(lock, [&] { return call->finished; });
  if (!call->error.empty())
    throw std::runtime_error("sqlite " + path + ": " + call->error);
  return call;
}

// ---- the public class ------------------------------------------------------

SqliteStore::SqliteStore(const std::string& path, SqliteOptions options)
    : impl_(std::make_shared<Impl>(*this, path, options)), votes_(std::make_unique<Votes>(impl_)),
      connections_(std::make_unique<Connections>(impl_)) {
  Impl::start(impl_);
}

VoteLedger* SqliteStore::vote_ledger() noexcept { return votes_.get(); }
ConnectionStore* SqliteStore::connection_store() noexcept { return connections_.get(); }

SqliteStore::~SqliteStore() { impl_->stop(); }

bool SqliteStore::available() const noexcept { return !impl_->outage.down_now(); }
std::string SqliteStore::unavailable_reason() const { return impl_->outage.why_now(); }

std::optional<ClaimResult> SqliteStore::claim(std::string_view key, Now now, std::chrono::milliseconds lease,
                                              ClaimDeferral& later) {
  const std::int64_t t = unix_ms(now.wall);
  if (!impl_->push(Op(Op::claim, key, t, plus(t, lease)), true, &later))
    return ClaimResult::unavailable;
  return std::nullopt;
}

void SqliteStore::confirm(std::string_view key, Now now, std::chrono::milliseconds ttl) {
  const std::int64_t t = unix_ms(now.wall);
  impl_->push(Op(Op::confirm, key, t, plus(t, ttl)), false);
}

void SqliteStore::release(std::string_view key, Now now) {
  impl_->push(Op(Op::release, key, unix_ms(now.wall), 0), false);
}

std::optional<std::chrono::sys_time<std::chrono::microseconds>> SqliteStore::load_mark(std::string_view name) {
  auto call = impl_->call_mark(Op(Op::load_mark, name, INT64_MIN, 0));
  if (!call->micros)
    return std::nullopt;
  return std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(*call->micros));
}

void SqliteStore::save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) {
  impl_->call_mark(Op(Op::save_mark, name, INT64_MIN, t.time_since_epoch().count()));
}

} // namespace topgg
