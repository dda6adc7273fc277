// RedisStore: the public class, the Impl's life, and what callers' threads do
// (queue an op and wake the store's thread). See redis_impl.hpp for the rest.
#include "topgg/redis_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "redis_impl.hpp"

namespace topgg {

namespace {

std::string describe(const RedisOptions& o) {
  const bool v6 = o.host.find(':') != std::string::npos;
  std::string s = "redis " + (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  if (o.db != 0) // two appends: GCC 12 at -O3 warns of a false overlap (-Wrestrict) in "/" + std::to_string()
    s.append("/").append(std::to_string(o.db));
  return s;
}

} // namespace

using namespace detail::redis;

RedisStore::Impl::Impl(RedisStore& o, RedisOptions op)
    : owner(&o), opt(std::move(op)), where(describe(opt)), claim_value("claimed:" + detail::random_token()),
      backoff(opt.reconnect_min),
      outage([this](std::string_view s) { report(s); }, where,
             opt.fail_open ? "fail-open: claims proceed without de-duplication until it is back"
                           : "claims answer unavailable until it is back",
             "answering again", opt.fail_open ? "proceeded without de-duplication" : "answered unavailable"),
      overload([this](std::string_view s) { report(s); }, where,
               opt.fail_open ? "fail-open: claims proceed without de-duplication until they are answered"
                             : "claims answer unavailable until they are answered",
               "pending claims answered", opt.fail_open ? "proceeded without de-duplication" : "answered unavailable") {
  validate(opt);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::system_error(errno, std::generic_category(), "redis store: pipe");
  wake_r = fds[0];
  wake_w = fds[1];
  try {
    if (!detail::numeric_address(opt.host))
      resolver = std::make_unique<detail::Resolver>(opt.host, [this] { kick(); });
  } catch (...) {
    ::close(wake_r);
    ::close(wake_w);
    throw;
  }
}

/// The thread holds the Impl too: a store destroyed on its own thread (a
/// claim's completion dropped the last reference) leaves it alive until
/// the thread has finished.
void RedisStore::Impl::start(const std::shared_ptr<Impl>& self) {
  self->thread = std::thread([self] { self->run(); });
}

/// The store goes: the thread writes what is queued (bounded) and ends;
/// joined, unless this is that thread, which cannot wait for itself.
void RedisStore::Impl::stop() {
  {
    std::lock_guard lock(m);
    stopping = true;
  }
  owner.clear();
  kick();
  detail::join_unless_self(thread);
}

RedisStore::Impl::~Impl() {
  resolver.reset(); // after the thread that calls it
  ::close(wake_r);
  ::close(wake_w);
}

void RedisStore::Impl::validate(const RedisOptions& o) {
  detail::redis::check_connection_options(o, "RedisStore"); // what the stream writer and reader check too
  auto refuse = [](const char* what) { throw std::invalid_argument(std::string("RedisStore: ") + what); };
  if (o.health_interval.count() <= 0)
    refuse("health_interval must be positive");
  if (o.max_pending == 0)
    refuse("max_pending must be positive");
}

// ---- callers' side --------------------------------------------------------

void RedisStore::Impl::kick() {
  const char c = 0;
  while (::write(wake_w, &c, 1) < 0 && errno == EINTR) {
  }
}

void RedisStore::Impl::push(Op&& op, ClaimDeferral* later) {
  bool wake = false;
  {
    std::lock_guard lock(m);
    if (later)
      op.ticket = later->defer();
    incoming.push_back(std::move(op));
    wake = !std::exchange(signalled, true);
  }
  if (wake)
    kick();
}

std::optional<ClaimResult> RedisStore::Impl::claim(std::string_view key, milliseconds lease, ClaimDeferral& later) {
  if (pending.fetch_add(1, std::memory_order_relaxed) >= opt.max_pending) {
    pending.fetch_sub(1, std::memory_order_relaxed);
    rejected.fetch_add(1, std::memory_order_relaxed);
    kick(); // the store's thread tells the error hook
    return refusal();
  }
  push(Op(Op::claim, opt.key_prefix + std::string(key), lease.count()), &later);
  return std::nullopt;
}

std::shared_ptr<RedisStore::Impl::MarkCall> RedisStore::Impl::call_mark(Op&& op) {
  auto call = std::make_shared<MarkCall>();
  op.mark = call;
  push(std::move(op));
  std::unique_lock lock(call->m);
  if (!call->cv.wait_for(lock, opt.command_timeout + milliseconds(50), [&] { return call->finished; }))
    throw std::runtime_error(where + ": no answer within " + ms_text(opt.command_timeout));
  if (!call->error.empty())
    throw std::runtime_error(where + ": " + call->error);
  return call;
}

RedisProbe RedisStore::Impl::probe(milliseconds timeout) {
  auto call = std::make_shared<ProbeCall>();
  bool wake = false;
  {
    std::lock_guard lock(m);
    incoming_probes.push_back(call);
    wake = !std::exchange(signalled, true);
  }
  if (wake)
    kick();
  return call->wait(timeout);
}

// ---- the public class ------------------------------------------------------

RedisStore::RedisStore(RedisOptions options)
    : impl_(std::make_shared<Impl>(*this, std::move(options))), votes_(std::make_unique<Votes>(impl_)),
      connections_(std::make_unique<Connections>(impl_)) {
  Impl::start(impl_);
}

VoteLedger* RedisStore::vote_ledger() noexcept { return votes_.get(); }
ConnectionStore* RedisStore::connection_store() noexcept { return connections_.get(); }
RedisStore::RedisStore(std::string_view url) : RedisStore(RedisOptions::from_url(url)) {}
RedisStore::~RedisStore() { impl_->stop(); }

std::optional<ClaimResult> RedisStore::claim(std::string_view key, Now, std::chrono::milliseconds lease,
                                             ClaimDeferral& later) {
  return impl_->claim(key, lease, later);
}

void RedisStore::confirm(std::string_view key, Now, std::chrono::milliseconds ttl) {
  impl_->push(Op(Op::confirm, impl_->opt.key_prefix + std::string(key), ttl.count()));
}

void RedisStore::release(std::string_view key, Now) {
  impl_->push(Op(Op::release, impl_->opt.key_prefix + std::string(key), 0));
}

RedisProbe RedisStore::probe(std::chrono::milliseconds timeout) { return impl_->probe(timeout); }

bool RedisStore::available() const noexcept { return !impl_->outage.down_now(); }
std::string RedisStore::unavailable_reason() const { return impl_->outage.why_now(); }

std::optional<std::chrono::sys_time<std::chrono::microseconds>> RedisStore::load_mark(std::string_view name) {
  auto call = impl_->call_mark(Op(Op::get_mark, impl_->opt.key_prefix + "mark:" + std::string(name), 0));
  if (!call->micros)
    return std::nullopt;
  return std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(*call->micros));
}

void RedisStore::save_mark(std::string_view name, std::chrono::sys_time<std::chrono::microseconds> t) {
  impl_->call_mark(Op(Op::set_mark, impl_->opt.key_prefix + "mark:" + std::string(name), t.time_since_epoch().count()));
}

} // namespace topgg
