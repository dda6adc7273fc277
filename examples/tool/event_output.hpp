// stdout of `topgg-webhook listen`: each event's JSON line, written before its
// delivery is acknowledged — batched per loop turn (a group commit).
//
// Lines added while the loop handles one turn's reads go out in one write(2)
// when the turn's posted job runs; only then are their Acks completed, so a
// 2xx never leaves before its line was handed to the kernel. A line whose
// delivery was answered meanwhile (503 at its deadline: it comes again) is not
// written, so no event is printed twice. A stdout that is non-blocking and
// full is waited for, as a blocking one would be. A write that fails answers
// the lines not written whole 503 (Top.gg delivers again); one that fails
// mid-line, or a reader that went away (EPIPE), also stops the tool — nothing
// is written after half a line — so whoever supervises the pipeline sees it.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "topgg/ack.hpp"

namespace tool {

class EventOutput {
public:
  /// Runs a job on the loop thread; false when it cannot (then the job runs here).
  using Post = std::function<bool(std::function<void()>)>;

  EventOutput(int fd, Post post) : fd_(fd), post_(std::move(post)) {}
  EventOutput(const EventOutput&) = delete;
  EventOutput& operator=(const EventOutput&) = delete;

  /// Any thread: `line` (no newline) is written with this turn's batch, then
  /// `ack` completed: ok() once written, retry() if the write failed. `then`
  /// runs (on the flushing thread) only if ok() answered the delivery 2xx:
  /// what must follow a handled delivery and never a retried one.
  void add(const std::string& line, topgg::Ack ack, std::function<void()> then = {});
  /// Writes what is waiting now (also what a posted job does).
  void flush();

private:
  int fd_;
  Post post_;
  /// Writes all of `bytes`; 0 or the errno that stopped it, with `written` bytes out.
  int write_all(std::string_view bytes, std::size_t& written);
  void stop_tool(const std::string& why);

  std::mutex m_;
  std::string pending_;           // lines, each ending in '\n'
  std::vector<std::size_t> ends_; // where each line of pending_ ends
  std::vector<topgg::Ack> acks_;  // theirs, in order
  std::vector<std::function<void()>> thens_, taken_thens_, writing_thens_; // theirs, beside the Acks
  bool scheduled_ = false;        // a flush job is posted
  std::mutex write_m_;            // batches reach the descriptor whole and in order
  std::string taken_, writing_;   // the batch taken, and its lines still wanted (capacity reused)
  std::vector<std::size_t> taken_ends_, writing_ends_;
  std::vector<topgg::Ack> acking_, writing_acks_;
  bool stopped_ = false; // a write failed mid-line or the reader went: nothing more is written
};

} // namespace tool
