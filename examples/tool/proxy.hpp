// `listen --trust-proxy CIDR[,CIDR]`: behind nginx or Caddy every connection
// comes from the proxy, so a refused request's line would name the proxy.
// From a trusted address the client is read from the request's
// X-Forwarded-For — or, without one, Forwarded (RFC 7239) — walking from the
// right past our own proxies: each proxy appends the address it saw, so the
// first address not of ours is the client; what lies left of it was written
// by the client and is not believed. Used for the log lines and the refusal
// rate limits only, never to decide anything about a request.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log.hpp"

namespace tool {

/// An IPv4 or IPv6 address; IPv4 is kept as IPv4-mapped IPv6 (::ffff:a.b.c.d),
/// so a peer on a "::" listener matches an IPv4 CIDR.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  /// "203.0.113.7", "2001:db8::1", "[2001:db8::1]", with or without ":port";
  /// nullopt for anything else ("unknown", "_hidden", garbage).
  static std::optional<IpAddress> parse(std::string_view text);
  /// "203.0.113.7" or "2001:db8::1".
  std::string to_string() const;
};

class TrustedProxies {
public:
  /// "127.0.0.1/32", "10.0.0.0/8", "::1", "fd00::/8" (no prefix: one address).
  /// False with `why` for anything else.
  bool add(std::string_view cidr, std::string& why);
  bool empty() const noexcept { return nets_.empty(); }
  bool trusts(const IpAddress& a) const noexcept;
  /// The client of a refused request, as the log names it (see above).
  Client client(std::string_view peer, std::string_view forwarded_for, std::string_view forwarded) const;

private:
  struct Net {
    IpAddress base;
    int bits;
  };
  std::vector<Net> nets_;
};

} // namespace tool
