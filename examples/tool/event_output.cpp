#include "event_output.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "log.hpp"

namespace tool {

void EventOutput::add(const std::string& line, topgg::Ack ack, std::function<void()> then) {
  {
    std::lock_guard lock(m_);
    pending_.append(line).push_back('\n');
    ends_.push_back(pending_.size());
    acks_.push_back(std::move(ack));
    thens_.push_back(std::move(then));
    if (std::exchange(scheduled_, true))
      return; // this turn's job is already posted
  }
  bool posted = false;
  try {
    posted = post_([this] { flush(); });
  } catch (...) {
  }
  if (!posted)
    flush();
}

int EventOutput::write_all(std::string_view bytes, std::size_t& written) {
  written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0}; // a non-blocking stdout: wait as a blocking one would
      ::poll(&p, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

void EventOutput::stop_tool(const std::string& why) {
  if (std::exchange(stopped_, true))
    return;
  log(Level::error, why);
  ::kill(::getpid(), SIGTERM); // the sigwait in serve(): a graceful close
}

void EventOutput::flush() {
  std::lock_guard write_lock(write_m_);
  {
    std::lock_guard lock(m_);
    scheduled_ = false;
    taken_.swap(pending_);
    taken_ends_.swap(ends_);
    acking_.swap(acks_);
    taken_thens_.swap(thens_);
  }
  // The lines whose delivery still waits for them; one answered meanwhile
  // (503 at its deadline, or its connection gone) is left out: it comes again.
  writing_.clear();
  writing_ends_.clear();
  writing_acks_.clear();
  writing_thens_.clear();
  for (std::size_t i = 0, from = 0; i < acking_.size(); from = taken_ends_[i++]) {
    if (acking_[i].done())
      continue;
    writing_.append(taken_, from, taken_ends_[i] - from);
    writing_ends_.push_back(writing_.size());
    writing_acks_.push_back(std::move(acking_[i]));
    writing_thens_.push_back(std::move(taken_thens_[i]));
  }
  taken_.clear();
  taken_ends_.clear();
  acking_.clear();
  taken_thens_.clear();
  if (writing_acks_.empty())
    return;
  std::size_t written = 0;
  const int error = stopped_ ? EPIPE : write_all(writing_, written);
  std::size_t whole = 0; // lines written whole: seen by the reader, so handled
  for (; whole < writing_ends_.size() && writing_ends_[whole] <= written; ++whole)
    if (writing_acks_[whole].ok() && writing_thens_[whole])
      writing_thens_[whole]();
  if (whole < writing_acks_.size()) {
    const std::string why = std::string("stdout: ") + std::strerror(error);
    for (std::size_t i = whole; i < writing_acks_.size(); ++i)
      writing_acks_[i].retry(why);
    if (!stopped_)
      log(Level::error, why + ": " + std::to_string(writing_acks_.size() - whole) +
                            " deliveries answered 503, Top.gg delivers them again");
    const bool mid_line = written > (whole ? writing_ends_[whole - 1] : 0);
    if (error == EPIPE)
      stop_tool("stdout has no reader: closing");
    else if (mid_line)
      stop_tool("stdout: a line was cut short by the failed write: closing, so that no later line is joined to it");
  }
  writing_acks_.clear();
  writing_thens_.clear();
}

} // namespace tool
