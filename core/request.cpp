// Router::handle: the request-level entry point into the pipeline, for a
// server that parsed HTTP itself. An answer that must wait is sent from the
// thread that completes the Ack or the claim.
#include <atomic>
#include <cstdio>
#include <memory>

#include "http/names.hpp"
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

void send(const std::function<void(Response)>& reply, const Answer& a) noexcept {
  try {
    reply(to_response(a));
  } catch (...) {
    std::fputs("topgg-webhook: a Router::handle reply callback threw; ignored\n", stderr);
  }
}

// Advances one pending delivery from whichever thread wakes it; runs are
// serialised (a wake during a run makes the runner go round once more).
struct Kicker {
  std::shared_ptr<Pending> pending;
  std::function<void(const Answer&)> finish;
  Now now;
  std::atomic<int> runs{0};

  void kick() {
    if (runs.fetch_add(1, std::memory_order_acq_rel) > 0)
      return;
    do {
      if (pending && pending->advance(now)) {
        finish(pending->answer());
        pending.reset(); // breaks the cycle wake cell → this → pending → its cells → wake cell
        finish = nullptr;
      }
    } while (runs.fetch_sub(1, std::memory_order_acq_rel) > 1);
  }
};

// An outlet with no connection: the answer goes to `finish` (a callable
// taking const Answer&, owned by the caller), now, or — moved into a
// std::function only then — from the thread that completes the Ack or the claim.
template <class Finish> class CallbackOutlet final : public Outlet {
public:
  CallbackOutlet(Finish& finish, Now now) : finish_(finish), now_(now) {}
  void answer(const Answer& a) override { finish_(a); }
  void wait(std::shared_ptr<Pending> p) override {
    auto k = std::make_shared<Kicker>();
    k->pending = std::move(p);
    k->finish = std::move(finish_);
    k->now = now_;
    waker()->set([k] { k->kick(); });
    k->kick(); // whatever completed before the waker was set
  }
  const std::shared_ptr<WakeCell>& waker() override {
    if (!wake_)
      wake_ = std::make_shared<WakeCell>();
    return wake_;
  }

private:
  Finish& finish_;
  Now now_;
  std::shared_ptr<WakeCell> wake_;
};

// A cache for these stateless entry points; a nested call (a handler calling
// handle()) gets its own.
template <class F> void with_scratch(F&& f) {
  struct Cache {
    Scratch scratch;
    bool busy = false;
  };
  thread_local Cache cache; // one lookup of the thread's block
  Cache& c = cache;
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

// Headers the pipeline acts on, by name; the rest are the route's (full request).
void see_header(const Header& h, Head& head) noexcept {
  static constexpr Name authorization{"authorization"};
  static constexpr Name signature{"x-topgg-signature"};
  static constexpr Name trace{"x-topgg-trace"};
  switch (h.name.size()) {
  case authorization.size():
    if (authorization.matches(h.name))
      head.authorization.see(h.value);
    else if (trace.matches(h.name))
      head.trace.see(h.value);
    break;
  case signature.size():
    if (signature.matches(h.name))
      head.signature.see(h.value);
    break;
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

void Pipeline::handle(const Request& req, Now now, std::function<void(Response)> reply) const {
  WholeRequest whole(req);
  Head head;
  head.method = req.method;
  head.target = req.target;
  head.path = req.path.empty() ? path_of(req.target) : req.path;
  head.full = &whole;
  for (const Header& h : req.headers)
    see_header(h, head);
  struct Reply {
    std::function<void(Response)> to;
    void operator()(const Answer& a) const { send(to, a); }
  } finish{std::move(reply)};
  CallbackOutlet<Reply> out(finish, now);
  Admission a;
  admit(head, a);
  if (a.refusal == Error::ok && req.body.size() > config_->settings.max_body_bytes)
    return refuse(Error::payload_too_large, describe(Error::payload_too_large), head, {}, out);
  with_scratch([&](Scratch& s) { deliver(a, head, req.body, false, now, s, out); });
}

void Pipeline::deliver_vote(const v1::VoteCreate& vote, Now now, std::function<void(Error)> done) const {
  static const Route caught_up{route_v1, "", "(catch-up)", {}, {}, {}, {}, {}};
  Head head;
  head.path = caught_up.path;
  head.caught_up = true;
  struct Done {
    std::function<void(Error)> to;
    void operator()(const Answer& a) const {
      try {
        to(a.error);
      } catch (...) {
        std::fputs("topgg-webhook: a Router::deliver callback threw; ignored\n", stderr);
      }
    }
  } finish{std::move(done)};
  CallbackOutlet<Done> out(finish, now);
  with_scratch([&](Scratch& s) { dispatch(vote, caught_up, head, 204, now, s, out); });
}

} // namespace topgg::detail
