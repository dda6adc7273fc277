// Connection: the glue between the HTTP reader, the delivery pipeline and the
// answer queue; and the one table of timeouts applied.
#include "topgg/connection.hpp"

#include "answers.hpp"
#include "http/reader.hpp"
#include "json.hpp"
#include "output.hpp"
#include "pipeline.hpp"
#include "timeouts.hpp"

namespace topgg {

struct Workspace::Impl {
  detail::Scratch scratch;
  detail::ReaderPool readers;  // the state of requests being read, lent to the thread's connections
  detail::SharedOutput output; // answers being written, likewise
};

Workspace::Workspace() : impl_(std::make_unique<Impl>()) {}
Workspace::~Workspace() = default;

namespace detail {
// Exposed for the unit test of the pool's bound.
TOPGG_API std::size_t idle_request_states(Workspace& w) noexcept { return w.impl().readers.idle(); }
} // namespace detail

struct Connection::Impl final : detail::HeadListener, detail::Outlet, detail::RequestSource {
  Impl(Router& r, Now n, Workspace* w) : pipeline_ref(r.pipeline()), ws(w), reader(settings(), *this) {
    set_now(n);
    reader.opened(n.mono);
    linger_since = n.mono;
    r.warn_once();
  }

  detail::Pipeline& pipeline() const noexcept { return *pipeline_ref; }
  const Settings& settings() const noexcept { return pipeline_ref->settings(); }
  void set_now(Now n) noexcept { now = n; }
  Workspace::Impl& workspace() {
    if (!ws) {
      own_ws = std::make_unique<Workspace>();
      ws = own_ws.get();
    }
    return ws->impl();
  }
  detail::Scratch& scratch() { return workspace().scratch; }
  detail::ReaderPool& reader_pool() override { return workspace().readers; }
  detail::RequestSource& whole_request() noexcept override { return *this; }
  Clock::time_point current_time() const noexcept override { return now.mono; }
  std::string_view output() const noexcept { return out.pending(); }
  std::string& out_buffer() { return out.buffer(workspace().output); }
  bool blocked() const noexcept {
    return answers.size() >= settings().max_pipelined || output().size() >= settings().max_output_bytes;
  }
  detail::Waiting waiting() const noexcept {
    return {closing, !answers.empty(), !output().empty(), reader.phase(), reader.phase_since(), linger_since};
  }

  // ---- input ---------------------------------------------------------------

  std::size_t process(std::string_view data) {
    std::size_t used = 0;
    while (used < data.size() && !closing && !blocked()) {
      detail::Reader::Stop stop;
      used += reader.feed(data.substr(used), stop);
      if (stop == detail::Reader::Stop::failed) {
        fail(reader.error(), reader.detail());
        used = data.size();
        break;
      }
      if (stop == detail::Reader::Stop::message)
        complete_request();
    }
    reader.rest(); // between requests: an idle connection keeps no request state
    return used;
  }

  bool holding() const noexcept { return held && held->off < held->bytes.size(); }
  void process_held() {
    if (holding() && !closing)
      held->off += process(std::string_view(held->bytes).substr(held->off));
    if (!holding()) {
      held.reset(); // only made under back-pressure: not kept
      if (peer_eof)
        closing = true; // a request cut off mid-way has nobody left to answer
    }
  }

  Error on_head(const detail::Head& head, bool expect_continue, std::string_view& detail) override {
    detail::Admission& admission = reader.admission();
    pipeline().admit(head, admission);
    if (admission.refusal != Error::ok) {
      if (expect_continue) { // the client waits for our word: refuse now, read no body
        detail = admission.detail;
        return admission.refusal;
      }
      reader.discard_body();
    } else if (expect_continue && answers.empty()) {
      detail::write_continue(out_buffer());
    }
    return Error::ok;
  }

  void complete_request() {
    ++requests;
    framing = {!reader.keep_alive() || requests >= settings().max_requests_per_connection || draining,
               reader.http10(), reader.head_request()};
    if (framing.close)
      closing = true;
    reader.next(); // idle from now: the idle timeout runs while the answer waits
    std::string& body = reader.body();
    detail::reserve_padding(body);
    pipeline().deliver(reader.admission(), reader.head(), body, true, now, scratch(), *this);
  }

  // A request that cannot be answered normally: 4xx/5xx, and nothing more is read.
  void fail(Error e, std::string_view why) {
    const bool head_known = reader.head_complete();
    const std::string_view path = head_known ? reader.head().path : std::string_view{};
    pipeline().config().reject(head_known ? detail::rejection_of(e, http_status(e), why, reader.head(), peer_)
                                          : Rejection{e, http_status(e), {}, why, {}, peer_});
    if (detail::MetricsState* m = pipeline().config().meter) { // a rare path: the route is looked up again
      bool known = false;
      const detail::Route* r = head_known ? pipeline().config().find(path, reader.head().method, known) : nullptr;
      m->answered(r ? r->meter : nullptr, http_status(e));
    }
    framing = {true, reader.http10(), head_known && reader.head_request()};
    closing = true;
    const std::string_view allow = e == Error::method_not_allowed ? pipeline().config().allow(path) : "";
    answer({http_status(e), http_status(e) >= 500 ? describe(e) : why, nullptr, allow});
  }

  // ---- detail::Outlet ------------------------------------------------------

  void answer(const detail::Answer& a) override {
    if (answers.empty())
      linger_since = now.mono; // the peer's time to read it starts now
    answers.push(a, framing, out_buffer());
  }
  void wait(std::shared_ptr<detail::Pending> p) override { answers.push(std::move(p), framing); }
  // Made for the first delivery that waits: most connections never need one.
  const std::shared_ptr<detail::WakeCell>& waker() override {
    if (!wake) {
      wake = std::make_shared<detail::WakeCell>();
      wake->set(std::move(wake_fn));
    }
    return wake;
  }
  std::string_view peer() const override { return peer_; }
  bool timed() const noexcept override { return true; }

  // ---- detail::RequestSource -----------------------------------------------

  const Request& request() override {
    detail::Scratch& s = scratch();
    reader.headers(s.headers);
    const detail::Head& h = reader.head();
    s.request = Request{h.method, h.target, h.path, s.headers, reader.body()};
    return s.request;
  }

  void flush() {
    if (answers.flush(now, out_buffer()) > 0)
      linger_since = now.mono;
  }

  std::shared_ptr<detail::Pipeline> pipeline_ref; // keeps the configuration alive while a request is handled
  Workspace* ws;
  std::unique_ptr<Workspace> own_ws;
  detail::Reader reader;
  detail::Framing framing;
  detail::AnswerQueue answers;
  detail::Output out;
  std::uint64_t sent_total = 0, linger_sent = 0; // write progress, for giving up on a peer that does not read
  Clock::time_point linger_since{};
  struct Held {
    std::string bytes;
    std::size_t off = 0;
  };
  std::unique_ptr<Held> held; // input received while blocked
  bool closing = false, peer_eof = false;
  bool draining = false; // shutdown() came while a request was on its way: it is the last
  std::uint64_t requests = 0;
  std::function<void()> wake_fn;          // set_waker()'s, until a wake cell is made
  std::shared_ptr<detail::WakeCell> wake; // null until a delivery waits
  Now now{};
  std::string peer_;
};

Connection::Connection(Router& router, Now now, Workspace* workspace)
    : impl_(std::make_unique<Impl>(router, now, workspace)) {}

Connection::~Connection() {
  if (impl_->wake)
    impl_->wake->set(nullptr); // late completions find nobody to wake
  impl_->answers.abandon(impl_->now);
}

void Connection::set_waker(std::function<void()> wake) {
  if (impl_->wake)
    impl_->wake->set(std::move(wake));
  else
    impl_->wake_fn = std::move(wake);
}
void Connection::set_peer(std::string_view peer) { impl_->peer_.assign(peer); }
std::string_view Connection::output() const noexcept { return impl_->output(); }
std::uint64_t Connection::requests_seen() const noexcept { return impl_->requests; }
std::size_t Connection::buffered_input() const noexcept { return impl_->reader.buffered(); }

void Connection::receive(std::string_view bytes, Now now) {
  Impl& c = *impl_;
  c.set_now(now);
  if (c.closing || c.peer_eof || bytes.empty())
    return;
  if (c.holding()) {
    c.held->bytes.append(bytes);
    return;
  }
  const std::size_t used = c.process(bytes);
  if (used < bytes.size() && !c.closing) {
    c.held = std::make_unique<Impl::Held>();
    c.held->bytes.assign(bytes.substr(used));
  }
}

void Connection::receive_eof(Now now) {
  Impl& c = *impl_;
  c.set_now(now);
  c.peer_eof = true;
  if (!c.holding())
    c.closing = true; // a request cut off mid-way has nobody left to answer
}

void Connection::consume(std::size_t n) {
  Impl& c = *impl_;
  c.out.consume(n);
  c.sent_total += n;
  if (!c.output().empty())
    return;
  if (c.holding())
    c.process_held(); // held input may go on now that the output drained
}

bool Connection::want_read() const noexcept {
  const Impl& c = *impl_;
  return !c.closing && !c.peer_eof && !c.blocked() && !c.holding();
}

bool Connection::done() const noexcept {
  const Impl& c = *impl_;
  return c.closing && c.answers.empty() && c.output().empty();
}

bool Connection::finished() const noexcept { return impl_->closing && impl_->answers.empty(); }

void Connection::resume(Now now) {
  Impl& c = *impl_;
  c.set_now(now);
  c.flush();
  c.process_held();
}

void Connection::shutdown(Now now) {
  Impl& c = *impl_;
  c.set_now(now);
  if (c.closing || std::exchange(c.draining, true))
    return;
  // A request partly received, or the first one of a connection that sent
  // nothing yet (its bytes may be in flight: closing now would reset a client
  // that did nothing wrong), is read to its end and answered, within its
  // usual timeouts; the connection closes after it. Between two requests,
  // nothing more is read.
  if (c.reader.phase() != detail::Phase::idle || c.holding())
    return;
  c.closing = true;
  c.answers.close_after_last();
}

std::optional<Clock::time_point> Connection::deadline() const noexcept {
  const Impl& c = *impl_;
  std::optional<Clock::time_point> d = c.answers.deadline();
  const detail::Due due = detail::next_due(c.waiting(), c.settings());
  if (due.kind != detail::Due::none && (!d || due.at < *d))
    d = due.at;
  return d;
}

void Connection::on_timer(Now now) {
  Impl& c = *impl_;
  c.set_now(now);
  c.answers.expire_due(now.mono);
  c.flush();
  const detail::Due due = detail::next_due(c.waiting(), c.settings());
  if (due.kind == detail::Due::none || now.mono < due.at)
    return;
  switch (due.kind) {
  case detail::Due::none: break;
  case detail::Due::close_quietly: c.closing = true; break;
  case detail::Due::request_timeout: c.fail(Error::request_timeout, describe(Error::request_timeout)); break;
  case detail::Due::stop_writing:
    if (c.sent_total != c.linger_sent) { // the peer read some of it since we last looked: another period
      c.linger_sent = c.sent_total;
      c.linger_since = now.mono;
    } else { // give up on a peer that does not read
      c.out.drop();
    }
    break;
  }
}

} // namespace topgg
