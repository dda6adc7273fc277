// Internal: running vote handlers and reading their outcome. Shared by the
// byte-level Connection and the request-level Router::handle.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "ack_state.hpp"
#include "topgg/router.hpp"

namespace topgg::detail {

/// Compares `given` with `key` in time that depends on key.size() only.
bool key_matches(std::string_view given, std::string_view key);

/// What a finished delivery is answered with.
struct Outcome {
  Error error = Error::ok;         ///< ok → success (or `reply`)
  const Response* reply = nullptr; ///< the handler's own answer, if it gave one
  std::string_view why;            ///< for the error hook and the error body
};

/// Outcome of a completed (not pending) AckState.
inline Outcome outcome_of(const AckState& a) {
  switch (a.result()) {
  case AckState::ok: return {Error::ok, a.reply ? &*a.reply : nullptr, {}};
  case AckState::retry: return {Error::handler_retry, nullptr, a.reason.empty() ? describe(Error::handler_retry) : a.reason};
  case AckState::failed: return {Error::handler_failed, nullptr, a.reason};
  default: return {Error::ack_timeout, nullptr, describe(Error::ack_timeout)};
  }
}

/// Runs the handlers for `ev`. A plain handler without an executor runs
/// here and its outcome is returned in `now` (nullptr result). Otherwise
/// returns the pending AckState made by `make_ack` (already wired to its
/// waker, so a completion that races this call is not missed), completed
/// later by the handler's Ack, the executor job, or expiry.
template <class Event, class MakeAck>
std::shared_ptr<AckState> dispatch(const Event& ev, const VoteHandlers<Event>& h, const Executor& executor,
                                   MakeAck&& make_ack, Error& now, std::string& why) {
  now = Error::ok;
  if (!h)
    return nullptr; // nobody listens: accepted (warned at start)
  if (h.plain && !executor) {
    try {
      h.plain(ev);
    } catch (const std::exception& e) {
      now = Error::handler_failed;
      why = e.what();
    } catch (...) {
      now = Error::handler_failed;
      why = "handler threw a non-std exception";
    }
    return nullptr;
  }
  std::shared_ptr<AckState> ack = make_ack();
  auto run = [ack](const Event& e, const VoteHandlers<Event>& hs) {
    try {
      if (hs.plain) {
        hs.plain(e);
        ack->complete(AckState::ok);
      } else {
        hs.with_ack(e, Ack(ack));
      }
    } catch (const std::exception& ex) {
      ack->complete(AckState::failed, std::nullopt, ex.what());
    } catch (...) {
      ack->complete(AckState::failed, std::nullopt, "handler threw a non-std exception");
    }
  };
  if (!executor) {
    run(ev, h);
    return ack;
  }
  try {
    executor([run, e = ev, hs = h]() { run(e, hs); });
  } catch (const std::exception& ex) {
    ack->complete(AckState::failed, std::nullopt, std::string("executor threw: ") + ex.what());
  } catch (...) {
    ack->complete(AckState::failed, std::nullopt, "executor threw a non-std exception");
  }
  return ack;
}

} // namespace topgg::detail
