// The baselines: llhttp, simdjson and OpenSSL used bare, the least any server
// built on them does per request. Shared by bench-core and bench-callgrind.
#pragma once

#include <llhttp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace topgg_bench {

inline volatile std::size_t sink; // keeps results alive without Google Benchmark

/// llhttp with no callbacks at all.
inline const llhttp_settings_t& bare_settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    return x;
  }();
  return s;
}

/// Reads every field of a legacy vote as a view; what a minimal decoder does.
template <bool Bot> inline bool read_vote(simdjson::ondemand::parser& parser, const simdjson::padded_string& body) {
  simdjson::ondemand::document doc;
  if (parser.iterate(body).get(doc))
    return false;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj))
    return false;
  std::size_t sum = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key))
      return false;
    auto v = field.value();
    if (key == "isWeekend") {
      bool b = false;
      if (v.get_bool().get(b))
        return false;
      sum += b;
    } else if (key == "query") {
      simdjson::ondemand::json_type t;
      if (v.type().get(t))
        return false;
      if (t == simdjson::ondemand::json_type::object) {
        simdjson::ondemand::object q;
        if (v.get_object().get(q))
          return false;
        for (auto kv : q) {
          std::string_view k, s;
          if (kv.unescaped_key().get(k) || kv.value().get_string().get(s))
            return false;
          sum += k.size() + s.size();
        }
      } else {
        std::string_view s;
        if (v.get_string().get(s))
          return false;
        sum += s.size();
      }
    } else {
      std::string_view s;
      if (v.get_string().get(s))
        return false;
      sum += s.size();
    }
  }
  sink = sum;
  return Bot || sum > 0;
}

/// The same with the DOM API (what the library uses, for its whole-document
/// validation): parse, then read every field as a view.
inline bool read_vote_dom(simdjson::dom::parser& parser, const simdjson::padded_string& body) {
  simdjson::dom::element root;
  if (parser.parse(body).get(root))
    return false;
  simdjson::dom::object obj;
  if (root.get_object().get(obj))
    return false;
  std::size_t sum = 0;
  for (auto field : obj) {
    sum += field.key.size();
    std::string_view s;
    bool b = false;
    simdjson::dom::object q;
    if (!field.value.get_string().get(s))
      sum += s.size();
    else if (!field.value.get_bool().get(b))
      sum += b;
    else if (!field.value.get_object().get(q))
      for (auto kv : q)
        if (!kv.value.get_string().get(s))
          sum += kv.key.size() + s.size();
  }
  sink = sum;
  return sum > 0;
}

/// Reads every value of a JSON document as a view (strings, numbers, booleans;
/// objects and arrays recursively): the least a decoder of a v1 event does.
inline std::size_t walk_dom(simdjson::dom::element e) {
  std::size_t sum = 0;
  simdjson::dom::object obj;
  simdjson::dom::array arr;
  std::string_view s;
  std::int64_t i = 0;
  double d = 0;
  bool b = false;
  if (!e.get_object().get(obj)) {
    for (auto field : obj)
      sum += field.key.size() + walk_dom(field.value);
  } else if (!e.get_array().get(arr)) {
    for (auto v : arr)
      sum += walk_dom(v);
  } else if (!e.get_string().get(s)) {
    sum += s.size();
  } else if (!e.get_int64().get(i)) {
    sum += static_cast<std::size_t>(i);
  } else if (!e.get_double().get(d)) {
    sum += static_cast<std::size_t>(d);
  } else if (!e.get_bool().get(b)) {
    sum += b;
  }
  return sum;
}

/// A v1 body with the DOM API: parse, then read every value as a view.
inline bool read_v1_dom(simdjson::dom::parser& parser, const simdjson::padded_string& body) {
  simdjson::dom::element root;
  if (parser.parse(body).get(root))
    return false;
  sink = walk_dom(root);
  return sink > 0;
}

/// HMAC-SHA256 of "<t>." + body with OpenSSL's EVP_MAC, as the core computes
/// a v1 signature: the key set once, each message restarting the keyed context.
class BareHmac {
public:
  explicit BareHmac(std::string_view key) {
    mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ctx_ = EVP_MAC_CTX_new(mac_);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params);
  }
  ~BareHmac() {
    EVP_MAC_CTX_free(ctx_);
    EVP_MAC_free(mac_);
  }
  BareHmac(const BareHmac&) = delete;
  BareHmac& operator=(const BareHmac&) = delete;
  /// The MAC of `t` "." `body` into `out`; false if OpenSSL failed.
  bool mac(std::string_view t, std::string_view body, unsigned char (&out)[32]) {
    std::size_t len = 0;
    return EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1 && update(t) && update(".") && update(body) &&
           EVP_MAC_final(ctx_, out, &len, sizeof out) == 1 && len == sizeof out;
  }

private:
  bool update(std::string_view s) {
    return EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(s.data()), s.size()) == 1;
  }
  EVP_MAC* mac_ = nullptr;
  EVP_MAC_CTX* ctx_ = nullptr;
};

/// The Authorization check at its barest: the header value against the key,
/// in constant time (OpenSSL's CRYPTO_memcmp, as the core must).
inline bool bare_auth(std::string_view given, std::string_view key) {
  return given.size() == key.size() && CRYPTO_memcmp(given.data(), key.data(), key.size()) == 0;
}

} // namespace topgg_bench
