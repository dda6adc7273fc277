#include "topgg/v1.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cmath>
#include <limits>

#include "json.hpp"

namespace topgg::v1 {

namespace {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool parse_timestamp(std::string_view v, SignatureHeader& out) noexcept {
  if (v.empty() || v.size() > SignatureHeader::max_timestamp_digits)
    return false;
  std::int64_t t = 0;
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  for (char c : v) {
    if (c < '0' || c > '9')
      return false;
    const int d = c - '0';
    if (t > (max - d) / 10)
      return false;
    t = t * 10 + d;
  }
  out.timestamp = t;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.timestamp_text[i] = v[i];
  out.timestamp_length = v.size();
  return true;
}

bool parse_mac(std::string_view v, std::array<unsigned char, SignatureHeader::mac_size>& out) noexcept {
  if (v.size() != 2 * SignatureHeader::mac_size)
    return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(v[2 * i]);
    const int lo = hex_value(v[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// One HMAC context per thread. The algorithm is fetched once; the key is set
// only when it differs from the last one (one secret is the common case):
// re-keying costs about 6,000 instructions and OpenSSL mallocs, while
// EVP_MAC_init with a null key restarts with the key already set.
class Hmac {
public:
  Hmac() noexcept {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac_)
      ctx_ = EVP_MAC_CTX_new(mac_);
    if (!ctx_)
      return;
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx_, params) != 1) {
      EVP_MAC_CTX_free(ctx_);
      ctx_ = nullptr;
    }
  }
  ~Hmac() {
    OPENSSL_cleanse(keyed_.data(), keyed_.size());
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;

  /// HMAC-SHA256(key, t + "." + body) into `out`; false if libcrypto failed.
  bool compute(std::string_view key, std::string_view t, std::string_view body,
               unsigned char (&out)[SignatureHeader::mac_size]) noexcept {
    if (!ctx_)
      return false;
    // EVP_MAC_init with a null key keeps the previous key: that is wanted
    // only when `key` is that key, so an empty string_view's null data()
    // must never reach it.
    static const unsigned char no_key = 0;
    const bool same = keyed_valid_ && key == keyed_;
    const auto* k = same ? nullptr : key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
    if (EVP_MAC_init(ctx_, k, same ? 0 : key.size(), nullptr) != 1) {
      keyed_valid_ = false;
      return false;
    }
    if (!same) {
      OPENSSL_cleanse(keyed_.data(), keyed_.size());
      keyed_.assign(key);
      keyed_valid_ = true;
    }
    std::size_t len = 0;
    return update(t) && update(".") && update(body) && EVP_MAC_final(ctx_, out, &len, sizeof out) == 1 &&
           len == sizeof out;
  }

private:
  bool update(std::string_view s) noexcept {
    return s.empty() || EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(s.data()), s.size()) == 1;
  }
  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
  std::string keyed_; // the key ctx_ holds, when keyed_valid_
  bool keyed_valid_ = false;
};

Hmac& thread_hmac() noexcept {
  thread_local Hmac h;
  return h;
}

bool in_window(std::int64_t t, std::chrono::system_clock::time_point now, std::chrono::seconds window) noexcept {
  using std::chrono::floor;
  using std::chrono::seconds;
  const std::int64_t w = window.count() < 0 ? 0 : window.count();
  const auto now_floor = floor<seconds>(now);
  const std::int64_t now_s = now_floor.time_since_epoch().count();
  // Not `now == now_floor`: that converts now_floor to now's finer unit,
  // which overflows for times near the representable minimum.
  const bool exact = now.time_since_epoch() % seconds(1) == std::chrono::system_clock::duration::zero();
  // t >= 0 and w >= 0, so t - w cannot overflow; once now_s >= t - w holds,
  // now_s - t lies in [-w, now_s] and cannot overflow either.
  if (now_s < t - w)
    return false;
  const std::int64_t d = now_s - t;
  return d < w || (d == w && exact);
}

} // namespace

Error parse_signature(std::string_view header_value, SignatureHeader& out) noexcept {
  out.timestamp = 0;
  out.timestamp_length = 0;
  out.mac_count = 0;
  bool have_t = false;
  std::size_t params = 0;
  std::string_view rest = header_value;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view param = trim(rest.substr(0, comma));
    if (!param.empty()) {
      if (++params > SignatureHeader::max_params)
        return Error::signature_malformed;
      const std::size_t eq = param.find('=');
      if (eq == std::string_view::npos)
        return Error::signature_malformed;
      const std::string_view key = trim(param.substr(0, eq));
      const std::string_view value = trim(param.substr(eq + 1));
      if (key == "t") {
        if (have_t || !parse_timestamp(value, out))
          return Error::signature_malformed;
        have_t = true;
      } else if (key == "v1") {
        if (out.mac_count == SignatureHeader::max_macs || !parse_mac(value, out.macs[out.mac_count]))
          return Error::signature_malformed;
        ++out.mac_count;
      }
    }
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
  }
  return have_t && out.mac_count > 0 ? Error::ok : Error::signature_malformed;
}

bool signature_matches(const SignatureHeader& sig, std::string_view secret, std::string_view body) noexcept {
  if (secret.empty() || sig.mac_count == 0 || sig.mac_count > SignatureHeader::max_macs)
    return false;
  unsigned char expected[SignatureHeader::mac_size];
  if (!thread_hmac().compute(secret, sig.timestamp_digits(), body, expected))
    return false;
  bool match = false;
  for (std::size_t i = 0; i < sig.mac_count; ++i)
    match |= CRYPTO_memcmp(expected, sig.macs[i].data(), sizeof expected) == 0;
  OPENSSL_cleanse(expected, sizeof expected);
  return match;
}

Error verify(std::string_view header_value, std::span<const std::string> secrets, std::string_view body,
             std::chrono::system_clock::time_point now, std::chrono::seconds window) noexcept {
  SignatureHeader sig;
  if (parse_signature(header_value, sig) != Error::ok)
    return Error::signature_malformed;
  if (!in_window(sig.timestamp, now, window))
    return Error::timestamp_out_of_window;
  bool match = false;
  for (const auto& secret : secrets)
    match |= signature_matches(sig, secret, body);
  return match ? Error::ok : Error::signature_mismatch;
}

std::string sign(std::string_view secret, std::int64_t timestamp, std::string_view body) {
  if (timestamp < 0)
    return {};
  const std::string t = std::to_string(timestamp);
  unsigned char mac[SignatureHeader::mac_size];
  if (!thread_hmac().compute(secret, t, body, mac))
    return {};
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "t=" + t + ",v1=";
  for (unsigned char b : mac) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

namespace {

// Reads exactly `n` digits at `pos`, advancing it.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) noexcept {
  if (s.size() - pos < n)
    return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) noexcept {
  if (pos >= s.size() || s[pos] != c)
    return false;
  ++pos;
  return true;
}

} // namespace

std::optional<Timestamp> parse_rfc3339(std::string_view s) noexcept {
  using namespace std::chrono;
  std::size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, pos, 4, y) || !expect(s, pos, '-') || !read_digits(s, pos, 2, mo) || !expect(s, pos, '-') ||
      !read_digits(s, pos, 2, d))
    return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't'))
    return std::nullopt;
  ++pos;
  if (!read_digits(s, pos, 2, h) || !expect(s, pos, ':') || !read_digits(s, pos, 2, mi) || !expect(s, pos, ':') ||
      !read_digits(s, pos, 2, sec))
    return std::nullopt;
  if (h > 23 || mi > 59 || sec > 59)
    return std::nullopt;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 6)
        micros = micros * 10 + (s[pos] - '0');
    if (n == 0)
      return std::nullopt;
    for (; n < 6; ++n)
      micros *= 10;
  }
  if (pos >= s.size())
    return std::nullopt;
  int offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    const int sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = 0, om = 0;
    if (!read_digits(s, pos, 2, oh) || !expect(s, pos, ':') || !read_digits(s, pos, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!date.ok())
    return std::nullopt;
  // The local time minus its offset is UTC.
  return sys_days{date} + hours{h} + minutes{mi} + seconds{sec} + microseconds{micros} - minutes{offset_minutes};
}

std::string_view to_string(EventType t) noexcept {
  switch (t) {
  case EventType::vote_create: return "vote.create";
  case EventType::webhook_test: return "webhook.test";
  case EventType::integration_create: return "integration.create";
  case EventType::integration_delete: return "integration.delete";
  case EventType::unknown: break;
  }
  return "unknown";
}

namespace {

using simdjson::dom::element;
using simdjson::dom::object;

using detail::Field;
using detail::field;
using detail::payload_error;
using detail::read_string;

bool read_weight(element v, std::int64_t& out) {
  switch (v.type()) {
  case simdjson::dom::element_type::INT64:
    out = v.get_int64().value_unsafe();
    return true;
  case simdjson::dom::element_type::UINT64: // only above INT64_MAX
    return false;
  case simdjson::dom::element_type::DOUBLE: {
    // "a rounded integer value": accept 2.0, refuse 2.5 and out-of-range values.
    const double d = v.get_double().value_unsafe();
    if (!(d >= -9.2e18 && d <= 9.2e18) || std::trunc(d) != d)
      return false;
    out = static_cast<std::int64_t>(d);
    return true;
  }
  default:
    return false;
  }
}

bool read_time(element v, Timestamp& out) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS)
    return false;
  const auto t = parse_rfc3339(s);
  if (!t)
    return false;
  out = *t;
  return true;
}

DecodeStatus read_project(element v, void* target, std::string_view) {
  auto& p = *static_cast<Project*>(target);
  const Field fields[] = {
      field<read_string>("id", p.id, "project.id is not a string", "missing field project.id"),
      field<read_string>("type", p.type, "project.type is not a string", "missing field project.type"),
      field<read_string>("platform", p.platform, "project.platform is not a string", "missing field project.platform"),
      field<read_string>("platform_id", p.platform_id, "project.platform_id is not a string",
                         "missing field project.platform_id"),
  };
  return detail::read_object(v, fields, "project is not an object");
}

DecodeStatus read_user(element v, void* target, std::string_view) {
  auto& u = *static_cast<User*>(target);
  u.avatar_url.clear(); // optional: absent means ""
  const Field fields[] = {
      field<read_string>("id", u.id, "user.id is not a string", "missing field user.id"),
      field<read_string>("platform_id", u.platform_id, "user.platform_id is not a string",
                         "missing field user.platform_id"),
      field<read_string>("name", u.name, "user.name is not a string", "missing field user.name"),
      field<detail::read_string_or_null>("avatar_url", u.avatar_url, "user.avatar_url is not a string or null"),
  };
  return detail::read_object(v, fields, "user is not an object");
}

Field project_field(Project& p) { return {"project", read_project, &p, {}, "missing field project"}; }
Field user_field(User& u) { return {"user", read_user, &u, {}, "missing field user"}; }
Field connection_id_field(std::string& id) {
  return field<read_string>("connection_id", id, "connection_id is not a string", "missing field connection_id");
}

DecodeStatus read_event(EventType type, element data, Event& out) {
  constexpr std::string_view not_object = "data is not an object";
  switch (type) {
  case EventType::vote_create: {
    auto& e = out.vote_create;
    e.trace.clear();
    e.query.clear();
    const Field fields[] = {
        field<read_string>("id", e.id, "id is not a string", "missing field id"),
        field<read_weight>("weight", e.weight, "weight is not an integer", "missing field weight"),
        field<read_time>("created_at", e.created_at, "created_at is not an RFC 3339 date-time",
                         "missing field created_at"),
        field<read_time>("expires_at", e.expires_at, "expires_at is not an RFC 3339 date-time",
                         "missing field expires_at"),
        project_field(e.project),
        user_field(e.user),
        field<detail::read_query_field>("query", e.query, {}),
    };
    return detail::read_object(data, fields, not_object);
  }
  case EventType::webhook_test: {
    auto& e = out.webhook_test;
    e.trace.clear();
    const Field fields[] = {project_field(e.project), user_field(e.user)};
    return detail::read_object(data, fields, not_object);
  }
  case EventType::integration_create: {
    auto& e = out.integration_create;
    e.trace.clear();
    const Field fields[] = {
        connection_id_field(e.connection_id),
        field<read_string>("webhook_secret", e.webhook_secret, "webhook_secret is not a string",
                           "missing field webhook_secret"),
        project_field(e.project),
        user_field(e.user),
    };
    return detail::read_object(data, fields, not_object);
  }
  case EventType::integration_delete: {
    auto& e = out.integration_delete;
    e.trace.clear();
    const Field fields[] = {connection_id_field(e.connection_id)};
    return detail::read_object(data, fields, not_object);
  }
  case EventType::unknown: break;
  }
  return {};
}

bool read_type_name(element v, std::string_view& out) { return v.get_string().get(out) == simdjson::SUCCESS; }
struct Data {
  element value;
  bool present = false;
};
bool keep_data(element v, Data& out) {
  out.value = v;
  out.present = true;
  return true;
}

EventType event_type(std::string_view s) noexcept {
  if (s == "vote.create")
    return EventType::vote_create;
  if (s == "webhook.test")
    return EventType::webhook_test;
  if (s == "integration.create")
    return EventType::integration_create;
  if (s == "integration.delete")
    return EventType::integration_delete;
  return EventType::unknown;
}

} // namespace

DecodeStatus decode_padded(std::string_view body, Event& out) {
  out.type = EventType::unknown;
  element root;
  if (auto st = detail::parse_padded(body, root); !st)
    return st;
  std::string_view type_name;
  Data data;
  const Field fields[] = {
      field<read_type_name>("type", type_name, "type is not a string", "missing field type"),
      field<keep_data>("data", data, {}), // required only for known types: checked below
  };
  if (auto st = detail::read_object(root, fields, "body is not a JSON object"); !st)
    return st;
  const EventType type = event_type(type_name);
  if (type == EventType::unknown)
    return {};
  if (!data.present)
    return payload_error("missing field data");
  if (auto st = read_event(type, data.value, out); !st)
    return st;
  out.type = type;
  return {};
}

DecodeStatus decode(std::string_view body, Event& out) {
  return detail::with_padding(body, [&out](std::string_view b) { return decode_padded(b, out); });
}

} // namespace topgg::v1
