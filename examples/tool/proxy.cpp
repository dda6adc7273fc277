#include "proxy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace tool {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Splits on `sep`, each part trimmed.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (std::size_t at = 0; at <= s.size();) {
    const std::size_t end = std::min(s.find(sep, at), s.size());
    out.push_back(trim(s.substr(at, end - at)));
    at = end + 1;
  }
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// A hop that names no address ("unknown", an obfuscated "_name"), for a log
/// line: printable ASCII, short.
std::string printable_hop(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64))
    out.push_back(c > 0x20 && c < 0x7F && c != '\\' ? c : '?');
  return out.empty() ? "unknown" : out;
}

/// The `for=` values of a Forwarded header, in order (RFC 7239 §4: elements
/// separated by ',', pairs by ';', values maybe quoted).
std::vector<std::string_view> forwarded_for(std::string_view header) {
  std::vector<std::string_view> out;
  for (std::string_view element : split(header, ','))
    for (std::string_view pair : split(element, ';')) {
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos || !iequal(trim(pair.substr(0, eq)), "for"))
        continue;
      std::string_view v = trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
        v = v.substr(1, v.size() - 2);
      out.push_back(v);
    }
  return out;
}

} // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  text = trim(text);
  std::string host;
  if (!text.empty() && text.front() == '[') { // "[v6]" or "[v6]:port"
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos)
      return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && digits(rest.substr(1))))
      return std::nullopt;
    host = text.substr(1, close - 1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) { // "a.b.c.d:port"
    const std::size_t colon = text.find(':');
    if (!digits(text.substr(colon + 1)))
      return std::nullopt;
    host = text.substr(0, colon);
  } else {
    host = text;
  }
  IpAddress a;
  in_addr v4{};
  in6_addr v6{};
  if (host.find(':') == std::string::npos && inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    a.bytes[10] = a.bytes[11] = 0xFF; // ::ffff:a.b.c.d
    std::memcpy(a.bytes.data() + 12, &v4, 4);
    a.v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1)
    return std::nullopt;
  std::memcpy(a.bytes.data(), &v6, 16);
  a.v4 = IN6_IS_ADDR_V4MAPPED(&v6);
  return a;
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (v4)
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  else
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

bool TrustedProxies::add(std::string_view cidr, std::string& why) {
  const std::size_t slash = cidr.find('/');
  const std::string_view host = cidr.substr(0, slash);
  const auto base = host.find_first_of("[]") == std::string_view::npos &&
                            (host.find(':') == std::string_view::npos || std::count(host.begin(), host.end(), ':') > 1)
                        ? IpAddress::parse(host)
                        : std::nullopt; // a port has no place in a network
  // Built with push_back(): GCC 12 at -O3 warns (-Wrestrict) inside "'" + std::string(…).
  std::string quoted;
  quoted.push_back('\'');
  quoted.append(cidr);
  quoted.push_back('\'');
  if (!base) {
    why = quoted + " is not an address or a network (127.0.0.1/32, 10.0.0.0/8, ::1, fd00::/8)";
    return false;
  }
  const int most = base->v4 ? 32 : 128;
  int bits = most;
  if (slash != std::string_view::npos) {
    const std::string_view n = cidr.substr(slash + 1);
    if (!digits(n) || n.size() > 3 || std::stoi(std::string(n)) > most) {
      why = quoted + ": the prefix length must be 0 to " + std::to_string(most);
      return false;
    }
    bits = std::stoi(std::string(n));
  }
  nets_.push_back({*base, base->v4 ? bits + 96 : bits});
  return true;
}

bool TrustedProxies::trusts(const IpAddress& a) const noexcept {
  for (const Net& n : nets_) {
    const int whole = n.bits / 8, rest = n.bits % 8;
    if (!std::equal(a.bytes.begin(), a.bytes.begin() + whole, n.base.bytes.begin()))
      continue;
    const auto mask = static_cast<std::uint8_t>(0xFF00 >> rest);
    if (rest == 0 || (a.bytes[whole] & mask) == (n.base.bytes[whole] & mask))
      return true;
  }
  return false;
}

Client TrustedProxies::client(std::string_view peer, std::string_view xff, std::string_view fwd) const {
  const auto from = IpAddress::parse(peer);
  Client direct{std::string(peer), {}, from ? from->to_string() : std::string(peer.substr(0, peer.rfind(':')))};
  if (!from || !trusts(*from))
    return direct; // anyone may send the headers: believed only from a proxy of ours
  // X-Forwarded-For first: what nginx and Caddy keep (each appends the address it saw).
  const std::vector<std::string_view> hops = !xff.empty() ? split(xff, ',') : forwarded_for(fwd);
  if (hops.empty() || (hops.size() == 1 && hops[0].empty()))
    return direct; // the proxy's own request (a health check), or a proxy that says nothing
  std::string client;
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    const auto a = IpAddress::parse(*hop);
    if (!a) { // written by a proxy of ours ("unknown", "_hidden"): as far as anyone knows
      client = printable_hop(*hop);
      break;
    }
    client = a->to_string();
    if (!trusts(*a))
      break; // the first address not of ours: the client; what is left of it, it wrote itself
  }
  return {client, std::string(peer), client};
}

} // namespace tool
