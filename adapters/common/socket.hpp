// Internal to the adapters: the POSIX socket calls both of them make, once.
// Every descriptor is close-on-exec and non-blocking from birth; writes never
// raise SIGPIPE; a host name is resolved.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "topgg/driver.hpp"

namespace topgg::sock {

struct Listener {
  int fd = -1;
  std::uint16_t port = 0;
  std::string address; ///< what was bound, printable: "0.0.0.0:8080", "[::1]:8080"
  bool adopted = false; ///< the caller's descriptor (adopt()): left open if starting fails
};

/// Resolves `host` (a numeric address or a name such as "localhost"), then
/// binds and listens on the first address that works. Throws
/// std::system_error whose what() names host and port ("cannot listen on
/// localhost:8080: Address already in use").
Listener listen(const std::string& host, std::uint16_t port, int backlog = 511);

/// Takes over `fd`, a listening TCP socket (ManagerBase::run_on): checked,
/// made non-blocking and close-on-exec. Throws std::invalid_argument (not a
/// listening TCP stream socket) or std::system_error, leaving `fd` as it was.
Listener adopt(int fd);

/// One pending connection, or -1 with errno (EAGAIN when none, EMFILE, …).
/// `peer` receives the client's address ("203.0.113.7:51234").
int accept(int listener, std::string& peer);

/// Whether accept()'s errno means "out of descriptors or memory": the
/// pending connection stays queued, so accepting again at once would spin.
bool out_of_resources(int err) noexcept;

IoResult read(int fd, std::span<char> into) noexcept;
IoResult write(int fd, std::string_view out) noexcept;

void close(int fd) noexcept;

/// "a.b.c.d:port" or "[v6]:port".
std::string format(const void* sockaddr_ptr);

} // namespace topgg::sock
