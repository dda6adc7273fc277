// llhttp's C callbacks for the Reader: each fragment of the head extends its
// span (an offset from the request's first byte, see reader.hpp); limits are
// enforced as bytes arrive, trailers counted and dropped, and parsing pauses
// after every message.
#include "reader.hpp"

#include <algorithm>

#include "names.hpp"

namespace topgg::detail {

// Forwards into the Reader stored in parser->data.
struct ReaderCallbacks {
  static Reader& self(llhttp_t* p) { return *static_cast<Reader*>(p->data); }
  static bool in_trailers(const Reader& r) noexcept { return r.phase_ == Phase::body; }

  static int on_message_begin(llhttp_t* p) {
    Reader& r = self(p);
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
    if (r.target_.len == 0)
      r.target_.off = r.offset(at);
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
      r.fields_.push_back({{r.offset(at), 0}, {}});
      r.field_open_ = true;
    }
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
      r.fields_.back().value.off = r.offset(at);
    }
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
    static constexpr Name host{"host"};
    static constexpr Name expect{"expect"};
    static constexpr Name authorization{"authorization"};
    static constexpr Name trace{"x-topgg-trace"};
    static constexpr Name signature{"x-topgg-signature"};
    Reader::Known k = Reader::other;
    switch (name.size()) {
    case host.size(): k = host.matches(name) ? Reader::host : Reader::other; break;
    case expect.size(): k = expect.matches(name) ? Reader::expect : Reader::other; break;
    case authorization.size():
      k = authorization.matches(name) ? Reader::authorization : trace.matches(name) ? Reader::trace : Reader::other;
      break;
    case signature.size(): k = signature.matches(name) ? Reader::signature : Reader::other; break;
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

const llhttp_settings_t& reader_callbacks() noexcept {
  static const llhttp_settings_t settings = ReaderCallbacks::make();
  return settings;
}

} // namespace topgg::detail
