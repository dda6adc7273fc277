// One HTTP/1.1 connection, sans I/O: bytes in, bytes out, events to the
// Router's handlers. Not thread-safe: one thread (the loop's) drives it; only
// Ack completion and the waker may happen on other threads.
#pragma once

#include "topgg/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <llhttp.h>

#include "topgg/http.hpp"
#include "topgg/router.hpp"
#include "topgg/votes.hpp"

namespace topgg {

class TOPGG_API Connection {
public:
  /// `router` must outlive the connection. `now` starts the header timeout.
  Connection(Router& router, Now now);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Feeds bytes read from the socket. All of `bytes` is taken (copied if it
  /// cannot be processed yet); stop reading while want_read() is false.
  void receive(std::string_view bytes, Now now);
  /// The peer shut down its sending side (read returned EOF).
  void receive_eof(Now now);

  /// Bytes to write; valid until the next non-const call. Empty if none.
  std::string_view output() const noexcept { return {out_.data() + out_sent_, out_.size() - out_sent_}; }
  /// `n` bytes of output() were written.
  void consume(std::size_t n) noexcept;

  /// False while answers are outstanding past the limits (back-pressure),
  /// or once the connection is closing.
  bool want_read() const noexcept;
  /// True when nothing more will be written: close the socket once output()
  /// is empty.
  bool finished() const noexcept { return closing_ && slots_.empty(); }

  /// When on_timer() must run next, or nullopt for never.
  std::optional<Clock::time_point> deadline() const noexcept;
  /// Applies timeouts due at `now` (408 / quiet close / 503 for acks).
  void on_timer(Now now);

  /// Called from any thread when an Ack of this connection completes; the
  /// adapter must then call resume() on the loop thread. Never called after
  /// the Connection is destroyed.
  void set_waker(std::function<void()> wake);
  /// Picks up completed acknowledgements and continues with held input.
  void resume(Now now);

  /// Graceful close: no new request is read; requests already received are
  /// answered (acks waited for up to their deadline); then finished().
  void shutdown(Now now);

  std::uint64_t requests_seen() const noexcept { return requests_; }
  /// Heap bytes held for the request being read (its head and body buffers):
  /// at most about twice max_header_bytes + max_body_bytes, whatever the
  /// peer sends. For tests and monitoring.
  std::size_t buffered_input() const noexcept { return head_.capacity() + body_.capacity(); }

private:
  friend struct ParserCallbacks;
  enum class Phase : unsigned char { fresh, idle, head, body };
  struct HeaderSpan {
    std::uint32_t name_off, name_len, value_off, value_len;
  };
  struct Slot {
    std::shared_ptr<detail::AckState> ack; // null once `bytes` is final
    std::string bytes;                     // serialised answer, when final
    Clock::time_point deadline{};
    int success_status = 200;
    bool close_after = false;
    std::string path;
    std::string dedup_key; // v1: remembered once answered with success
  };

  std::size_t process(std::string_view data); // bytes used; stops when blocked or closing
  void complete_request();
  void fail(Error e, std::string_view detail, bool close);
  void answer(int status, std::string_view body, const Response* extra, bool close);
  void serialise(std::string& to, int status, std::string_view body, const Response* extra, bool close) const;
  void flush_slots();
  bool blocked() const noexcept;
  bool check_head();
  bool skip_empty_lines(std::string_view data, std::size_t& used);
  std::string_view header_name(const HeaderSpan& h) const noexcept;
  std::string_view header_value(const HeaderSpan& h) const noexcept;
  std::optional<std::string_view> find_header(std::string_view name) const noexcept; // first value
  std::string_view path() const noexcept;
  template <class Event>
  void deliver(const Event& ev, const VoteHandlers<Event>& h, bool close, int success, const std::string& dedup_key);
  void deliver_v1(const Router::Route& route, bool close);
  Request request_view(); // views into this connection's buffers
  void deliver_custom(const Router::Route& route, bool close);

  Router& router_;
  llhttp_t parser_{};
  Now now_{};

  // Current request. Head bytes (target, then names and values) live in head_.
  std::string head_;
  std::vector<HeaderSpan> headers_;
  std::uint32_t target_len_ = 0;
  std::size_t head_raw_ = 0; // bytes of the current head given to llhttp so far
  bool field_open_ = false;
  bool in_value_ = false;
  bool http10_ = false;
  bool head_request_ = false; // answers carry no body
  std::string_view method_;    // static storage (llhttp's names)
  bool pending_cr_ = false; // a CR between requests, waiting for its LF
  std::string body_;
  const Router::Route* route_ = nullptr;
  Error reject_ = Error::ok; // answered at message end, body discarded
  Error abort_ = Error::ok;  // answered at once, connection closed
  std::size_t discarded_ = 0;
  std::size_t trailer_bytes_ = 0; // trailer names and values: counted, never kept
  std::size_t trailer_count_ = 0;
  bool keep_alive_ = true;

  Phase phase_ = Phase::fresh;
  Clock::time_point phase_since_{};
  std::uint64_t requests_ = 0;
  bool closing_ = false;   // no further request will be read
  bool peer_eof_ = false;

  std::string out_;
  std::size_t out_sent_ = 0;
  std::uint64_t sent_total_ = 0;   // bytes ever consumed: write progress, for the linger timeout
  std::uint64_t linger_sent_ = 0;
  Clock::time_point linger_since_{};
  // Answers not yet final, in request order (+ those behind them). A vector
  // (at most max_pipelined long), not a deque: an empty libstdc++ deque
  // still holds a 512-byte node, for every idle connection.
  std::vector<Slot> slots_;
  std::string held_;            // input received while blocked
  std::size_t held_off_ = 0;
  std::shared_ptr<detail::WakeCell> wake_;

  BotVote bot_vote_;            // reused: decoding into them stops allocating
  ServerVote server_vote_;
  std::vector<Header> header_views_;
  std::string why_; // a synchronous handler's failure text
};

} // namespace topgg
