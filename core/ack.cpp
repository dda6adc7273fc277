#include "topgg/ack.hpp"

#include "ack_state.hpp"

namespace topgg {

bool Ack::ok() const { return state_ && state_->cell->complete(detail::AckCell::ok); }
bool Ack::ok(Response reply) const { return state_ && state_->cell->complete(detail::AckCell::ok, std::move(reply)); }
bool Ack::retry(std::string_view reason) const {
  return state_ && state_->cell->complete(detail::AckCell::retry, std::nullopt, reason);
}
bool Ack::done() const noexcept { return !state_ || state_->cell->result() != detail::AckCell::pending; }
Clock::time_point Ack::deadline() const noexcept { return state_ ? state_->cell->deadline : Clock::time_point::max(); }

} // namespace topgg
