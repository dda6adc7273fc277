// Internal: the delivery pipeline, written once for both entry points —
// the byte-level Connection and the request-level Router::handle:
//
//   admit(head)    route + method → 404/405; Authorization or the signature
//                  header (parsed once and kept) → 401/422; 100-continue
//   deliver(body)  signature + window → 403; decode → 400 (legacy) or 204
//                  (v1); claim the delivery's key → duplicate / 503; run the
//                  handler → confirm or release the key; answer
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ack_state.hpp"
#include "claim_state.hpp"
#include "config.hpp"

namespace topgg::detail {

/// A header the pipeline acts on: its first value and how often it came.
struct Wanted {
  std::string_view value;
  unsigned count = 0;
  void see(std::string_view v) noexcept {
    if (count++ == 0)
      value = v;
  }
};

/// The whole request (every header, the body), for custom routes and the
/// secret resolver; built only when one of those needs it.
class RequestSource {
public:
  virtual const Request& request() = 0;

protected:
  ~RequestSource() = default;
};

/// A request head as the pipeline reads it. Views valid until deliver() returns.
struct Head {
  std::string_view method, target, path;
  Wanted authorization, signature, trace;
  Wanted forwarded_for, forwarded; ///< for the error hook only: they name a client behind a proxy
  RequestSource* full = nullptr;
  bool caught_up = false; ///< from the vote history: duplicates are expected, not told one by one
};

/// A header's value for the error hook: "" unless it came exactly once.
constexpr std::string_view once(const Wanted& w) noexcept { return w.count == 1 ? w.value : std::string_view{}; }

/// What the error hook is told of a request: its path, method and the headers
/// that name its client (`peer` is the connection's).
inline Rejection rejection_of(Error e, int status, std::string_view detail, const Head& head,
                              std::string_view peer) noexcept {
  return {e, status, head.path, detail, head.method, peer, once(head.forwarded_for), once(head.forwarded),
          head.trace.value};
}

/// What admit() decided, kept with the request until the body is in (a
/// Connection keeps it in the request's pooled state, not per connection).
struct Admission {
  const Route* route = nullptr;
  Error refusal = Error::ok;
  std::string_view detail;                      ///< static text: why, when refused
  std::string_view allow;                       ///< for 405
  std::optional<v1::SignatureHeader> signature; ///< parsed once, on v1 routes (not made on others: 560 bytes)
};

/// A final answer. Views valid while the Outlet call runs (or, for a
/// Pending's answer, while the Pending lives).
struct Answer {
  int status = 200;
  std::string_view body;
  const Response* reply = nullptr; ///< the handler's own status, headers and body
  std::string_view allow;          ///< non-empty: an Allow header (405)
  Error error = Error::ok;         ///< what it answers: ok (handled), duplicate, or why it failed
};

class Pending;

/// How long a handled delivery's key is kept, by kind:
enum class KeyLife : unsigned char {
  /// Settings::dedup_ttl.
  other,
  /// dedup_ttl, but never 11 h or more: a legacy vote carries no vote ID or
  /// time, and the same user may really vote again 12 h later.
  legacy_vote,
  /// A day at least: the key holds the vote's time, so it can never stand for
  /// another vote, and the vote history API (catch-up) returns the same vote
  /// for as long.
  v1_vote,
};

/// Where the pipeline puts a request's answer.
class Outlet {
public:
  /// Final now.
  virtual void answer(const Answer& a) = 0;
  /// Final later: poll `p` (advance()) each time waker() fires, until it is done.
  virtual void wait(std::shared_ptr<Pending> p) = 0;
  /// What Acks and deferred claims of this request fire on completion.
  virtual const std::shared_ptr<WakeCell>& waker() = 0;
  /// The client's address, for the error hook ("" if unknown).
  virtual std::string_view peer() const { return {}; }
  /// True when something answers a waiting delivery 503 at its deadline (a
  /// Connection's timer); Router::handle has no clock.
  virtual bool timed() const noexcept { return false; }

protected:
  ~Outlet() = default;
};

/// Per-request scratch, reused from request to request so that decoding
/// stops allocating once its strings have grown.
struct Scratch {
  Admission admission; // Router::handle's decision on the head
  BotVote bot;
  ServerVote server;
  v1::Event v1;
  std::string key;
  std::vector<std::string> secrets;
  std::string padded; // a copy of a caller's body with simdjson's padding (Router::handle)
  std::string why;
  std::vector<Header> headers; // a Connection's request, for custom routes and the resolver
  Request request;
};

/// One delivery waiting for a deferred claim or for its Ack. Advanced on the
/// loop thread (a Connection) or on the completing thread (Router::handle).
class Pending {
public:
  /// Moves on as far as the claim and the Ack allow; true once answer() is final.
  bool advance(Now now);
  /// At the deadline: whatever is still pending is given up (503).
  void expire();
  /// The connection went away before the answer could be written: the key is
  /// confirmed if the handler had succeeded, else released for Top.gg's retry.
  void abandon(Now now) noexcept;
  const Answer& answer() const noexcept { return answer_; }
  Clock::time_point deadline() const noexcept { return deadline_; }
  /// A request's delivery (not a caught-up vote): its answer is counted at `route` (metrics).
  void meter(RouteMeter* route) noexcept {
    metered_ = true;
    meter_route_ = route;
  }

private:
  friend class Pipeline;
  enum class Stage : unsigned char { claiming, handling, done };
  void give_up_claim(Now now);
  void finish(Error e, std::string_view why, const Response* reply, Now now);
  void answered() noexcept; // counts the final answer (metrics)

  std::shared_ptr<Config> config_;
  std::string path_, method_, peer_;
  std::string forwarded_for_, forwarded_, trace_; // for the error hook, as rejection_of() gives them
  Rejection rejection(Error e, std::string_view detail) const noexcept {
    return {e, http_status(e), path_, detail, method_, peer_, forwarded_for_, forwarded_, trace_};
  }
  int success_ = 200;
  bool expired_ = false;
  bool caught_up_ = false;
  Stage stage_ = Stage::handling;
  std::string key_; // "" when the delivery is not de-duplicated
  KeyLife life_ = KeyLife::other;
  std::optional<v1::Timestamp> vote_time_; // a vote.create's: for the catch-up mark
  std::string vote_project_;               // and its project's
  Clock::time_point deadline_{};
  std::shared_ptr<ClaimCell> claim_;
  std::function<std::shared_ptr<AckCell>(Error&, std::string&)> start_; // runs the handler once claimed
  std::shared_ptr<AckCell> ack_;
  Answer answer_;
  // Metrics (Config::meter), when set: the answer is counted at `meter_route_`
  // if `metered_` (a request, not a caught-up vote), and `event_` (Events'
  // index; -1: no handler) timed from `started_` once its handler has run.
  bool metered_ = false, handler_started_ = false;
  int event_ = -1;
  RouteMeter* meter_route_ = nullptr;
  Clock::time_point started_{};
};

// ---- outcome rules, shared by the synchronous path and Pending (pending.cpp)

constexpr std::string_view success_body(int status) noexcept { return status == 204 ? "" : "OK"; }
/// How long a claim holds without confirm/release: a little past the handler's deadline.
std::chrono::milliseconds claim_lease(const Settings& s) noexcept;
/// How long a handled delivery is remembered.
std::chrono::milliseconds confirm_ttl(const Settings& s) noexcept;
/// Tells the duplicate hook of a retry answered without a second event.
/// `r` says which request (its error, status and detail are set here).
void tell_duplicate(const Config& c, int status, Rejection r);
/// Confirms (handled) or releases a claimed key; "" does nothing. How long a
/// confirmed key is kept depends on `life` (see KeyLife).
void settle_key(Config& c, std::string_view key, bool handled, Now now, KeyLife life = KeyLife::other);
/// The answer to a finished handler: success (or its own reply), or the error
/// table's status and text — never the handler's words (the error hook's).
Answer outcome_answer(Error e, const Response* reply, int success);

/// A status a handler may answer with: a final one (200-599). 1xx are interim
/// and anything else is not HTTP.
constexpr bool final_status(int status) noexcept { return status >= 200 && status <= 599; }

class Pipeline {
public:
  explicit Pipeline(std::shared_ptr<Config> c) : config_(std::move(c)) {}
  const Settings& settings() const noexcept { return config_->settings; }
  Config& config() const noexcept { return *config_; }

  /// Routing and credentials, as soon as the head is complete.
  void admit(const Head& head, Admission& out) const;
  /// The rest, once the body is in. `body` has simdjson's padding readable
  /// past its end when `padded`. With metrics, its answer is counted by route
  /// and status (now, or when its Pending is answered).
  void deliver(const Admission& a, const Head& head, std::string_view body, bool padded, Now now, Scratch& s,
               Outlet& out) const;
  /// Answers `e` (status from the error table, Allow for 405) and tells the error hook.
  void refuse(Error e, std::string_view detail, const Head& head, std::string_view allow, Outlet& out) const;
  /// Router::handle: admit, size check, deliver.
  void handle(const Request& req, Now now, std::function<void(Response)> reply, Executor resume) const;
  /// Router::deliver: a vote that did not come through HTTP (catch-up), from
  /// the claim on; `done` gets Error::ok, Error::duplicate or the failure.
  void deliver_vote(std::string_view route, const v1::VoteCreate& vote, Now now, std::function<void(Error)> done,
                    Executor resume) const;

private:
  void deliver_v1(const Route& route, const Admission& a, const Head& head, std::string_view body, bool padded, Now now,
                  Scratch& s, Outlet& out) const;
  void deliver_custom(const Route& route, const Head& head, Outlet& out) const;
  template <class Event>
  void dispatch(const Event& ev, const Route& route, const Head& head, int success, Now now, Scratch& s,
                Outlet& out) const;
  template <class Event>
  void run(const Event& ev, const Head& head, int success, Now now, Scratch& s, Outlet& out, bool keyed) const;
  template <class Event>
  std::shared_ptr<Pending> pending(const Event& ev, const Head& head, int success, Now now, const Outlet& out,
                                   std::string_view key) const;

  std::shared_ptr<Config> config_;
};

} // namespace topgg::detail
