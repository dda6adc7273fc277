// Router::handle: the request-level entry point into the pipeline, for a
// server that parsed HTTP itself. An answer that must wait is sent from the
// thread that completes the Ack or the claim.
#include <atomic>
#include <cstdio>
#include <optional>
#include <utility>

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

void send(const std::function<void(Response)>& reply, Response r) noexcept {
  try {
    reply(std::move(r));
  } catch (...) {
    std::fputs("topgg-webhook: a Router::handle reply callback threw; ignored\n", stderr);
  }
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
  std::function<void(Response)> reply;
  Now now;
  std::atomic<int> runs{0};

  void kick() {
    if (runs.fetch_add(1, std::memory_order_acq_rel) > 0)
      return;
    do {
      if (pending && pending->advance(now)) {
        std::optional<Response> res;
        try {
          res = to_response(pending->answer());
        } catch (...) { // out of memory: the caller still gets its one answer
          res.emplace();
          res->status = 500;
        }
        // Let go of the delivery (and with it of the Router's configuration and
        // store) before answering: a caller that destroys the Router as soon
        // as the answer arrives must not leave the store's last reference to
        // this thread, which may be the store's own (it cannot join itself).
        // Also breaks the cycle wake cell → this → pending → its cells → wake cell.
        pending.reset();
        send(std::exchange(reply, nullptr), std::move(*res));
      }
    } while (runs.fetch_sub(1, std::memory_order_acq_rel) > 1);
  }
};

class HandleOutlet final : public Outlet {
public:
  HandleOutlet(std::function<void(Response)>& reply, Now now) : reply_(reply), now_(now) {}
  void answer(const Answer& a) override { send(reply_, a); }
  void wait(std::shared_ptr<Pending> p) override {
    auto k = std::make_shared<Kicker>();
    k->pending = std::move(p);
    k->reply = std::move(reply_);
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
  std::function<void(Response)>& reply_;
  Now now_;
  std::shared_ptr<WakeCell> wake_;
};

class WholeRequest final : public RequestSource {
public:
  explicit WholeRequest(const Request& r) : r_(r) {}
  const Request& request() override { return r_; }

private:
  const Request& r_;
};

} // namespace

void Pipeline::handle(const Request& req, Now now, std::function<void(Response)> reply) const {
  // A cache for this stateless entry point; a nested call (a handler calling
  // handle()) gets its own.
  thread_local Scratch cached;
  thread_local int depth = 0;
  std::optional<Scratch> nested;
  Scratch& s = depth == 0 ? cached : nested.emplace();
  struct Depth {
    int& d;
    explicit Depth(int& x) : d(++x) {}
    ~Depth() { --d; }
  } guard(depth);

  WholeRequest whole(req);
  Head head;
  head.method = req.method;
  head.target = req.target;
  head.path = req.path.empty() ? path_of(req.target) : req.path;
  head.full = &whole;
  for (const Header& h : req.headers) {
    if (iequals(h.name, "authorization"))
      head.authorization.see(h.value);
    else if (iequals(h.name, "x-topgg-signature"))
      head.signature.see(h.value);
    else if (iequals(h.name, "x-topgg-trace"))
      head.trace.see(h.value);
  }
  HandleOutlet out(reply, now);
  Admission a;
  admit(head, a);
  if (a.refusal == Error::ok && req.body.size() > config_->settings.max_body_bytes)
    return refuse(Error::payload_too_large, describe(Error::payload_too_large), head, {}, out);
  deliver(a, head, req.body, false, now, s, out);
}

} // namespace topgg::detail
