// Top.gg v1 signed webhooks ("webhooks v2"): the x-topgg-signature check and
// the typed events. Pure functions: no sockets, no clock (time is an argument).
#pragma once

#include "topgg/export.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "topgg/error.hpp"
#include "topgg/query.hpp"
#include "topgg/votes.hpp"

namespace topgg::v1 {

/// Top.gg's documentation asks for a 5-minute replay window.
inline constexpr std::chrono::seconds default_window{300};

/// A parsed `x-topgg-signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` value.
/// Fixed capacity, so parsing never allocates.
struct SignatureHeader {
  static constexpr std::size_t max_macs = 16;             ///< more v1= values than this is malformed
  static constexpr std::size_t max_params = 32;           ///< more parameters of any key than this is malformed
  static constexpr std::size_t max_timestamp_digits = 19; ///< INT64_MAX has 19 digits
  static constexpr std::size_t mac_size = 32;             ///< HMAC-SHA256

  std::int64_t timestamp = 0; ///< t=, Unix seconds
  /// t= exactly as sent (leading zeros kept): the signed message is "<these digits>." + body.
  std::array<char, max_timestamp_digits> timestamp_text{};
  std::size_t timestamp_length = 0;                                 ///< digits used in timestamp_text
  std::array<std::array<unsigned char, mac_size>, max_macs> macs{}; ///< each v1=, decoded from hex
  std::size_t mac_count = 0;                                        ///< v1= values used in macs

  /// View of timestamp_text; valid while this object lives and is not re-parsed.
  std::string_view timestamp_digits() const noexcept { return {timestamp_text.data(), timestamp_length}; }
};

/// Parses a header value into `out` (overwritten; untouched fields keep no meaning on failure).
/// Returns Error::ok or Error::signature_malformed. Grammar, decided here:
/// - comma-separated `key=value` parameters; spaces and tabs around parameters, keys and values are
///   ignored; empty parameters (",,", trailing ',') are skipped; a parameter without '=' is malformed;
/// - keys are case-sensitive; keys other than `t` and `v1` are ignored (future schemes), but count
///   towards max_params;
/// - exactly one `t`: 1 to 19 decimal digits, no sign, value at most INT64_MAX;
/// - one or more `v1` (secret rotation), at most max_macs: exactly 64 hex digits each. Hex is
///   decoded case-insensitively (Top.gg sends lower case; decoding upper case is unambiguous and the
///   comparison is over the 32 decoded bytes, so accepting it weakens nothing).
TOPGG_API Error parse_signature(std::string_view header_value, SignatureHeader& out) noexcept;

/// True if HMAC-SHA256(key = `secret`'s bytes as given, message = "<t>." + `body`) equals any of
/// `sig`'s MACs. Every MAC is compared with CRYPTO_memcmp, with no early exit. An empty secret
/// never matches, so a forgotten configuration fails closed. Reads `body` only during the call.
/// Thread-safe: each thread keeps its own libcrypto HMAC context.
TOPGG_API bool signature_matches(const SignatureHeader& sig, std::string_view secret, std::string_view body) noexcept;

/// Full check of one delivery, in this order, before any JSON is read:
/// 1. parse `header_value`                       → Error::signature_malformed;
/// 2. |now − t| <= window (inclusive, at the full precision of `now`; a negative window acts as 0)
///                                               → Error::timestamp_out_of_window. Checked before
///    the HMAC because t is public and both answers are 403: a stale replay costs no hashing;
/// 3. any of `secrets` matches (signature_matches) → Error::ok, else Error::signature_mismatch
///    (also when `secrets` is empty).
TOPGG_API Error verify(std::string_view header_value, std::span<const std::string> secrets, std::string_view body,
                       std::chrono::system_clock::time_point now,
                       std::chrono::seconds window = default_window) noexcept;

/// verify() with the header already parsed by parse_signature(): steps 2 and 3.
TOPGG_API Error verify(const SignatureHeader& sig, std::span<const std::string> secrets, std::string_view body,
                       std::chrono::system_clock::time_point now,
                       std::chrono::seconds window = default_window) noexcept;

/// The header value Top.gg would send: "t=<timestamp>,v1=<lowercase hex>". For tests and the CLI;
/// returns "" if libcrypto fails (never in practice) or `timestamp` is negative.
TOPGG_API std::string sign(std::string_view secret, std::int64_t timestamp, std::string_view body);

using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

/// Parses an RFC 3339 date-time: "YYYY-MM-DD" 'T'|'t' "hh:mm:ss" ['.' 1+ digits] ('Z'|'z'|±hh:mm).
/// Fraction digits beyond microseconds are truncated (Top.gg sends seven). Refuses impossible
/// dates and times (month 13, Feb 29 in a common year, hour 24, offset hour > 23) and the leap
/// second :60, which std::chrono cannot represent and Top.gg's clocks never produce.
TOPGG_API std::optional<Timestamp> parse_rfc3339(std::string_view text) noexcept;

/// data.project
struct Project {
  std::string id;          ///< Top.gg project ID
  std::string type;        ///< "bot", "server", …
  std::string platform;    ///< "discord", …
  std::string platform_id; ///< e.g. the Discord bot or guild ID (decimal text)
  bool operator==(const Project&) const = default; ///< equal in every field
};

/// data.user
struct User {
  std::string id;          ///< Top.gg user ID
  std::string platform_id; ///< e.g. the Discord user ID
  std::string name;        ///< Top.gg user name
  std::string avatar_url;  ///< "" when absent or null (tolerated: purely cosmetic)
  bool operator==(const User&) const = default; ///< equal in every field
};

/// Which v1 event a delivery carries (its "type").
enum class EventType : unsigned char { vote_create, webhook_test, integration_create, integration_delete, unknown };

/// Where a vote.create came from.
enum class Source : unsigned char {
  webhook,  ///< delivered by Top.gg to the v1 route
  catch_up, ///< fetched afterwards from the vote history API: `id`, user name and avatar are unknown (empty)
};

/// "vote.create": a user voted for the project; handled by on_vote_create(). Handlers get a
/// reference valid during their call only: copy it (a plain value) to hand it to another thread.
struct VoteCreate {
  static constexpr EventType type = EventType::vote_create; ///< this struct's EventType
  static constexpr std::string_view name = "vote.create";   ///< the JSON "type"
  std::string id;                  ///< empty for caught-up votes (the history API has no vote ID)
  std::int64_t weight = 0;         ///< how many votes this one counts for
  Timestamp created_at{};          ///< when the vote was cast
  Timestamp expires_at{};          ///< when the user may vote again
  Project project;                 ///< what was voted for
  User user;                       ///< who voted; user.platform_id is the Discord ID
  Query query;                     ///< optional `query` (object or string); empty when absent
  std::string trace;               ///< x-topgg-trace of the delivery; set by Event::set_trace, not by decode
  Source source = Source::webhook; ///< delivered, or fetched by catch-up
  std::string route;               ///< the v1 route (path) that received it, or that catch-up delivered it through
  /// The integration connection it came through (the rest of the path under a v1 route ending in "/*",
  /// e.g. "c1" of "/integrations/c1"; see topgg/integrations.hpp); "" on a project's own route.
  std::string connection_id;
};

/// "webhook.test": sent from the project's dashboard; handled by on_webhook_test().
struct WebhookTest {
  static constexpr EventType type = EventType::webhook_test; ///< this struct's EventType
  static constexpr std::string_view name = "webhook.test";   ///< the JSON "type"
  Project project;                                           ///< the project tested
  User user;                                                 ///< who pressed the button
  std::string trace;                                         ///< x-topgg-trace of the delivery
  std::string route;                                         ///< the v1 route (path) that received it
  std::string connection_id; ///< the integration connection it came through, as VoteCreate::connection_id
};

/// "integration.create": a user connected an integration; the reply may carry a JSON body
/// (complete the Ack with ok(Response)). Handled by on_integration_create().
struct IntegrationCreate {
  static constexpr EventType type = EventType::integration_create; ///< this struct's EventType
  static constexpr std::string_view name = "integration.create";   ///< the JSON "type"
  std::string connection_id;  ///< names the connection in the later integration.delete
  std::string webhook_secret; ///< signs this connection's future deliveries: store it, never log it
  Project project;            ///< the project connected
  User user;                  ///< who connected it
  std::string trace;          ///< x-topgg-trace of the delivery
  std::string route;          ///< the v1 route (path) that received it
};

/// "integration.delete": a user disconnected an integration; handled by on_integration_delete().
struct IntegrationDelete {
  static constexpr EventType type = EventType::integration_delete; ///< this struct's EventType
  static constexpr std::string_view name = "integration.delete";   ///< the JSON "type"
  std::string connection_id;                                       ///< as in its integration.create
  std::string trace;                                               ///< x-topgg-trace of the delivery
  std::string route;                                               ///< the v1 route (path) that received it
};

/// A list of types, for tables built at compile time.
template <class... T> struct TypeList {};

/// Every v1 event type, in EventType order. Adding one: its struct above (with
/// `type` and `name`), an EventType value, an entry here, and its reader in
/// core/v1/events.cpp; handlers, dispatch and de-duplication follow from these.
using EventTypes = TypeList<VoteCreate, WebhookTest, IntegrationCreate, IntegrationDelete>;

/// "vote.create", "webhook.test", …, or "unknown"; static storage.
TOPGG_API std::string_view to_string(EventType t) noexcept;

} // namespace topgg::v1

namespace topgg::detail {
template <class L> struct TupleOf;
template <class... T> struct TupleOf<v1::TypeList<T...>> { using type = std::tuple<T...>; };
} // namespace topgg::detail

namespace topgg::v1 {

/// One member per event type, reused from delivery to delivery so that decoding stops allocating
/// once the strings have grown. Only the member named by `type` is meaningful after a decode;
/// the others keep stale values (and their storage).
struct Event {
  EventType type = EventType::unknown;              ///< the member that holds the event
  topgg::detail::TupleOf<EventTypes>::type members; ///< one of each type of EventTypes

  /// The member of type E (meaningful when `type == E::type`).
  template <class E> E& get() noexcept { return std::get<E>(members); }
  /// The member of type E (meaningful when `type == E::type`).
  template <class E> const E& get() const noexcept { return std::get<E>(members); }

  /// Calls f(member) with the member named by `type`; nothing for unknown.
  template <class F> void visit(F&& f) {
    std::apply([&](auto&... m) { ((type == std::remove_reference_t<decltype(m)>::type ? f(m) : void()), ...); },
               members);
  }
  /// Calls f(member) with the member named by `type`; nothing for unknown.
  template <class F> void visit(F&& f) const {
    std::apply([&](const auto&... m) { ((type == std::remove_cvref_t<decltype(m)>::type ? f(m) : void()), ...); },
               members);
  }

  /// Stores `trace` in the member named by `type` (nothing for unknown).
  void set_trace(std::string_view trace) {
    visit([trace](auto& m) { m.trace.assign(trace); });
  }
  /// Stores the connection a delivery came through ("" for none) in vote.create and webhook.test
  /// (integration events carry their own connection_id, from the payload).
  void set_connection(std::string_view id) {
    if (type == EventType::vote_create)
      get<VoteCreate>().connection_id.assign(id);
    else if (type == EventType::webhook_test)
      get<WebhookTest>().connection_id.assign(id);
  }
  /// Stores the receiving `route` in the member named by `type` (nothing for unknown).
  void set_route(std::string_view route) {
    visit([route](auto& m) {
      if (m.route != route) // mostly the same route as the member's last delivery
        m.route.assign(route);
    });
  }
};

/// Decodes `{"type": "...", "data": {...}}` into `out`. `body` must be followed by
/// simdjson::SIMDJSON_PADDING readable bytes (see detail::reserve_padding); it is read only during
/// the call. Returns Error::invalid_json (not one JSON document) or Error::invalid_payload (wrong
/// shape: missing required field, wrong JSON type, repeated known key, bad date) with a detail
/// as DecodeStatus::detail says. An unrecognised "type" is not an error: ok with out.type == EventType::unknown and
/// `data` unread. IDs must be JSON strings (kept as text); unknown fields are ignored; the trace
/// of the decoded member is cleared. On failure out.type is EventType::unknown.
TOPGG_API DecodeStatus decode_padded(std::string_view body, Event& out);

/// decode_padded() after copying `body` into a thread-local padded buffer.
TOPGG_API DecodeStatus decode(std::string_view body, Event& out);

} // namespace topgg::v1
