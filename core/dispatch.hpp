// Internal: running an event's handlers, and reading their outcome.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "ack_state.hpp"
#include "config.hpp"

namespace topgg::detail {

/// What a finished handler is answered with.
struct Outcome {
  Error error = Error::ok;         ///< ok → success (or `reply`)
  const Response* reply = nullptr; ///< the handler's own answer, if it gave one
  std::string_view why;            ///< for the error hook only (never the answer's body)
};

/// Outcome of a completed (ready) AckCell.
inline Outcome outcome_of(const AckCell& a) {
  switch (a.result()) {
  case AckCell::ok: return {Error::ok, a.reply ? &*a.reply : nullptr, {}};
  case AckCell::retry:
    return {Error::handler_retry, nullptr, a.reason.empty() ? describe(Error::handler_retry) : a.reason};
  case AckCell::failed: return {Error::handler_failed, nullptr, a.reason};
  default: return {Error::ack_timeout, nullptr, describe(Error::ack_timeout)};
  }
}

/// Runs `h` for `ev`. A plain handler without an executor runs here: its
/// outcome is left in `now`/`why` and nullptr returned. Otherwise returns the
/// cell of the outcome to come (wired to `wake()`'s cell before anything can
/// complete it), completed by the handler's Ack, the executor's job, or
/// expiry. `wake` is asked only then: a plain handler makes no wake cell.
/// `deadline()` is when the delivery is answered 503 without its outcome
/// (Ack::deadline()), also asked only when a cell is made. An executor's job
/// that runs once the delivery was answered (expired) does not start the
/// handler: Top.gg delivers it again, and the retry is the one handled.
template <class Event, class Wake, class Deadline>
std::shared_ptr<AckCell> run_handlers(const Event& ev, const VoteHandlers<Event>& h, const Executor& executor,
                                      Wake&& wake, Error& now, std::string& why, Deadline&& deadline) {
  now = Error::ok;
  if (!h) { // warned at start; a vote nobody saw is not acknowledged, other events are
    if constexpr (std::is_same_v<Event, BotVote> || std::is_same_v<Event, ServerVote> ||
                  std::is_same_v<Event, v1::VoteCreate>) {
      now = Error::no_handler;
      why = "no handler is set for this kind of vote";
    }
    return nullptr;
  }
  if (h.plain && !executor) {
    try {
      h.plain(ev);
    } catch (const std::exception& e) {
      now = Error::handler_failed;
      why.assign("handler threw: ").append(e.what());
    } catch (...) {
      now = Error::handler_failed;
      why = "handler threw a non-std exception";
    }
    return nullptr;
  }
  auto ack = std::make_shared<AckState>();
  ack->cell->wake = wake();
  ack->cell->deadline = deadline();
  std::shared_ptr<AckCell> cell = ack->cell;
  auto run = [ack](const Event& e, const VoteHandlers<Event>& hs) {
    if (ack->cell->result() != AckCell::pending)
      return; // answered already (its deadline passed while the job waited): never started late
    try {
      if (hs.plain) {
        hs.plain(e);
        ack->cell->complete(AckCell::ok);
      } else {
        hs.with_ack(e, Ack(ack));
      }
    } catch (const std::exception& ex) {
      ack->cell->complete(AckCell::failed, std::nullopt, std::string("handler threw: ") + ex.what());
    } catch (...) {
      ack->cell->complete(AckCell::failed, std::nullopt, "handler threw a non-std exception");
    }
  };
  if (!executor) {
    run(ev, h);
    return cell; // `ack` goes now: an Ack the handler did not keep expires at once
  }
  try {
    executor([run = std::move(run), e = ev, hs = h]() { run(e, hs); });
  } catch (const std::exception& ex) {
    cell->complete(AckCell::failed, std::nullopt, std::string("executor threw: ") + ex.what());
  } catch (...) {
    cell->complete(AckCell::failed, std::nullopt, "executor threw a non-std exception");
  }
  return cell;
}

} // namespace topgg::detail
