#include "topgg/connection.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <exception>

#include "ack_state.hpp"
#include "dispatch.hpp"
#include "json.hpp"

namespace topgg {

namespace {

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

// Buffers grown past this by an unusual request are released once it is
// answered; typical deliveries (< 1 KiB) keep theirs and stop allocating.
constexpr std::size_t keep_capacity = 16 * 1024;

bool closes_connection(Error e) noexcept {
  switch (e) {
  case Error::malformed_http:
  case Error::bad_host:
  case Error::payload_too_large:
  case Error::headers_too_large:
  case Error::request_timeout:
  case Error::expectation_failed:
  case Error::version_not_supported: return true;
  default: return false;
  }
}

// RFC 9112 §3.2: a Host that is not uri-host [":" port] is a 400.
bool valid_host(std::string_view host) noexcept {
  for (unsigned char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok)
      return false;
  }
  return true;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty())
    return false;
  for (unsigned char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok)
      return false;
  }
  return true;
}

// t + d, saturating: a setting of milliseconds::max() means "never", not an
// overflow into the past (which would expire everything at once). A negative
// setting acts as zero.
Clock::time_point later(Clock::time_point t, std::chrono::milliseconds d) noexcept {
  if (d.count() <= 0)
    return t;
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - t);
  return d >= room ? Clock::time_point::max() : t + std::chrono::duration_cast<Clock::duration>(d);
}

bool safe_header_text(std::string_view s) noexcept {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

void append_number(std::string& to, std::size_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  to.append(buf, r.ptr);
}

} // namespace

// llhttp's C callbacks, forwarding into the Connection stored in parser->data.
struct ParserCallbacks {
  static Connection& self(llhttp_t* p) { return *static_cast<Connection*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    Connection& c = self(p);
    c.head_.clear();
    c.headers_.clear();
    c.target_len_ = 0;
    c.field_open_ = false;
    c.in_value_ = false;
    c.body_.clear();
    c.route_ = nullptr;
    c.reject_ = Error::ok;
    c.discarded_ = 0;
    c.head_request_ = false;
    c.method_ = {};
    c.trailer_bytes_ = 0;
    c.trailer_count_ = 0;
    c.phase_ = Connection::Phase::head;
    c.phase_since_ = c.now_.mono;
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t n) {
    Connection& c = self(p);
    c.head_.append(at, n);
    c.target_len_ += static_cast<std::uint32_t>(n);
    return 0;
  }

  // Trailer fields (after a chunked body) never become request headers: they
  // are counted against the header limits and dropped, never buffered.
  static int count_trailer(Connection& c, std::size_t n) {
    c.trailer_bytes_ += n;
    if (c.trailer_bytes_ <= c.router_.limits().max_header_bytes)
      return 0;
    c.abort_ = Error::headers_too_large;
    return -1;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    Connection& c = self(p);
    if (c.phase_ == Connection::Phase::body)
      return count_trailer(c, n);
    if (!c.field_open_) {
      c.headers_.push_back({static_cast<std::uint32_t>(c.head_.size()), 0, 0, 0});
      c.field_open_ = true;
    }
    c.head_.append(at, n);
    c.headers_.back().name_len += static_cast<std::uint32_t>(n);
    return 0;
  }

  // Counted when a name is complete, not at its first fragment, so that how
  // the bytes were split cannot change which error a request gets.
  static int on_header_field_complete(llhttp_t* p) {
    Connection& c = self(p);
    c.field_open_ = false;
    const std::size_t fields = c.phase_ == Connection::Phase::body ? ++c.trailer_count_ : c.headers_.size();
    if (fields <= c.router_.limits().max_header_count)
      return 0;
    c.abort_ = Error::headers_too_large;
    return -1;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    Connection& c = self(p);
    if (c.phase_ == Connection::Phase::body)
      return count_trailer(c, n);
    if (!c.in_value_) {
      c.in_value_ = true;
      c.headers_.back().value_off = static_cast<std::uint32_t>(c.head_.size());
    }
    c.head_.append(at, n);
    c.headers_.back().value_len += static_cast<std::uint32_t>(n);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    self(p).in_value_ = false;
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    Connection& c = self(p);
    c.phase_ = Connection::Phase::body;
    c.phase_since_ = c.now_.mono;
    return c.check_head() ? 0 : -1;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    Connection& c = self(p);
    const std::size_t limit = c.router_.limits().max_body_bytes;
    if (c.reject_ != Error::ok) {
      c.discarded_ += n; // refused already: count, do not keep
      if (c.discarded_ <= limit)
        return 0;
    } else if (c.body_.size() + n <= limit) {
      c.body_.append(at, n);
      return 0;
    }
    c.abort_ = Error::payload_too_large;
    return -1;
  }

  // A declared chunk that cannot fit is refused now, as a large
  // Content-Length is, rather than read (or waited for) until the limit.
  static int on_chunk_header(llhttp_t* p) {
    Connection& c = self(p);
    const std::uint64_t have = c.reject_ != Error::ok ? c.discarded_ : c.body_.size();
    if (p->content_length <= c.router_.limits().max_body_bytes - std::min<std::uint64_t>(have, c.router_.limits().max_body_bytes))
      return 0;
    c.abort_ = Error::payload_too_large;
    return -1;
  }

  static int on_message_complete(llhttp_t* p) {
    Connection& c = self(p);
    c.keep_alive_ = llhttp_should_keep_alive(p) != 0 && !llhttp_get_upgrade(p);
    // One request at a time: the connection answers it before parsing on.
    return HPE_PAUSED;
  }

  static llhttp_settings_t make() {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_field_complete = on_header_field_complete;
    s.on_header_value = on_header_value;
    s.on_header_value_complete = on_header_value_complete;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_chunk_header = on_chunk_header;
    s.on_message_complete = on_message_complete;
    return s;
  }
};

namespace {
const llhttp_settings_t parser_settings = ParserCallbacks::make();
}

Connection::Connection(Router& router, Now now)
    : router_(router), now_(now), phase_since_(now.mono), wake_(std::make_shared<detail::WakeCell>()) {
  router_.warn_once();
  llhttp_init(&parser_, HTTP_REQUEST, &parser_settings);
  parser_.data = this;
}

Connection::~Connection() {
  wake_->set(nullptr); // late Acks find nobody to wake
  for (Slot& s : slots_)
    if (s.ack)
      s.ack->expire();
}

void Connection::set_waker(std::function<void()> wake) { wake_->set(std::move(wake)); }

std::string_view Connection::header_name(const HeaderSpan& h) const noexcept {
  return {head_.data() + h.name_off, h.name_len};
}
std::string_view Connection::header_value(const HeaderSpan& h) const noexcept {
  return trim_ows({head_.data() + h.value_off, h.value_len});
}

std::optional<std::string_view> Connection::find_header(std::string_view name) const noexcept {
  for (const HeaderSpan& h : headers_)
    if (iequals(header_name(h), name))
      return header_value(h);
  return std::nullopt;
}

std::string_view Connection::path() const noexcept {
  return path_of(std::string_view(head_.data(), target_len_));
}

bool Connection::check_head() {
  http10_ = llhttp_get_http_minor(&parser_) == 0;
  if (llhttp_get_http_major(&parser_) != 1) {
    abort_ = Error::version_not_supported;
    return false;
  }
  if (http10_ && (parser_.flags & F_TRANSFER_ENCODING)) {
    // HTTP/1.0 has no chunked framing: an intermediary of that version would
    // take the body for the next request (RFC 9112 §6.1: faulty framing).
    abort_ = Error::malformed_http;
    return false;
  }
  head_request_ = llhttp_get_method(&parser_) == HTTP_HEAD;
  method_ = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
  if (llhttp_get_method(&parser_) == HTTP_CONNECT) {
    abort_ = Error::method_not_allowed; // no tunnels here; what follows is not HTTP
    return false;
  }
  // One pass over the headers for every one the checks below need.
  struct Seen {
    int count = 0;
    std::optional<std::string_view> first;
  } host, expect_h, auth, signature;
  for (const HeaderSpan& h : headers_) {
    const std::string_view name = header_name(h);
    Seen* seen = nullptr;
    switch (name.size()) {
    case 4: seen = iequals(name, "host") ? &host : nullptr; break;
    case 6: seen = iequals(name, "expect") ? &expect_h : nullptr; break;
    case 13: seen = iequals(name, "authorization") ? &auth : nullptr; break;
    case 17: seen = iequals(name, "x-topgg-signature") ? &signature : nullptr; break;
    default: break;
    }
    if (seen && seen->count++ == 0)
      seen->first = header_value(h);
  }
  if (host.count > 1 || (!http10_ && host.count != 1) || (host.first && !valid_host(*host.first))) {
    abort_ = Error::bad_host;
    return false;
  }
  bool expect_continue = false;
  if (auto expect = expect_h.first) {
    if (!iequals(*expect, "100-continue")) {
      abort_ = Error::expectation_failed;
      return false;
    }
    expect_continue = true;
  }
  if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > router_.limits().max_body_bytes) {
    abort_ = Error::payload_too_large;
    return false;
  }

  bool path_known = false;
  const char* method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
  route_ = router_.find(path(), method, path_known);
  if (!route_) {
    reject_ = path_known ? Error::method_not_allowed : Error::not_found;
  } else if (route_->kind == RouteKind::v1) {
    // Refuse what no body can make right before reading the body; the
    // timestamp and the MAC are checked once the body is here.
    thread_local v1::SignatureHeader parsed;
    if (signature.count == 0)
      reject_ = Error::signature_missing;
    else if (signature.count > 1 || v1::parse_signature(*signature.first, parsed) != Error::ok)
      reject_ = Error::signature_malformed;
  } else if (route_->kind != RouteKind::custom && !route_->auth_key.empty()) {
    if (auth.count != 1 || !detail::key_matches(*auth.first, route_->auth_key))
      reject_ = Error::unauthorized;
  }
  if (reject_ != Error::ok && expect_continue) {
    // The client waits for our word before sending the body: refuse now
    // and close rather than read a body we do not want.
    abort_ = reject_;
    return false;
  }
  if (expect_continue && slots_.empty())
    out_.append("HTTP/1.1 100 Continue\r\n\r\n");
  return true;
}

void Connection::receive(std::string_view bytes, Now now) {
  now_ = now;
  if (closing_ || bytes.empty())
    return;
  if (held_off_ < held_.size()) {
    held_.append(bytes);
    return;
  }
  const std::size_t used = process(bytes);
  if (used < bytes.size() && !closing_) {
    held_.assign(bytes.substr(used));
    held_off_ = 0;
  }
}

std::size_t Connection::process(std::string_view data) {
  std::size_t used = 0;
  while (used < data.size() && !closing_ && !blocked()) {
    if (!skip_empty_lines(data, used))
      return data.size();
    if (used == data.size())
      break;
    // The header limit counts raw bytes from the request line's first byte
    // to the blank line. llhttp is never given more of a head than fits, so
    // a head over the limit is 431 however its bytes were split, and a bad
    // byte within the limit is 400 however they were split.
    const bool in_head = phase_ == Phase::fresh || phase_ == Phase::idle || phase_ == Phase::head;
    if (phase_ != Phase::head)
      head_raw_ = 0; // we pause after every message, so a new one starts here
    std::size_t n = data.size() - used;
    const std::size_t room = router_.limits().max_header_bytes - std::min(head_raw_, router_.limits().max_header_bytes);
    const bool capped = in_head && n > room;
    if (capped)
      n = room;
    const char* start = data.data() + used;
    const llhttp_errno_t err = llhttp_execute(&parser_, start, n);
    if (err == HPE_OK) {
      used += n;
      const bool head_incomplete = phase_ == Phase::head || phase_ == Phase::idle || phase_ == Phase::fresh;
      if (in_head && head_incomplete) {
        head_raw_ += n;
        if (capped) {
          fail(Error::headers_too_large, describe(Error::headers_too_large), true);
          return data.size();
        }
      }
      continue;
    }
    if (err == HPE_PAUSED) {
      used += static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - start);
      llhttp_resume(&parser_);
      complete_request();
      continue;
    }
    // A refused or unparseable request: answer and close, reading nothing more.
    if (abort_ != Error::ok) {
      fail(abort_, describe(abort_), true);
    } else if (err == HPE_PAUSED_H2_UPGRADE) {
      fail(Error::version_not_supported, describe(Error::version_not_supported), true);
    } else {
      fail(Error::malformed_http, llhttp_get_error_reason(&parser_), true);
    }
    return data.size();
  }
  return used;
}

// Between requests llhttp skips any CR and LF bytes; RFC 9112 §2.2 allows
// only empty lines (CRLF) there. A bare CR or LF before a request line is
// how some front-ends and back-ends disagree on where a request starts, so
// it is refused. Returns false (after answering 400) on such a byte.
bool Connection::skip_empty_lines(std::string_view data, std::size_t& used) {
  if (phase_ != Phase::idle && phase_ != Phase::fresh)
    return true;
  while (used < data.size()) {
    const char c = data[used];
    if (c == '\n' && pending_cr_) {
      pending_cr_ = false;
    } else if (c == '\r' && !pending_cr_) {
      pending_cr_ = true;
    } else if (c == '\r' || c == '\n' || pending_cr_) {
      pending_cr_ = false;
      head_request_ = false; // the last request's method says nothing of these bytes
      method_ = {};
      fail(Error::malformed_http, "bare CR or LF before the request line", true);
      return false;
    } else {
      return true;
    }
    ++used;
  }
  return true;
}

void Connection::complete_request() {
  struct ReleaseLargeBody { // after the answer: a rare large body's buffer is not kept while idle
    std::string& body;
    ~ReleaseLargeBody() {
      if (body.capacity() > keep_capacity)
        std::string().swap(body);
    }
  } release{body_};
  ++requests_;
  phase_ = Phase::idle;
  phase_since_ = now_.mono;
  const bool close = !keep_alive_ || requests_ >= router_.limits().max_requests_per_connection;
  if (reject_ != Error::ok) {
    fail(reject_, describe(reject_), close);
    return;
  }
  switch (route_->kind) {
  case RouteKind::custom:
    deliver_custom(*route_, close);
    return;
  case RouteKind::bot_vote: {
    detail::reserve_padding(body_);
    const DecodeStatus st = detail::decode_padded(body_, bot_vote_);
    if (!st)
      return fail(st.error, st.detail, close);
    return deliver(bot_vote_, router_.bot_vote_, close, 200, {});
  }
  case RouteKind::server_vote: {
    detail::reserve_padding(body_);
    const DecodeStatus st = detail::decode_padded(body_, server_vote_);
    if (!st)
      return fail(st.error, st.detail, close);
    return deliver(server_vote_, router_.server_vote_, close, 200, {});
  }
  case RouteKind::v1:
    return deliver_v1(*route_, close);
  }
}

void Connection::deliver_v1(const Router::Route& route, bool close) {
  Request req;
  if (router_.resolver_)
    req = request_view();
  req.body = body_;
  const Error e = router_.verify_v1(route, req, find_header("x-topgg-signature").value_or(""), now_);
  if (e != Error::ok)
    return fail(e, describe(e), close);
  detail::reserve_padding(body_);
  thread_local v1::Event ev; // reused: decoding stops allocating once warm
  const DecodeStatus st = v1::decode_padded(body_, ev);
  if (!st || ev.type == v1::EventType::unknown) {
    // Signed by Top.gg but not understood: 204 so it is not retried forever.
    router_.reject(
        Rejection{st ? Error::invalid_payload : st.error, 204, path(), st ? "unknown event type" : st.detail, method_});
    return answer(204, "", nullptr, close);
  }
  ev.set_trace(find_header("x-topgg-trace").value_or(""));
  thread_local std::string key;
  if (!Router::dedup_key(ev, key))
    key.clear();
  if (router_.seen(key))
    return answer(204, "", nullptr, close); // already handled: a retry of an answered delivery
  router_.visit(ev, [&](const auto& event, const auto& handlers) { deliver(event, handlers, close, 204, key); });
}

template <class Event>
void Connection::deliver(const Event& ev, const VoteHandlers<Event>& h, bool close, int success,
                         const std::string& dedup_key) {
  Error now = Error::ok;
  auto ack = detail::dispatch(ev, h, router_.executor_, [this] {
    auto a = std::make_shared<detail::AckState>();
    a->wake = wake_;
    return a;
  }, now, why_);
  if (!ack) {
    if (now != Error::ok)
      return fail(now, why_, close);
    router_.remember(dedup_key);
    return answer(success, success == 204 ? "" : "OK", nullptr, close);
  }
  // The answer waits in a slot for the Ack (or its deadline), in request order.
  Slot slot;
  slot.ack = std::move(ack);
  slot.deadline = later(now_.mono, router_.limits().ack_timeout);
  slot.close_after = close;
  slot.success_status = success;
  slot.dedup_key = dedup_key;
  slot.path.assign(path());
  slots_.push_back(std::move(slot));
  if (close)
    closing_ = true;
  flush_slots();
}

Request Connection::request_view() {
  header_views_.clear();
  for (const HeaderSpan& h : headers_)
    header_views_.push_back({header_name(h), header_value(h)});
  Request req;
  req.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(&parser_)));
  req.target = std::string_view(head_.data(), target_len_);
  req.path = path();
  req.headers = header_views_;
  req.body = body_;
  return req;
}

void Connection::deliver_custom(const Router::Route& route, bool close) {
  const Request req = request_view();
  Response res;
  try {
    res = route.handler(req);
  } catch (const std::exception& e) {
    return fail(Error::handler_failed, e.what(), close);
  } catch (...) {
    return fail(Error::handler_failed, "handler threw a non-std exception", close);
  }
  answer(res.status, res.body, &res, close);
}

void Connection::fail(Error e, std::string_view detail, bool close) {
  const int status = http_status(e);
  // Before the head is complete the target may be cut anywhere: say nothing
  // of it rather than a fragment that depends on how the bytes arrived.
  const bool head_known = phase_ != Phase::head;
  router_.reject(Rejection{e, status, head_known ? path() : std::string_view{}, detail, head_known ? method_ : ""});
  close = close || closes_connection(e);
  if (e == Error::method_not_allowed) {
    Response allow;
    allow.headers.emplace_back("Allow", router_.allowed_methods(path()));
    answer(status, detail, &allow, close);
    return;
  }
  answer(status, detail, nullptr, close);
}

void Connection::answer(int status, std::string_view body, const Response* extra, bool close) {
  if (close)
    closing_ = true;
  if (slots_.empty()) {
    serialise(out_, status, body, extra, close);
    return;
  }
  Slot slot;
  serialise(slot.bytes, status, body, extra, close);
  slots_.push_back(std::move(slot));
}

void Connection::serialise(std::string& to, int status, std::string_view body, const Response* extra,
                           bool close) const {
  if (!extra && !close && !http10_ && !head_request_) { // the answers to nearly every delivery, canned
    static constexpr std::string_view ok200 =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK";
    static constexpr std::string_view ok204 = "HTTP/1.1 204 No Content\r\n\r\n";
    if (status == 200 && body == "OK")
      return void(to.append(ok200));
    if (status == 204)
      return void(to.append(ok204));
  }
  to.append("HTTP/1.1 ");
  append_number(to, static_cast<std::size_t>(status));
  to.push_back(' ');
  to.append(reason_phrase(status));
  to.append("\r\n");
  bool typed = false;
  if (extra) {
    for (const auto& [name, value] : extra->headers) {
      if (iequals(name, "content-length") || iequals(name, "connection") || iequals(name, "transfer-encoding") ||
          !is_token(name) || !safe_header_text(value))
        continue; // ours to set; CR/LF would split the response
      typed = typed || iequals(name, "content-type");
      to.append(name).append(": ").append(value).append("\r\n");
    }
  }
  const bool bodyless = status == 204 || status == 304 || status < 200;
  // A HEAD answer never has a body (RFC 9110 §9.3.2) and says nothing of the
  // length a GET would get: the client reads no body bytes, so any would
  // start its next answer.
  if (!bodyless && !head_request_) {
    if (!typed && !body.empty())
      to.append("Content-Type: text/plain; charset=utf-8\r\n");
    to.append("Content-Length: ");
    append_number(to, body.size());
    to.append("\r\n");
  }
  if (close)
    to.append("Connection: close\r\n");
  else if (http10_)
    to.append("Connection: keep-alive\r\n");
  to.append("\r\n");
  if (!bodyless && !head_request_)
    to.append(body);
}

void Connection::flush_slots() {
  std::size_t done = 0;
  for (; done < slots_.size(); ++done) {
    Slot& s = slots_[done];
    if (s.ack) {
      const int r = s.ack->result();
      if (r == detail::AckState::pending || r == detail::AckState::claiming)
        break;
      const detail::Outcome o = detail::outcome_of(*s.ack);
      if (o.error == Error::ok)
        router_.remember(s.dedup_key);
      if (o.reply) {
        serialise(out_, o.reply->status, o.reply->body, o.reply, s.close_after);
      } else if (o.error == Error::ok) {
        serialise(out_, s.success_status, s.success_status == 204 ? "" : "OK", nullptr, s.close_after);
      } else {
        router_.reject(Rejection{o.error, http_status(o.error), s.path, o.why, "POST"});
        serialise(out_, http_status(o.error), o.why, nullptr, s.close_after);
      }
    } else {
      out_.append(s.bytes);
    }
  }
  slots_.erase(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(done));
  if (done > 0)
    linger_since_ = now_.mono; // the peer's time to read these starts now
}

bool Connection::blocked() const noexcept {
  return slots_.size() >= router_.limits().max_pipelined || output().size() >= router_.limits().max_output_bytes;
}

bool Connection::want_read() const noexcept { return !closing_ && !blocked() && held_off_ >= held_.size(); }

void Connection::consume(std::size_t n) noexcept {
  out_sent_ += n;
  sent_total_ += n;
  if (out_sent_ >= out_.size()) {
    out_.clear();
    out_sent_ = 0;
    if (out_.capacity() > keep_capacity)
      std::string().swap(out_); // a rare large answer: do not keep its buffer per idle connection
  }
}

void Connection::resume(Now now) {
  now_ = now;
  flush_slots();
  if (held_off_ < held_.size() && !closing_) {
    held_off_ += process(std::string_view(held_).substr(held_off_));
  }
  if (held_off_ >= held_.size()) {
    std::string().swap(held_); // only filled under back-pressure: not kept
    held_off_ = 0;
    if (peer_eof_)
      closing_ = true;
  }
}

void Connection::receive_eof(Now now) {
  now_ = now;
  peer_eof_ = true;
  if (held_off_ >= held_.size())
    closing_ = true; // a request cut off mid-way has nobody left to answer
}

void Connection::shutdown(Now now) {
  now_ = now;
  closing_ = true;
  held_.clear();
  held_off_ = 0;
}

std::optional<Clock::time_point> Connection::deadline() const noexcept {
  std::optional<Clock::time_point> d;
  auto take = [&d](Clock::time_point t) {
    if (!d || t < *d)
      d = t;
  };
  for (const Slot& s : slots_)
    if (s.ack)
      take(s.deadline);
  const Settings& lim = router_.limits();
  if (closing_) {
    if (slots_.empty() && !output().empty()) // peer not reading our last answer?
      take(later(std::max(phase_since_, linger_since_), lim.body_timeout));
    return d;
  }
  switch (phase_) {
  case Phase::fresh:
  case Phase::head: take(later(phase_since_, lim.header_timeout)); break;
  case Phase::body: take(later(phase_since_, lim.body_timeout)); break;
  case Phase::idle:
    if (slots_.empty())
      take(later(phase_since_, lim.idle_timeout));
    break;
  }
  return d;
}

void Connection::on_timer(Now now) {
  now_ = now;
  for (Slot& s : slots_)
    if (s.ack && now.mono >= s.deadline)
      s.ack->expire();
  flush_slots();
  const Settings& lim = router_.limits();
  if (closing_) {
    if (slots_.empty() && !output().empty() && now.mono >= later(std::max(phase_since_, linger_since_), lim.body_timeout)) {
      if (sent_total_ != linger_sent_) {
        // The peer read some of it since we last looked: give it another period.
        linger_sent_ = sent_total_;
        linger_since_ = now.mono;
      } else {
        out_.clear(); // give up on a peer that does not read
        out_sent_ = 0;
      }
    }
    return;
  }
  switch (phase_) {
  case Phase::fresh:
    if (now.mono >= later(phase_since_, lim.header_timeout))
      closing_ = true; // connected, sent nothing: close quietly
    break;
  case Phase::idle:
    if (slots_.empty() && now.mono >= later(phase_since_, lim.idle_timeout))
      closing_ = true;
    break;
  case Phase::head:
    if (now.mono >= later(phase_since_, lim.header_timeout))
      fail(Error::request_timeout, describe(Error::request_timeout), true);
    break;
  case Phase::body:
    if (now.mono >= later(phase_since_, lim.body_timeout))
      fail(Error::request_timeout, describe(Error::request_timeout), true);
    break;
  }
  if (closing_)
    phase_since_ = now.mono;
}

} // namespace topgg
