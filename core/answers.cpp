#include "answers.hpp"

namespace topgg::detail {

std::vector<AnswerQueue::Slot>& AnswerQueue::slots() {
  if (!slots_)
    slots_ = std::make_unique<std::vector<Slot>>();
  return *slots_;
}

void AnswerQueue::push(const Answer& a, Framing f, std::string& out) {
  if (empty())
    return write_answer(out, a, f);
  Slot s;
  s.framing = f;
  write_answer(s.bytes, a, f); // the answer's views live only during this call
  slots_->push_back(std::move(s));
}

void AnswerQueue::push(std::shared_ptr<Pending> p, Framing f) {
  Slot s;
  s.pending = std::move(p);
  s.framing = f;
  slots().push_back(std::move(s));
}

std::size_t AnswerQueue::flush(Now now, std::string& out) {
  if (empty())
    return 0;
  std::vector<Slot>& slots = *slots_;
  std::size_t done = 0;
  for (; done < slots.size(); ++done) {
    Slot& s = slots[done];
    if (!s.pending) {
      out.append(s.bytes);
      continue;
    }
    if (!s.pending->advance(now))
      break; // nothing may overtake it
    write_answer(out, s.pending->answer(), s.framing);
  }
  slots.erase(slots.begin(), slots.begin() + static_cast<std::ptrdiff_t>(done));
  return done;
}

std::optional<Clock::time_point> AnswerQueue::deadline() const noexcept {
  std::optional<Clock::time_point> d;
  if (empty())
    return d;
  for (const Slot& s : *slots_)
    if (s.pending && (!d || s.pending->deadline() < *d))
      d = s.pending->deadline();
  return d;
}

void AnswerQueue::close_after_last() noexcept {
  if (!empty() && slots_->back().pending)
    slots_->back().framing.close = true;
}

void AnswerQueue::expire_due(Clock::time_point now) {
  if (empty())
    return;
  for (Slot& s : *slots_)
    if (s.pending && now >= s.pending->deadline())
      s.pending->expire();
}

void AnswerQueue::abandon(Now now) noexcept {
  if (empty())
    return;
  for (Slot& s : *slots_) {
    if (!s.pending)
      continue;
    s.pending->abandon(now);
  }
  slots_->clear();
}

} // namespace topgg::detail
