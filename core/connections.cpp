// Integration connections at rest: the interface's defaults, MemoryStore's
// map, and the one-string form the persistent stores keep.
#include <charconv>

#include "memory_connections.hpp"

namespace topgg {

ConnectionStore::~ConnectionStore() = default;

ConnectionStore* IdempotencyStore::connection_store() noexcept { return nullptr; }

ConnectionStore* MemoryStore::connection_store() noexcept { return connections_.get(); }

void MemoryStore::Connections::put(const IntegrationConnection& c) {
  std::lock_guard lock(m);
  by_id.insert_or_assign(c.connection_id, c);
  ++changes;
}

bool MemoryStore::Connections::erase(std::string_view connection_id) {
  std::lock_guard lock(m);
  const bool gone = by_id.erase(std::string(connection_id)) != 0;
  changes += gone;
  return gone;
}

ConnectionSnapshot MemoryStore::Connections::load() {
  std::lock_guard lock(m);
  ConnectionSnapshot s{changes, {}};
  s.connections.reserve(by_id.size());
  for (const auto& [id, c] : by_id)
    s.connections.push_back(c);
  return s;
}

std::uint64_t MemoryStore::Connections::version() {
  std::lock_guard lock(m);
  return changes;
}

namespace detail {
namespace {

// "<length>:<bytes>" per field: any byte may be in a field (a user's name), none needs escaping.
void put_field(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += ':';
  out += v;
}

bool take_field(std::string_view& in, std::string& out) {
  std::size_t n = 0;
  const auto r = std::from_chars(in.data(), in.data() + in.size(), n);
  if (r.ec != std::errc() || r.ptr == in.data() + in.size() || *r.ptr != ':')
    return false;
  in.remove_prefix(static_cast<std::size_t>(r.ptr - in.data()) + 1);
  if (n > in.size())
    return false;
  out.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

constexpr std::string_view format = "c1;"; // the form's version: a later one may add fields

} // namespace

std::string encode_connection(const IntegrationConnection& c) {
  std::string out(format);
  for (std::string_view f :
       {std::string_view(c.webhook_secret), std::string_view(c.project.id), std::string_view(c.project.type),
        std::string_view(c.project.platform), std::string_view(c.project.platform_id), std::string_view(c.user.id),
        std::string_view(c.user.platform_id), std::string_view(c.user.name), std::string_view(c.user.avatar_url)})
    put_field(out, f);
  put_field(out, std::to_string(c.connected_at.time_since_epoch().count()));
  return out;
}

bool decode_connection(std::string_view in, IntegrationConnection& out) {
  if (in.substr(0, format.size()) != format)
    return false;
  in.remove_prefix(format.size());
  IntegrationConnection c;
  c.connection_id = std::move(out.connection_id);
  std::string micros;
  for (std::string* f : {&c.webhook_secret, &c.project.id, &c.project.type, &c.project.platform, &c.project.platform_id,
                         &c.user.id, &c.user.platform_id, &c.user.name, &c.user.avatar_url, &micros})
    if (!take_field(in, *f))
      return false;
  std::int64_t us = 0;
  if (std::from_chars(micros.data(), micros.data() + micros.size(), us).ptr != micros.data() + micros.size())
    return false;
  c.connected_at = v1::Timestamp(std::chrono::microseconds(us));
  out = std::move(c);
  return true; // fields after these (a later form's) are ignored
}

} // namespace detail
} // namespace topgg
