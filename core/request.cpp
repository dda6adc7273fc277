// Router::handle: the request-level entry point into the pipeline, for a
// server that parsed HTTP itself. An answer that must wait is sent from the
// thread that completes the Ack or the claim.
#include <atomic>
#include <cstdio>
#include <memory>

#include "http/reader.hpp"
#include "pipeline.hpp"

namespace topgg::detail {

namespace {

Response to_response(const Answer& a) {
  Response r;
  if (a.reply) {
    r = *a.reply;
  } else {
    r.status = a.status;
    r.body.assign(a.body);
  }
  if (!a.allow.empty())
    r.headers.emplace_back("Allow", std::string(a.allow));
  return r;
}

// Where an answer goes. Answered at once, `now` hands it over on the caller's
// thread. Answered after a wait, `later` first takes what is needed from it
// (its views point into the delivery), and the job it returns hands it over
// once the delivery is let go: a caller that destroys the Router as soon as
// its answer arrives must not leave the store's last reference to the
// store's own thread (it cannot join itself).
using Later = std::function<std::function<void()>(const Answer&)>;

void send(const std::function<void(Response)>& reply, Response r) noexcept {
  try {
    reply(std::move(r));
  } catch (...) {
    std::fputs("topgg-webhook: a Router::handle reply callback threw; ignored\n", stderr);
  }
}

Response response_or_500(const Answer& a) noexcept {
  try {
    return to_response(a);
  } catch (...) { // out of memory: the caller still gets its one answer
    Response r;
    r.status = 500;
    return r;
  }
}

struct Reply {
  std::function<void(Response)> to;
  void now(const Answer& a) const noexcept { send(to, response_or_500(a)); }
  std::function<void()> later(const Answer& a) const {
    return [to = to, r = response_or_500(a)]() mutable { send(to, std::move(r)); };
  }
};

struct Done {
  std::function<void(Error)> to;
  static void tell(const std::function<void(Error)>& to, Error e) noexcept {
    try {
      to(e);
    } catch (...) {
      std::fputs("topgg-webhook: a Router::deliver callback threw; ignored\n", stderr);
    }
  }
  void now(const Answer& a) const noexcept { tell(to, a.error); }
  std::function<void()> later(const Answer& a) const {
    return [to = to, e = a.error] { tell(to, e); };
  }
};

// Advances one pending delivery from whichever thread wakes it; runs are
// serialised (a wake during a run makes the runner go round once more).
struct Kicker {
  std::shared_ptr<Pending> pending;
  Later finish;
  Now now;
  std::atomic<int> runs{0};

  void kick() {
    if (runs.fetch_add(1, std::memory_order_acq_rel) > 0)
      return;
    do {
      if (pending && pending->advance(now)) {
        std::function<void()> hand_over = finish(pending->answer());
        pending.reset(); // also breaks the cycle wake cell → this → pending → its cells → wake cell
        finish = nullptr;
        hand_over();
      }
    } while (runs.fetch_sub(1, std::memory_order_acq_rel) > 1);
  }
};

// An outlet with no connection: the answer goes to `sink` (owned by the
// caller) now or — copied into a std::function only then — from the thread
// that completes the Ack or the claim, or from a job given to `resume` if the
// caller named where the rest runs.
template <class Sink> class CallbackOutlet final : public Outlet {
public:
  CallbackOutlet(Sink& sink, Now now, Executor resume) : sink_(sink), now_(now), resume_(std::move(resume)) {}
  void answer(const Answer& a) override { sink_.now(a); }
  void wait(std::shared_ptr<Pending> p) override {
    auto k = std::make_shared<Kicker>();
    k->pending = std::move(p);
    k->finish = [sink = std::move(sink_)](const Answer& a) { return sink.later(a); };
    k->now = now_;
    // Detached: the kick may run the user's handler here, which must not
    // hold the wake cell's lock (a handler waiting for a worker that
    // completes its Ack would deadlock).
    if (resume_)
      waker()->set_detached([k, resume = resume_] { post_kick(resume, k); });
    else
      waker()->set_detached([k] { k->kick(); });
    k->kick(); // whatever completed before the waker was set
  }
  const std::shared_ptr<WakeCell>& waker() override {
    if (!wake_)
      wake_ = std::make_shared<WakeCell>();
    return wake_;
  }

private:
  // A resume that throws or drops the job must not strand the delivery (its
  // claim would stay in progress): the last copy of a job never run runs it
  // as it goes.
  static void post_kick(const Executor& resume, const std::shared_ptr<Kicker>& k) {
    struct Once {
      std::shared_ptr<Kicker> k;
      std::atomic<bool> ran{false};
      void run() {
        if (!ran.exchange(true))
          k->kick();
      }
      ~Once() {
        try {
          run();
        } catch (...) { // out of memory: nothing more can be done here
        }
      }
    };
    auto once = std::make_shared<Once>();
    once->k = k;
    try {
      resume([once] { once->run(); });
    } catch (...) { // the job's copies are gone: `once` runs as this returns
    }
  }

  Sink& sink_;
  Now now_;
  Executor resume_;
  std::shared_ptr<WakeCell> wake_;
};

// The thread's Scratch for these stateless entry points, shared by all of
// them (not a template: one cache per thread, not one per caller).
struct ScratchCache {
  Scratch scratch;
  bool busy = false;
};
ScratchCache& scratch_cache() {
  // A plain pointer (one TLS lookup) in front of the cache (a constructor:
  // an init guard and several lookups each time it is named).
  thread_local ScratchCache* known = nullptr;
  if (ScratchCache* c = known)
    return *c;
  thread_local ScratchCache cache;
  known = &cache;
  return cache;
}

// Runs f with the thread's Scratch; a nested call (a handler calling
// handle()) gets its own.
template <class F> void with_scratch(F&& f) {
  ScratchCache& c = scratch_cache();
  if (c.busy) {
    auto nested = std::make_unique<Scratch>();
    return f(*nested);
  }
  struct Busy {
    bool& b;
    explicit Busy(bool& x) : b(x) { b = true; }
    ~Busy() { b = false; }
  } guard(c.busy);
  f(c.scratch);
}

// Headers the pipeline acts on, by name (the reader's table); the rest are
// the route's (full request).
void see_header(const Header& h, Head& head) noexcept {
  switch (Message::known_header(h.name)) {
  case Message::authorization: head.authorization.see(h.value); break;
  case Message::signature: head.signature.see(h.value); break;
  case Message::trace: head.trace.see(h.value); break;
  case Message::forwarded_for: head.forwarded_for.see(h.value); break;
  case Message::forwarded: head.forwarded.see(h.value); break;
  default: break;
  }
}

class WholeRequest final : public RequestSource {
public:
  explicit WholeRequest(const Request& r) : r_(r) {}
  const Request& request() override { return r_; }

private:
  const Request& r_;
};

} // namespace

void Pipeline::handle(const Request& req, Now now, std::function<void(Response)> reply, Executor resume) const {
  WholeRequest whole(req);
  Head head;
  head.method = req.method;
  head.target = req.target;
  head.path = req.path.empty() ? path_of(req.target) : req.path;
  head.full = &whole;
  for (const Header& h : req.headers)
    see_header(h, head);
  Reply sink{std::move(reply)};
  CallbackOutlet<Reply> out(sink, now, std::move(resume));
  with_scratch([&](Scratch& s) {
    Admission& a = s.admission; // reused: a fresh one (with room for a v1 signature) is 600 bytes to clear
    admit(head, a);
    if (a.refusal == Error::ok && req.body.size() > config_->settings.max_body_bytes) {
      a.refusal = Error::payload_too_large; // refused by deliver(), which counts it with the others
      a.detail = describe(Error::payload_too_large);
    }
    deliver(a, head, req.body, false, now, s, out);
  });
}

void Pipeline::deliver_vote(std::string_view route, const v1::VoteCreate& vote, Now now,
                            std::function<void(Error)> done, Executor resume) const {
  const Route* r = nullptr;
  for (const Route& candidate : config_->routes)
    if (candidate.kind == route_v1 && candidate.path == route)
      r = &candidate;
  Head head;
  head.path = r ? std::string_view(r->path) : route;
  head.caught_up = true;
  Done sink{std::move(done)};
  CallbackOutlet<Done> out(sink, now, std::move(resume));
  if (!r)
    return refuse(Error::not_found, "catch-up: no v1 route to deliver through", head, {}, out);
  with_scratch([&](Scratch& s) {
    v1::VoteCreate& v = s.v1.get<v1::VoteCreate>();
    v = vote;
    v.route.assign(r->path);
    dispatch(v, *r, head, 204, now, s, out);
  });
}

} // namespace topgg::detail
