#include "output.hpp"

#include "bytes.hpp"

namespace topgg::detail {

Output::~Output() { release(); }

std::string& Output::mine() {
  if (!own_)
    own_ = std::make_unique<std::string>();
  return *own_;
}

std::string& Output::buffer(SharedOutput& shared) {
  if (shared_)
    return shared_->bytes;
  if (own_ && sent_ < own_->size())
    return *own_; // bytes of ours wait in our own buffer: the next ones follow them
  if (shared.holder && shared.holder->sent_ < shared.bytes.size())
    return mine();     // another connection's bytes wait in the shared one
  if (shared.holder) { // it has nothing left there: ours now
    shared.holder->shared_ = nullptr;
    shared.holder->sent_ = 0;
  }
  shared.holder = this;
  shared.bytes.clear();
  shared_ = &shared;
  sent_ = 0;
  return shared.bytes;
}

std::string_view Output::pending() const noexcept {
  if (shared_)
    return std::string_view(shared_->bytes).substr(sent_);
  return own_ ? std::string_view(*own_).substr(sent_) : std::string_view{};
}

void Output::consume(std::size_t n) {
  if (!shared_ && !own_)
    return;
  std::string& b = shared_ ? shared_->bytes : *own_;
  sent_ += n;
  if (sent_ < b.size())
    return;
  b.clear();
  sent_ = 0;
  if (b.capacity() > keep_capacity) { // no large buffer kept for a rare large answer
    if (shared_)
      std::string().swap(b);
    else
      own_.reset();
  }
  release();
}

void Output::drop() noexcept {
  if (own_)
    own_->clear();
  sent_ = 0;
  release();
}

void Output::release() noexcept {
  if (!shared_)
    return;
  shared_->bytes.clear();
  shared_->holder = nullptr;
  shared_ = nullptr;
}

} // namespace topgg::detail
