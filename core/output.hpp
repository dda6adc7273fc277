// Internal: a connection's bytes to write. Nearly every answer is written at
// once, so its bytes go to one buffer per thread (a Workspace's), lent to the
// connection that has bytes waiting in it; only a connection whose peer is
// slow to read while another one answers gets a buffer of its own. An idle
// connection holds none.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace topgg::detail {

class Output;

/// The thread's buffer, and which connection's bytes it holds.
struct SharedOutput {
  std::string bytes;
  Output* holder = nullptr;
};

class Output {
public:
  Output() = default;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output();

  /// The buffer to append to: the shared one if this connection's bytes are
  /// there, or nobody's are; else a buffer of its own.
  std::string& buffer(SharedOutput& shared);
  /// Bytes not yet written; valid until the next non-const call.
  std::string_view pending() const noexcept;
  /// `n` bytes of pending() were written.
  void consume(std::size_t n);
  /// Gives up on every unsent byte (a peer that does not read).
  void drop() noexcept;

private:
  void release() noexcept; // the shared buffer is ours no more

  std::string& mine(); // a buffer of its own, made when first needed

  SharedOutput* shared_ = nullptr; // set while this connection's bytes are in it
  std::unique_ptr<std::string> own_;
  std::size_t sent_ = 0;
};

} // namespace topgg::detail
