// Internal: a connection's answers, in request order. An answer that is final
// goes out at once unless one ahead of it still waits (for its Ack or claim).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/writer.hpp"
#include "pipeline.hpp"

namespace topgg::detail {

class AnswerQueue {
public:
  bool empty() const noexcept { return !slots_ || slots_->empty(); }
  std::size_t size() const noexcept { return slots_ ? slots_->size() : 0; }
  /// Final now: appended to `out` if nothing waits ahead of it, else queued.
  void push(const Answer& a, Framing f, std::string& out);
  /// Final later.
  void push(std::shared_ptr<Pending> p, Framing f);
  /// Appends to `out` every answer at the front that became final, in order;
  /// returns how many.
  std::size_t flush(Now now, std::string& out);
  /// The earliest deadline of an answer still waiting.
  std::optional<Clock::time_point> deadline() const noexcept;
  /// The last answer queued, if it still waits, says `Connection: close`
  /// (the connection closes after it).
  void close_after_last() noexcept;
  /// Gives up on waiting answers whose deadline passed (they become 503).
  void expire_due(Clock::time_point now);
  /// The connection goes away: waiting answers are given up now (their Acks
  /// then report false, and their keys are released for Top.gg's retry).
  void abandon(Now now) noexcept;

private:
  struct Slot {
    std::shared_ptr<Pending> pending; // null once final
    std::string bytes;                // the answer, when final
    Framing framing;
  };
  std::vector<Slot>& slots();
  // A vector (at most max_pipelined long), not a deque: an empty libstdc++
  // deque still holds a 512-byte node, for every idle connection. Made when
  // an answer first has to wait: most connections never queue one.
  std::unique_ptr<std::vector<Slot>> slots_;
};

} // namespace topgg::detail
