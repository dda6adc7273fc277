#include "reader.hpp"

#include <algorithm>

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
bool valid_host(std::string_view host) noexcept {
  for (unsigned char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~%!$&'()*+,;=:[]").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok)
      return false;
  }
  return true;
}

// Buffers grown past this by an unusual request are released once it is
// answered; typical deliveries (< 1 KiB) keep theirs and stop allocating.
constexpr std::size_t keep_capacity = 16 * 1024;

} // namespace

// llhttp's C callbacks, forwarding into the Reader stored in parser->data.
struct ReaderCallbacks {
  static Reader& self(llhttp_t* p) { return *static_cast<Reader*>(p->data); }
  static bool in_trailers(const Reader& r) noexcept { return r.phase_ == Phase::body; }

  static int on_message_begin(llhttp_t* p) {
    Reader& r = self(p);
    r.head_.clear();
    r.fields_.clear();
    r.target_ = {};
    std::fill(std::begin(r.known_), std::end(r.known_), Reader::Span{});
    std::fill(std::begin(r.known_count_), std::end(r.known_count_), 0);
    r.field_open_ = r.in_value_ = false;
    r.body_.clear();
    r.discarding_ = false;
    r.discarded_ = r.trailer_bytes_ = r.trailer_fields_ = 0;
    r.head_request_ = false;
    r.head_view_ = {};
    r.phase_ = Phase::head;
    r.phase_since_ = r.now_;
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    r.head_.append(at, n);
    r.target_.len += static_cast<std::uint32_t>(n);
    return 0;
  }

  // Trailer fields (after a chunked body) never become request headers:
  // counted against the header limits and dropped, never buffered.
  static int count_trailer(Reader& r, std::size_t n) {
    r.trailer_bytes_ += n;
    return r.trailer_bytes_ <= r.settings_.max_header_bytes ? 0 : r.fail(Error::headers_too_large, "trailer section over the limit");
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    if (in_trailers(r))
      return count_trailer(r, n);
    if (!r.field_open_) {
      r.fields_.push_back({{static_cast<std::uint32_t>(r.head_.size()), 0}, {}});
      r.field_open_ = true;
    }
    r.head_.append(at, n);
    r.fields_.back().name.len += static_cast<std::uint32_t>(n);
    return 0;
  }

  // Counted when a name is complete, not at its first fragment, so that how
  // the bytes were split cannot change which error a request gets.
  static int on_header_field_complete(llhttp_t* p) {
    Reader& r = self(p);
    r.field_open_ = false;
    const std::size_t fields = in_trailers(r) ? ++r.trailer_fields_ : r.fields_.size();
    return fields <= r.settings_.max_header_count ? 0 : r.fail(Error::headers_too_large, "too many header fields");
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    if (in_trailers(r))
      return count_trailer(r, n);
    if (!r.in_value_) {
      r.in_value_ = true;
      r.fields_.back().value.off = static_cast<std::uint32_t>(r.head_.size());
    }
    r.head_.append(at, n);
    r.fields_.back().value.len += static_cast<std::uint32_t>(n);
    return 0;
  }

  // Headers the library acts on are recorded as each one completes, so the
  // head is never scanned again.
  static int on_header_value_complete(llhttp_t* p) {
    Reader& r = self(p);
    r.in_value_ = false;
    if (in_trailers(r) || r.fields_.empty())
      return 0;
    const Reader::Field& f = r.fields_.back();
    const std::string_view name = r.text(f.name);
    Reader::Known k = Reader::other;
    switch (name.size()) {
    case 4: k = iequals(name, "host") ? Reader::host : Reader::other; break;
    case 6: k = iequals(name, "expect") ? Reader::expect : Reader::other; break;
    case 13:
      k = iequals(name, "authorization") ? Reader::authorization
          : iequals(name, "x-topgg-trace") ? Reader::trace
                                           : Reader::other;
      break;
    case 17: k = iequals(name, "x-topgg-signature") ? Reader::signature : Reader::other; break;
    default: break;
    }
    if (k != Reader::other && r.known_count_[k]++ == 0)
      r.known_[k] = f.value;
    if (r.known_count_[k] == 255)
      r.known_count_[k] = 2; // "more than one" is all anyone asks
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    Reader& r = self(p);
    r.phase_ = Phase::body;
    r.phase_since_ = r.now_;
    return r.check_head() ? 0 : -1;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    const std::size_t limit = r.settings_.max_body_bytes;
    if (r.discarding_) {
      r.discarded_ += n; // refused already: count, do not keep
      if (r.discarded_ <= limit)
        return 0;
    } else if (r.body_.size() + n <= limit) {
      r.body_.append(at, n);
      return 0;
    }
    return r.fail(Error::payload_too_large);
  }

  // A declared chunk that cannot fit is refused now, as a large
  // Content-Length is, rather than read (or waited for) until the limit.
  static int on_chunk_header(llhttp_t* p) {
    Reader& r = self(p);
    const std::uint64_t limit = r.settings_.max_body_bytes;
    const std::uint64_t have = r.discarding_ ? r.discarded_ : r.body_.size();
    return p->content_length <= limit - std::min(have, limit) ? 0 : r.fail(Error::payload_too_large);
  }

  static int on_message_complete(llhttp_t* p) {
    Reader& r = self(p);
    r.keep_alive_ = llhttp_should_keep_alive(p) != 0 && !llhttp_get_upgrade(p);
    return HPE_PAUSED; // one request at a time: it is answered before parsing on
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
const llhttp_settings_t parser_settings = ReaderCallbacks::make();
}

Reader::Reader(const Settings& settings, HeadListener& listener, RequestSource& full)
    : settings_(settings), listener_(listener), full_(full) {
  llhttp_init(&parser_, HTTP_REQUEST, &parser_settings);
  parser_.data = this;
}

int Reader::fail(Error e, std::string_view detail) {
  error_ = e;
  detail_ = detail.empty() ? describe(e) : detail;
  return -1;
}

std::string_view Reader::value(Span s) const noexcept { return trim_ows(text(s)); }

void Reader::headers(std::vector<Header>& out) const {
  out.clear();
  for (const Field& f : fields_)
    out.push_back({text(f.name), value(f.value)});
}

bool Reader::check_head() {
  http10_ = llhttp_get_http_minor(&parser_) == 0;
  const auto method = static_cast<llhttp_method_t>(llhttp_get_method(&parser_));
  head_request_ = method == HTTP_HEAD;
  if (llhttp_get_http_major(&parser_) != 1)
    return fail(Error::version_not_supported), false;
  if (http10_ && (parser_.flags & F_TRANSFER_ENCODING)) // RFC 9112 §6.1: HTTP/1.0 has no chunked framing
    return fail(Error::malformed_http, "Transfer-Encoding in an HTTP/1.0 request"), false;
  if (method == HTTP_CONNECT) // no tunnels here; what follows is not HTTP
    return fail(Error::method_not_allowed, "CONNECT is not served"), false;
  const unsigned hosts = known_count_[host];
  if (hosts > 1 || (!http10_ && hosts != 1) || (hosts == 1 && !valid_host(value(known_[host]))))
    return fail(Error::bad_host, hosts > 1 ? "Host header repeated" : hosts == 0 ? "Host header missing"
                                                                                 : "Host header invalid"),
           false;
  bool expect_continue = false;
  if (known_count_[expect] > 0) {
    if (!iequals(value(known_[expect]), "100-continue"))
      return fail(Error::expectation_failed), false;
    expect_continue = true;
  }
  if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > settings_.max_body_bytes)
    return fail(Error::payload_too_large, "Content-Length over the body limit"), false;

  head_view_.method = llhttp_method_name(method);
  head_view_.target = text(target_);
  head_view_.path = path_of(head_view_.target);
  head_view_.authorization = {value(known_[authorization]), known_count_[authorization]};
  head_view_.signature = {value(known_[signature]), known_count_[signature]};
  head_view_.trace = {value(known_[trace]), known_count_[trace]};
  head_view_.full = &full_;
  std::string_view why;
  const Error e = listener_.on_head(head_view_, expect_continue, why);
  if (e == Error::ok)
    return true;
  fail(e, why);
  return false;
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
      head_view_ = {};
      fail(Error::malformed_http, "bare CR or LF before the request line");
      return false;
    } else {
      return true;
    }
    ++used;
  }
  return true;
}

std::size_t Reader::feed(std::string_view data, Stop& stop) {
  stop = Stop::need_more;
  std::size_t used = 0;
  while (used < data.size()) {
    if (!skip_empty_lines(data, used)) {
      stop = Stop::failed;
      return data.size();
    }
    if (used == data.size())
      break;
    // The header limit counts raw bytes from the request line's first byte
    // to the blank line. llhttp is never given more of a head than fits, so
    // a head over the limit is 431 however its bytes were split, and a bad
    // byte within the limit is 400 however they were split.
    const bool in_head = phase_ != Phase::body;
    if (phase_ != Phase::head)
      head_raw_ = 0; // we pause after every message, so a new one starts here
    std::size_t n = data.size() - used;
    const std::size_t room = settings_.max_header_bytes - std::min(head_raw_, settings_.max_header_bytes);
    const bool capped = in_head && n > room;
    if (capped)
      n = room;
    const char* start = data.data() + used;
    const llhttp_errno_t err = llhttp_execute(&parser_, start, n);
    if (err == HPE_OK) {
      used += n;
      if (in_head && phase_ != Phase::body) {
        head_raw_ += n;
        if (capped) {
          fail(Error::headers_too_large);
          stop = Stop::failed;
          return data.size();
        }
      }
      continue;
    }
    if (err == HPE_PAUSED) {
      used += static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - start);
      llhttp_resume(&parser_);
      stop = Stop::message;
      return used;
    }
    // Refused at the head, or unparseable: answered, and nothing more is read.
    if (error_ == Error::ok) {
      if (err == HPE_PAUSED_H2_UPGRADE)
        fail(Error::version_not_supported);
      else
        fail(Error::malformed_http, llhttp_get_error_reason(&parser_));
    }
    stop = Stop::failed;
    return data.size();
  }
  return used;
}

void Reader::mark_idle() noexcept {
  phase_ = Phase::idle;
  phase_since_ = now_;
}

void Reader::next() { mark_idle(); }

void Reader::trim() noexcept {
  if (body_.capacity() > keep_capacity)
    std::string().swap(body_);
  if (head_.capacity() > keep_capacity)
    std::string().swap(head_);
}

} // namespace topgg::detail
