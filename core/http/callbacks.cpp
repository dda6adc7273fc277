// llhttp's C callbacks for the Reader: each fragment of the head extends its
// span (an offset from the request's first byte, see reader.hpp); limits are
// enforced as bytes arrive, trailers counted and dropped, and parsing pauses
// after every message.
#include "reader.hpp"

#include <algorithm>


namespace topgg::detail {

// Forwards into the Reader stored in parser->data, and its Message.
struct ReaderCallbacks {
  static Reader& self(llhttp_t* p) { return *static_cast<Reader*>(p->data); }
  static Message& msg(llhttp_t* p) { return *self(p).m_; }
  static bool in_trailers(const Reader& r) noexcept { return r.phase_ == Phase::body; }

  static int on_message_begin(llhttp_t* p) {
    Reader& r = self(p);
    Message& m = *r.m_;
    m.fields.clear();
    m.target = {};
    std::fill(std::begin(m.known_count), std::end(m.known_count), 0);
    m.field_open = false;
    m.body.clear();
    m.discarding = false;
    m.discarded = m.trailer_bytes = m.trailer_fields = 0;
    m.trailers = m.trailer_pause = false;
    m.view.method = m.view.target = m.view.path = {};
    m.view.full = nullptr; // not built: a head refused before its checks end has no path
    r.head_request_ = false;
    r.phase_ = Phase::head;
    r.phase_since_ = r.listener_.current_time();
    return 0;
  }

  static int on_url(llhttp_t* p, const char* at, std::size_t n) {
    Message& m = msg(p);
    if (m.target.len == 0)
      m.target.off = m.offset(at);
    m.target.len += static_cast<std::uint32_t>(n);
    return 0;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    if (in_trailers(r)) // never a request header: dropped (its bytes are counted by the Reader)
      return 0;
    Message& m = *r.m_;
    if (m.field_open) {
      m.fields.back().name.len += static_cast<std::uint32_t>(n);
    } else {
      m.fields.push_back({{m.offset(at), static_cast<std::uint32_t>(n)}, {}});
      m.field_open = true;
    }
    return 0;
  }

  // Counted when a name is complete, not at its first fragment, so that how
  // the bytes were split cannot change which error a request gets. Headers
  // the library acts on are recorded here, by the field's index, so the head
  // is never scanned again; their values are read from the field once the
  // head is complete (no callback per value end).
  static int on_header_field_complete(llhttp_t* p) {
    Reader& r = self(p);
    Message& m = *r.m_;
    m.field_open = false;
    if (in_trailers(r))
      return ++m.trailer_fields <= r.settings_.max_header_count ? 0 : too_many_fields(r);
    const std::size_t fields = m.fields.size();
    if (fields > r.settings_.max_header_count)
      return too_many_fields(r);
    const Message::Known k = Message::known_header(m.text(m.fields.back().name));
    if (k == Message::other)
      return 0;
    if (m.known_count[k]++ == 0)
      m.known_field[k] = static_cast<std::uint32_t>(fields - 1);
    if (m.known_count[k] == 255)
      m.known_count[k] = 2; // "more than one" is all anyone asks
    return 0;
  }
  static int too_many_fields(Reader& r) { return r.fail(Error::headers_too_large, "too many header fields"); }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    if (in_trailers(r))
      return 0;
    Message::Field& f = r.m_->fields.back();
    if (f.value.off == 0) // its first fragment (offset 0 is the request line's, never a value's)
      f.value.off = r.m_->offset(at);
    f.value.len += static_cast<std::uint32_t>(n);
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    Reader& r = self(p);
    r.phase_ = Phase::body;
    r.phase_since_ = r.listener_.current_time();
    return r.check_head() ? 0 : -1;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t n) {
    Reader& r = self(p);
    Message& m = *r.m_;
    const std::size_t limit = r.settings_.max_body_bytes;
    if (m.discarding) {
      m.discarded += n; // refused already: count, do not keep
      if (m.discarded <= limit)
        return 0;
    } else if (m.body.size() + n <= limit) {
      m.body.append(at, n);
      return 0;
    }
    return r.fail(Error::payload_too_large);
  }

  // A declared chunk that cannot fit is refused now, as a large
  // Content-Length is, rather than read (or waited for) until the limit.
  // The last chunk (size 0) pauses the parser: the Reader then counts the
  // trailer section's raw bytes, however they are split.
  static int on_chunk_header(llhttp_t* p) {
    Reader& r = self(p);
    Message& m = *r.m_;
    const std::uint64_t limit = r.settings_.max_body_bytes;
    const std::uint64_t have = m.discarding ? m.discarded : m.body.size();
    if (p->content_length > limit - std::min(have, limit))
      return r.fail(Error::payload_too_large);
    if (p->content_length != 0)
      return 0;
    m.trailers = m.trailer_pause = true;
    return HPE_PAUSED;
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
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_chunk_header = on_chunk_header;
    s.on_message_complete = on_message_complete;
    return s;
  }
};

const llhttp_settings_t& reader_callbacks() noexcept {
  static const llhttp_settings_t settings = ReaderCallbacks::make();
  return settings;
}

} // namespace topgg::detail
