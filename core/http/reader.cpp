// HTTP/1.1 request framing over llhttp: the head checks (version, Host,
// Expect, framing ambiguities), the feeding loop with the header limit, and
// the bytes allowed between requests.
#include "reader.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "bytes.hpp"
#include "names.hpp"

namespace topgg::detail {

namespace {

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

// RFC 9112 §3.2: a Host that is not uri-host [":" port] is a 400.
constexpr auto host_bytes = [] {
  std::array<bool, 256> ok{};
  for (int c = 0; c < 256; ++c)
    ok[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) != std::string_view::npos;
  return ok;
}();

bool valid_host(std::string_view host) noexcept {
  bool ok = true;
  for (unsigned char c : host)
    ok &= host_bytes[c];
  return ok;
}

} // namespace

void ReaderPool::release_large(Message& m) noexcept {
  if (m.body.capacity() > keep_capacity)
    std::string().swap(m.body);
  if (m.head.capacity() > keep_capacity)
    std::string().swap(m.head);
}

int Reader::fail(Error e, std::string_view detail) {
  error_ = e;
  detail_ = detail.empty() ? describe(e) : detail;
  return -1;
}

std::string_view Reader::value(Message::Span s) const noexcept { return trim_ows(m_->text(s)); }

const Head& Reader::head() const noexcept {
  static const Head none;
  return m_ ? m_->view : none;
}

void Reader::headers(std::vector<Header>& out) const {
  out.clear();
  for (const Message::Field& f : m_->fields)
    out.push_back({m_->text(f.name), value(f.value)});
}

bool Reader::check_head() {
  llhttp_t& p = m_->parser;
  // llhttp's public fields, read directly: its getters are calls into the library.
  http10_ = p.http_minor == 0;
  const auto method = static_cast<llhttp_method_t>(p.method);
  head_request_ = method == HTTP_HEAD;
  // Known before any check, so that a refusal names it (a HEAD request's
  // refusal has no body: the error hook must be able to tell why).
  m_->view.method = llhttp_method_name(method);
  if (p.http_major != 1)
    return fail(Error::version_not_supported), false;
  if (http10_ && (p.flags & F_TRANSFER_ENCODING)) // RFC 9112 §6.1: HTTP/1.0 has no chunked framing
    return fail(Error::malformed_http, "Transfer-Encoding in an HTTP/1.0 request"), false;
  if (method == HTTP_CONNECT) // no tunnels here; what follows is not HTTP
    return fail(Error::method_not_allowed, "CONNECT is not served"), false;
  const unsigned hosts = m_->known_count[Message::host];
  if (hosts > 1 || (!http10_ && hosts != 1) || (hosts == 1 && !valid_host(value(m_->known(Message::host)))))
    return fail(Error::bad_host, hosts > 1 ? "Host header repeated" : hosts == 0 ? "Host header missing"
                                                                                 : "Host header invalid"),
           false;
  bool expect_continue = false;
  if (m_->known_count[Message::expect] > 0) {
    static constexpr Name hundred_continue{"100-continue"};
    if (!hundred_continue.matches(value(m_->known(Message::expect))))
      return fail(Error::expectation_failed), false;
    expect_continue = true;
  }
  if ((p.flags & F_CONTENT_LENGTH) && p.content_length > settings_.max_body_bytes)
    return fail(Error::payload_too_large, "Content-Length over the body limit"), false;

  build_view();
  std::string_view why;
  const Error e = listener_.on_head(m_->view, expect_continue, why);
  if (e == Error::ok)
    return true;
  fail(e, why);
  return false;
}

void Reader::build_view() {
  Message& m = *m_;
  Head& h = m.view; // h.method: set by check_head()
  h.target = m.text(m.target);
  h.path = path_of(h.target);
  h.authorization = {value(m.known(Message::authorization)), m.known_count[Message::authorization]};
  h.signature = {value(m.known(Message::signature)), m.known_count[Message::signature]};
  h.trace = {value(m.known(Message::trace)), m.known_count[Message::trace]};
  // Only the error hook reads these, and a vote rarely carries them: no trimming when absent.
  h.forwarded_for = {}, h.forwarded = {};
  if (const unsigned n = m.known_count[Message::forwarded_for])
    h.forwarded_for = {value(m.known(Message::forwarded_for)), n};
  if (const unsigned n = m.known_count[Message::forwarded])
    h.forwarded = {value(m.known(Message::forwarded)), n};
  h.full = &listener_.whole_request();
}

// Between requests llhttp skips any CR and LF bytes; RFC 9112 §2.2 allows
// only empty lines (CRLF) there. A bare CR or LF before a request line is
// how some front-ends and back-ends disagree on where a request starts, so
// it is refused. Returns false (error set) on such a byte.
bool Reader::skip_empty_lines(std::string_view data, std::size_t& used) {
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
      if (m_)
        m_->view = {};
      fail(Error::malformed_http, "bare CR or LF before the request line");
      return false;
    } else {
      return true;
    }
    ++used;
  }
  return true;
}

// One llhttp_execute over `n` bytes at `start`. A request that starts here
// is parsed in place (its state taken from the pool if it has none yet); one
// whose head began in an earlier feed() has its raw bytes appended to the
// copied head first, so its spans stay contiguous.
llhttp_errno_t Reader::execute(const char* start, std::size_t n, bool in_head) {
  if (phase_ != Phase::head && phase_ != Phase::body) {
    if (!m_) {
      if (!pool_)
        pool_ = &listener_.reader_pool();
      m_ = pool_->take();
      if (!m_->between) // as it is between two requests of a kept-alive connection, or new
        llhttp_init(&m_->parser, HTTP_REQUEST, &reader_callbacks());
      m_->parser.data = this;
    }
    m_->req = m_->chunk = start; // a new request begins at this byte
    m_->chunk_off = 0;
  } else if (in_head && !m_->req) {
    m_->head.append(start, n);
    m_->chunk = start;
    m_->chunk_off = m_->head.size() - n;
  }
  return llhttp_execute(&m_->parser, start, n);
}

std::size_t Reader::feed(std::string_view data, Stop& stop) {
  stop = Stop::need_more;
  std::size_t used = 0;
  while (used < data.size()) {
    if (!skip_empty_lines(data, used) || used == data.size())
      break;
    // The header limit counts raw bytes from the request line's first byte
    // to the blank line. llhttp is never given more of a head than fits, so
    // a head over the limit is 431 however its bytes were split, and a bad
    // byte within the limit is 400 however they were split.
    // The trailer section is counted the same way, from the last chunk on.
    const bool in_head = phase_ != Phase::body;
    const bool in_trailers = !in_head && m_->trailers;
    const std::size_t raw = phase_ == Phase::head ? m_->head_raw // we pause after every message
                            : in_trailers         ? m_->trailer_bytes
                                                  : 0;
    std::size_t n = data.size() - used;
    const std::size_t room = settings_.max_header_bytes - std::min(raw, settings_.max_header_bytes);
    const bool capped = (in_head || in_trailers) && n > room;
    if (capped)
      n = room;
    const char* start = data.data() + used;
    const llhttp_errno_t err = execute(start, n, in_head);
    if (err == HPE_OK) {
      used += n;
      if (in_head && phase_ != Phase::body) {
        m_->head_raw = raw + n;
        if (capped) {
          fail(Error::headers_too_large);
          break;
        }
      } else if (in_trailers) {
        m_->trailer_bytes = raw + n;
        if (capped) {
          fail(Error::headers_too_large, "trailer section over the limit");
          break;
        }
      }
      continue;
    }
    if (err == HPE_PAUSED) {
      used += static_cast<std::size_t>(llhttp_get_error_pos(&m_->parser) - start);
      llhttp_resume(&m_->parser);
      if (std::exchange(m_->trailer_pause, false))
        continue; // at the last chunk: the trailer section is counted from here
      stop = Stop::message;
      return used; // head() may point into `data`: the caller keeps it until next()
    }
    // Refused at the head, or unparseable: answered, and nothing more is read.
    if (error_ == Error::ok)
      fail(err == HPE_PAUSED_H2_UPGRADE ? Error::version_not_supported : Error::malformed_http,
           err == HPE_PAUSED_H2_UPGRADE ? std::string_view{} : llhttp_get_error_reason(&m_->parser));
    break;
  }
  if (error_ != Error::ok) {
    stop = Stop::failed;
    used = data.size();
  }
  own_head();
  return used;
}

// The spans of a request still being read point into bytes the caller is
// about to reuse: copy them (the raw bytes up to the last span's end, or all
// of a head still arriving, whose next bytes are appended after them).
void Reader::own_head() {
  if (!m_ || !m_->req || (phase_ != Phase::head && phase_ != Phase::body))
    return;
  Message& m = *m_;
  std::size_t end = m.target.off + m.target.len;
  for (const Message::Field& f : m.fields)
    end = std::max<std::size_t>({end, f.name.off + f.name.len, f.value.off + f.value.len});
  if (phase_ == Phase::head && error_ == Error::ok)
    end = m.head_raw; // every byte given so far: the next chunk continues at this offset
  m.head.assign(m.req, end);
  m.req = nullptr;
  if (m.view.full) // built (the head passed its checks): its views move too
    build_view();
}

void Reader::mark_idle() noexcept {
  phase_ = Phase::idle;
  phase_since_ = listener_.current_time();
}

void Reader::next() { mark_idle(); }

void Reader::rest() noexcept {
  if (!m_ || (phase_ != Phase::idle && phase_ != Phase::fresh))
    return;
  // A parser after "Connection: close", an upgrade or an error refuses more
  // bytes: the next request's reader starts it again.
  m_->between = phase_ == Phase::idle && keep_alive_ && error_ == Error::ok;
  try {
    pool_->give(std::move(m_));
  } catch (...) { // no room left in the pool: the state is freed instead
  }
}

} // namespace topgg::detail
