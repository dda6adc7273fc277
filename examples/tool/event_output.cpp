#include "event_output.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "log.hpp"

namespace tool {

void EventOutput::add(const std::string& line, topgg::Ack ack) {
  {
    std::lock_guard lock(m_);
    pending_.append(line).push_back('\n');
    acks_.push_back(std::move(ack));
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

void EventOutput::flush() {
  std::lock_guard write_lock(write_m_);
  {
    std::lock_guard lock(m_);
    scheduled_ = false;
    writing_.swap(pending_);
    acking_.swap(acks_);
  }
  if (writing_.empty())
    return;
  int error = 0;
  for (std::size_t done = 0; done < writing_.size();) {
    const ssize_t n = ::write(fd_, writing_.data() + done, writing_.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      error = errno;
      break;
    }
  }
  writing_.clear();
  if (error == 0) {
    for (topgg::Ack& a : acking_)
      a.ok();
  } else {
    // The lines may be half written: each delivery is answered 503 and comes
    // again, so a vote is never acknowledged unseen.
    const std::string why = std::string("stdout: ") + std::strerror(error);
    for (topgg::Ack& a : acking_)
      a.retry(why);
    log_line(why + ": " + std::to_string(acking_.size()) + " deliveries answered 503, Top.gg delivers them again");
    if (error == EPIPE && !std::exchange(reader_gone_, true)) {
      log_line("stdout has no reader: closing");
      ::kill(::getpid(), SIGTERM); // the sigwait in serve(): a graceful close
    }
  }
  acking_.clear();
}

} // namespace tool
