// The deliveries every benchmark sends: byte for byte what Top.gg sends
// (headers in its order, Authorization without a scheme, JSON body), so the
// micro-benchmarks, the callgrind count and the wrk load test measure the same
// requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "topgg/http.hpp"
#include "topgg/v1.hpp"

namespace topgg_bench {

inline constexpr std::string_view dbl_auth = "bench-dbl-auth-key-0123456789";
inline constexpr std::string_view dsl_auth = "bench-dsl-auth-key-0123456789";
inline constexpr std::string_view v1_secret = "whs_bench0123456789abcdef0123456789abcdef";
inline constexpr std::int64_t v1_timestamp = 1'700'000'000;

inline constexpr std::string_view bot_body =
    R"({"bot":"264811613708746752","user":"160105994217586689","type":"upvote","isWeekend":false,"query":"?ref=home"})";
inline constexpr std::string_view server_body =
    R"({"guild":"803190510032756736","user":"160105994217586689","type":"upvote","query":"?ref=home"})";
inline constexpr std::string_view v1_body =
    R"({"type":"vote.create","data":{"id":"808499215864008704","weight":1,)"
    R"("created_at":"2026-02-09T00:47:14.2510149+00:00","expires_at":"2026-02-09T12:47:14.2510149+00:00",)"
    R"("project":{"id":"803190510032756736","type":"bot","platform":"discord","platform_id":"264811613708746752"},)"
    R"("user":{"id":"903190510032756736","platform_id":"160105994217586689","name":"voter",)"
    R"("avatar_url":"https://cdn.discordapp.com/avatars/160105994217586689/a.png"},"query":{"ref":"home"}}})";

/// `now` for the core: the v1 signature's timestamp, so it is always fresh.
inline topgg::Now bench_now() {
  topgg::Now n;
  n.mono = topgg::Clock::time_point{} + std::chrono::hours(1);
  n.wall = std::chrono::system_clock::time_point{} + std::chrono::seconds(v1_timestamp);
  return n;
}

inline std::string signature_header(std::int64_t t = v1_timestamp) {
  return topgg::v1::sign(v1_secret, t, v1_body);
}

/// Header lines (without Host and Content-Length) of each delivery.
inline std::string legacy_headers(std::string_view auth) {
  return "User-Agent: DBL\r\nContent-Type: application/json\r\nAuthorization: " + std::string(auth) + "\r\n";
}
inline std::string v1_headers(std::int64_t t = v1_timestamp) {
  return "User-Agent: Top.gg Webhooks\r\nContent-Type: application/json\r\nx-topgg-signature: " +
         signature_header(t) + "\r\nx-topgg-trace: 0f8c7bd2-7a6e-4b8e-9b6e-3f1d2c4b5a69\r\n";
}

inline std::string request(std::string_view path, const std::string& headers, std::string_view body) {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}
inline std::string bot_request() { return request("/dbl", legacy_headers(dbl_auth), bot_body); }
inline std::string server_request() { return request("/dsl", legacy_headers(dsl_auth), server_body); }
inline std::string v1_request() { return request("/v1", v1_headers(), v1_body); }

/// The bot vote as a server that parsed HTTP itself (Beast, Drogon) passes it
/// to Router::handle: the same headers and body as bot_request().
inline const topgg::Request& bot_parsed() {
  static const std::string length = std::to_string(bot_body.size());
  static const std::vector<topgg::Header> headers = {{"Host", "127.0.0.1"},
                                                     {"User-Agent", "DBL"},
                                                     {"Content-Type", "application/json"},
                                                     {"Authorization", dbl_auth},
                                                     {"Content-Length", length}};
  static const topgg::Request r{"POST", "/dbl", "/dbl", headers, bot_body};
  return r;
}

/// The bot vote of voter number `i` (a different user, the same length).
inline std::string bot_request_from(long i) {
  std::string body(bot_body);
  const std::string user = std::to_string(160105994217586689LL + i);
  body.replace(body.find("160105994217586689"), user.size(), user);
  return request("/dbl", legacy_headers(dbl_auth), body);
}
/// The signed vote.create of Top.gg user number `i` (its Discord ID another too, the same length).
inline std::string v1_request_from(long i) {
  std::string body(v1_body);
  const std::string user = std::to_string(903190510032756736LL + i);
  body.replace(body.find("903190510032756736"), user.size(), user);
  const std::string discord = std::to_string(160105994217586689LL + i);
  body.replace(body.find("160105994217586689"), discord.size(), discord);
  const std::string headers = "User-Agent: Top.gg Webhooks\r\nContent-Type: application/json\r\nx-topgg-signature: " +
                              topgg::v1::sign(v1_secret, v1_timestamp, body) +
                              "\r\nx-topgg-trace: 0f8c7bd2-7a6e-4b8e-9b6e-3f1d2c4b5a69\r\n";
  return request("/v1", headers, body);
}

} // namespace topgg_bench
