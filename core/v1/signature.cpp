// x-topgg-signature: parsing, HMAC-SHA256 with OpenSSL, the replay window.
#include "topgg/v1.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <limits>

#include "bytes.hpp"

namespace topgg::v1 {

namespace {

using detail::hex_value;

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
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

// Hex digit values; 0x100 marks a byte that is not one.
constexpr auto hex_table = [] {
  std::array<std::uint16_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = hex_value(static_cast<char>(c)) < 0 ? 0x100 : static_cast<std::uint16_t>(hex_value(static_cast<char>(c)));
  return t;
}();

bool parse_mac(std::string_view v, std::array<unsigned char, SignatureHeader::mac_size>& out) noexcept {
  if (v.size() != 2 * SignatureHeader::mac_size)
    return false;
  unsigned bad = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const unsigned hi = hex_table[static_cast<unsigned char>(v[2 * i])];
    const unsigned lo = hex_table[static_cast<unsigned char>(v[2 * i + 1])];
    bad |= hi | lo;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return bad < 0x100;
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
  // Two 16-byte halves: CRYPTO_memcmp is a few instructions for 16 bytes and
  // a byte loop otherwise. Both halves always compared, every MAC tried.
  static_assert(sizeof expected == 32);
  bool match = false;
  for (std::size_t i = 0; i < sig.mac_count; ++i)
    match |= (CRYPTO_memcmp(expected, sig.macs[i].data(), 16) |
              CRYPTO_memcmp(expected + 16, sig.macs[i].data() + 16, 16)) == 0;
  OPENSSL_cleanse(expected, sizeof expected);
  return match;
}

Error verify(std::string_view header_value, std::span<const std::string> secrets, std::string_view body,
             std::chrono::system_clock::time_point now, std::chrono::seconds window) noexcept {
  SignatureHeader sig;
  if (parse_signature(header_value, sig) != Error::ok)
    return Error::signature_malformed;
  return verify(sig, secrets, body, now, window);
}

Error verify(const SignatureHeader& sig, std::span<const std::string> secrets, std::string_view body,
             std::chrono::system_clock::time_point now, std::chrono::seconds window) noexcept {
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

} // namespace topgg::v1
