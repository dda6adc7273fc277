// Pending: a delivery waiting for a deferred claim or for its Ack, and the
// outcome rules both it and the synchronous path apply.
#include <exception>

#include "dispatch.hpp"
#include "pipeline.hpp"
#include "timeouts.hpp"

namespace topgg::detail {

// A claim outlives the handler's deadline a little, so that a release after
// an ack timeout still finds it; a crashed receiver's claim lapses after it.
std::chrono::milliseconds claim_lease(const Settings& s) noexcept {
  constexpr std::chrono::milliseconds margin{5000};
  return s.ack_timeout >= std::chrono::milliseconds::max() - margin ? std::chrono::milliseconds::max()
                                                                    : std::max(s.ack_timeout, {}) + margin;
}

namespace {
constexpr std::chrono::hours vote_key_ttl{25};
constexpr std::chrono::hours legacy_key_most{11};
} // namespace

std::chrono::milliseconds confirm_ttl(const Settings& s) noexcept {
  constexpr auto most = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds::max());
  return s.dedup_ttl >= most ? std::chrono::milliseconds::max() : std::chrono::milliseconds(s.dedup_ttl);
}

void tell_duplicate(const Config& c, int status, Rejection r) {
  if (c.meter)
    c.meter->duplicate();
  r.error = Error::duplicate;
  r.status = status;
  r.detail = describe(Error::duplicate);
  c.duplicate(r);
}

// Confirms or releases a claimed key; a store that throws is told about, not fatal.
void settle_key(Config& c, std::string_view key, bool handled, Now now, KeyLife life) {
  IdempotencyStore* store = c.idempotency();
  if (key.empty() || !store)
    return;
  try {
    if (handled) {
      std::chrono::milliseconds ttl = confirm_ttl(c.settings);
      if (life == KeyLife::v1_vote)
        ttl = std::max(ttl, std::chrono::milliseconds(vote_key_ttl));
      else if (life == KeyLife::legacy_vote)
        ttl = std::min(ttl, std::chrono::milliseconds(legacy_key_most));
      store->confirm(key, now, ttl);
    } else
      store->release(key, now);
  } catch (const std::exception& e) {
    c.warn(std::string("idempotency store threw on ") + (handled ? "confirm: " : "release: ") + e.what());
  } catch (...) {
    c.warn("idempotency store threw a non-std exception");
  }
}

// The answer to a finished handler: success (or its own reply), or the error
// table's status and text — never the handler's own words, which go to the
// error hook only (they may hold a database URL, a password).
Answer outcome_answer(Error e, const Response* reply, int success) {
  if (e != Error::ok)
    return {http_status(e), describe(e), nullptr, {}, e};
  if (reply && final_status(reply->status))
    return {reply->status, reply->body, reply, {}, Error::ok};
  // A reply whose status is not a final one cannot be written: the delivery
  // was handled all the same, so it gets the usual success.
  return {success, success_body(success), nullptr, {}, Error::ok};
}

void Pending::expire() {
  expired_ = true;
  if (ack_)
    ack_->expire();
}

// Nobody waits for the claim any more: if the store answers "claimed" after
// all, the key is released at once, not left claimed for its whole lease
// (during which Top.gg's retries would be answered 503).
void Pending::give_up_claim(Now now) {
  if (stage_ != Stage::claiming || key_.empty())
    return;
  claim_->if_late([config = config_, key = key_, now](ClaimResult r) {
    if (r == ClaimResult::claimed)
      settle_key(*config, key, false, now);
  });
}

void Pending::abandon(Now now) noexcept {
  if (stage_ == Stage::claiming) {
    try {
      give_up_claim(now);
    } catch (...) {
    }
  }
  if (stage_ == Stage::handling) {
    ack_->expire(); // a late ack.ok() now returns false: the delivery will come again
    try {
      settle_key(*config_, key_, ack_->result() == AckCell::ok, now, life_);
    } catch (...) {
    }
  }
  stage_ = Stage::done;
  start_ = nullptr;
}

void Pending::answered() noexcept {
  if (metered_ && config_->meter)
    config_->meter->answered(meter_route_, answer_.status);
}

void Pending::finish(Error e, std::string_view why, const Response* reply, Now now) {
  if (handler_started_ && config_->meter)
    config_->meter->handler_time(started_, config_->meter->stamp(now));
  settle_key(*config_, key_, e == Error::ok, now, life_);
  if (e == Error::ok && vote_time_)
    config_->newest_votes.note(vote_project_, *vote_time_, now.wall);
  if (e != Error::ok)
    config_->reject(rejection(e, why.empty() ? describe(e) : why));
  answer_ = outcome_answer(e, reply, success_);
  answered();
  stage_ = Stage::done;
  start_ = nullptr;
}

bool Pending::advance(Now now) {
  if (stage_ == Stage::claiming) {
    if (!claim_->ready()) {
      if (!expired_)
        return false;
      give_up_claim(now);
      key_.clear(); // not claimed (yet): nothing to confirm or release here
      finish(Error::store_unavailable, "idempotency store did not answer in time", nullptr, now);
      return true;
    }
    const ClaimResult r = claim_->get();
    if (r != ClaimResult::claimed)
      key_.clear();
    switch (r) {
    case ClaimResult::done:
      if (!caught_up_)
        tell_duplicate(*config_, success_, rejection(Error::duplicate, {}));
      answer_ = {success_, success_body(success_), nullptr, {}, Error::duplicate};
      answered();
      stage_ = Stage::done;
      start_ = nullptr;
      return true;
    case ClaimResult::in_progress:
      finish(Error::duplicate_in_progress, "the same delivery is being handled now; Top.gg will retry", nullptr, now);
      return true;
    case ClaimResult::unavailable:
      finish(Error::store_unavailable, "idempotency store unavailable: answered 503 so Top.gg retries", nullptr, now);
      return true;
    case ClaimResult::claimed: break;
    }
    if (expired_) {
      // Claimed after the delivery's deadline: it is answered 503 and comes
      // again, so starting the handler now would handle it twice.
      settle_key(*config_, key_, false, now);
      key_.clear();
      finish(Error::store_unavailable, "idempotency store answered after the delivery's deadline: not handled", nullptr,
             now);
      return true;
    }
    Error e = Error::ok;
    std::string why;
    if (config_->meter && event_ >= 0) {
      config_->meter->event(static_cast<std::size_t>(event_));
      started_ = config_->meter->stamp(now);
      handler_started_ = true;
    }
    ack_ = start_(e, why);
    start_ = nullptr; // the event copy is not needed any more
    if (!ack_) {
      finish(e, why, nullptr, now);
      return true;
    }
    stage_ = Stage::handling;
  }
  if (stage_ == Stage::handling) {
    if (!ack_->ready())
      return false;
    const Outcome o = outcome_of(*ack_);
    finish(o.error, o.why, o.reply, now);
  }
  return true;
}

} // namespace topgg::detail
