// Internal: HTTP/1.1 request framing with llhttp. Bytes in; one complete
// request at a time out, every size limit enforced as bytes arrive (head,
// header count, body, trailers), framing ambiguities refused.
//
// The head is not copied when it arrives within one feed(): its fields are
// spans of the caller's bytes. A head still incomplete (or whose body is)
// when feed() returns is copied then, so views never outlive the input.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../pipeline.hpp"
#include "names.hpp"
#include "../timeouts.hpp"

namespace topgg::detail {

class ReaderPool;

/// Told when a request head is complete and passed the HTTP-level checks.
class HeadListener {
public:
  /// Returns the refusal to answer at once (closing; `detail` says why), or
  /// Error::ok to read the body (the listener keeps its own decision about
  /// the request).
  virtual Error on_head(const Head& head, bool expect_continue, std::string_view& detail) = 0;
  /// Where the reader borrows each request's state (the thread's).
  virtual ReaderPool& reader_pool() = 0;
  /// The whole request, for custom routes and the secret resolver (Head::full).
  virtual RequestSource& whole_request() noexcept = 0;
  /// The time of the call being handled (timeouts run from it).
  virtual Clock::time_point current_time() const noexcept = 0;

protected:
  ~HeadListener() = default;
};

/// llhttp's callbacks into a Reader (callbacks.cpp).
const llhttp_settings_t& reader_callbacks() noexcept;

/// One request being read: llhttp's parser, the head's spans, the body, the
/// listener's decision on it.
/// Taken from a ReaderPool when a request's first byte arrives and given back
/// once it is answered, so an idle keep-alive connection holds none.
struct Message {
  struct Span {
    std::uint32_t off = 0, len = 0;
  };
  struct Field {
    Span name, value;
  };
  // Headers the library acts on, recorded as each name completes.
  // (forwarded_for and forwarded only name the client in the error hook's
  // lines: looked for among the others, so that the switch keeps its few
  // cases and every vote's headers cost what they did.)
  enum Known : unsigned char { other, host, expect, authorization, signature, trace, forwarded_for, forwarded, kinds };
  /// Which of them `name` is (a word-at-a-time match after a switch on the length).
  static Known known_header(std::string_view name) noexcept {
    static constexpr Name host_name{"host"};
    static constexpr Name expect_name{"expect"};
    static constexpr Name authorization_name{"authorization"};
    static constexpr Name trace_name{"x-topgg-trace"};
    static constexpr Name signature_name{"x-topgg-signature"};
    static constexpr Name forwarded_for_name{"x-forwarded-for"};
    static constexpr Name forwarded_name{"forwarded"};
    switch (name.size()) {
    case host_name.size(): return host_name.matches(name) ? host : other;
    case expect_name.size(): return expect_name.matches(name) ? expect : other;
    case authorization_name.size():
      return authorization_name.matches(name) ? authorization : trace_name.matches(name) ? trace : other;
    case signature_name.size(): return signature_name.matches(name) ? signature : other;
    default:
      if (name.size() == forwarded_for_name.size())
        return forwarded_for_name.matches(name) ? forwarded_for : other;
      return name.size() == forwarded_name.size() && forwarded_name.matches(name) ? forwarded : other;
    }
  }

  // Spans are offsets from the request's first byte, in the caller's bytes
  // (req) or, once copied, in head.
  const char* base() const noexcept { return req ? req : head.data(); }
  std::string_view text(Span s) const noexcept { return {base() + s.off, s.len}; }
  std::uint32_t offset(const char* at) const noexcept { return static_cast<std::uint32_t>(chunk_off + (at - chunk)); }
  /// The value of the first header of kind `k` (empty if none).
  Span known(Known k) const noexcept { return known_count[k] ? fields[known_field[k]].value : Span{}; }

  llhttp_t parser{};
  bool between = false;        // parser paused after a kept-alive message and resumed: reusable as is
  std::string head;            // the head's raw bytes, once copied
  const char* req = nullptr;   // the request's first byte in the caller's bytes; null once copied
  const char* chunk = nullptr; // the bytes llhttp is parsing now, at offset chunk_off of the request
  std::size_t chunk_off = 0;
  std::size_t head_raw = 0; // bytes of the head given to llhttp so far
  std::vector<Field> fields;
  Span target;
  std::uint32_t known_field[kinds] = {}; // the first field of each kind, by index; valid if its count > 0
  unsigned char known_count[kinds] = {};
  bool field_open = false;
  Head view;
  Admission admission; // the listener's decision on the head, kept with the request

  std::string body;
  bool discarding = false;
  std::size_t discarded = 0;
  // The trailer section, after the last chunk: its raw bytes count against
  // max_header_bytes as a head's do (llhttp is paused at the last chunk, then
  // given no more of it than fits), its fields against max_header_count.
  bool trailers = false, trailer_pause = false;
  std::size_t trailer_bytes = 0, trailer_fields = 0;
};

/// The Messages of the connections on one thread (a Workspace's).
class ReaderPool {
public:
  /// Messages kept for reuse at most. A connection holds one only while a
  /// request is read and answered, so 64 serve 64 requests in progress at
  /// once on this thread without an allocation. Each keeps its buffers (up
  /// to keep_capacity each for head and body): those of a larger peak are
  /// freed as they come back, not held for the thread's life.
  static constexpr std::size_t max_idle = 64;

  std::unique_ptr<Message> take() {
    if (free_.empty())
      return std::make_unique<Message>();
    std::unique_ptr<Message> m = std::move(free_.back());
    free_.pop_back();
    return m;
  }
  /// Keeps `m` for the next request, without the buffers a rare large one
  /// grew; frees it if max_idle are kept already.
  void give(std::unique_ptr<Message> m) {
    if (free_.size() >= max_idle)
      return;
    if (free_.capacity() < max_idle)
      free_.reserve(max_idle); // once: later gives never allocate
    release_large(*m);
    m->req = m->chunk = nullptr;
    free_.push_back(std::move(m));
  }
  /// Messages kept for reuse now.
  std::size_t idle() const noexcept { return free_.size(); }

private:
  static void release_large(Message& m) noexcept;
  std::vector<std::unique_ptr<Message>> free_;
};

class Reader {
public:
  enum class Stop : unsigned char { need_more, message, failed };

  /// Both must outlive the reader.
  Reader(const Settings& settings, HeadListener& listener) : settings_(settings), listener_(listener) {}
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  /// Parses from `data`, stopping after one complete request (Stop::message)
  /// or at an error (Stop::failed: error() and detail() say why; the
  /// connection must answer and close). Returns the bytes used. After
  /// Stop::message, head() may point into `data`: keep it until next().
  std::size_t feed(std::string_view data, Stop& stop);
  /// After Stop::message: ready for the next request.
  void next();
  /// Between requests (after the last one is answered, with no byte of the
  /// next): gives the request's state back to the pool.
  void rest() noexcept;

  Error error() const noexcept { return error_; }
  std::string_view detail() const noexcept { return detail_; }
  Phase phase() const noexcept { return phase_; }
  Clock::time_point phase_since() const noexcept { return phase_since_; }
  /// The connection opened at `t`: the header timeout runs from then.
  void opened(Clock::time_point t) noexcept { phase_since_ = t; }
  void mark_idle() noexcept;

  /// The current request (valid until next(), and while the bytes given to
  /// the feed() that completed it stay).
  const Head& head() const noexcept;
  bool head_complete() const noexcept { return phase_ == Phase::body; }
  bool keep_alive() const noexcept { return keep_alive_; }
  bool http10() const noexcept { return http10_; }
  bool head_request() const noexcept { return head_request_; }
  /// The body of the request just completed (Stop::message).
  std::string& body() noexcept { return m_->body; }
  /// Where the listener keeps its decision on the current head.
  Admission& admission() noexcept { return m_->admission; }
  /// Refused at the head: the body is counted and dropped, never kept.
  void discard_body() noexcept { m_->discarding = true; }
  /// Every header field, for custom routes and the resolver.
  void headers(std::vector<Header>& out) const;
  std::size_t buffered() const noexcept { return m_ ? m_->head.capacity() + m_->body.capacity() : 0; }

private:
  friend struct ReaderCallbacks;

  bool skip_empty_lines(std::string_view data, std::size_t& used);
  bool check_head(); // on headers complete; false: error_ set
  void build_view();
  llhttp_errno_t execute(const char* start, std::size_t n, bool in_head);
  void own_head(); // before feed() returns mid-request: copy what the spans point at
  int fail(Error e, std::string_view detail = {});
  std::string_view value(Message::Span s) const noexcept;

  const Settings& settings_;
  HeadListener& listener_;
  ReaderPool* pool_ = nullptr; // the listener's, asked once
  std::unique_ptr<Message> m_; // while a request is read or answered
  Phase phase_ = Phase::fresh;
  Clock::time_point phase_since_{};
  bool pending_cr_ = false; // a CR between requests, waiting for its LF
  bool http10_ = false, head_request_ = false, keep_alive_ = true;
  Error error_ = Error::ok;
  std::string_view detail_;
};

} // namespace topgg::detail
