// v1 events: the type table and the readers of each event's fields.
#include "topgg/v1.hpp"

#include <cmath>

#include "../json.hpp"

namespace topgg::v1 {

namespace {
template <class... E> std::string_view name_of(TypeList<E...>, EventType t) noexcept {
  std::string_view n = "unknown";
  ((t == E::type ? (n = E::name, true) : false) || ...);
  return n;
}
} // namespace

std::string_view to_string(EventType t) noexcept { return name_of(EventTypes{}, t); }

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

constexpr Field project_fields[] = {
    field<&Project::id, read_string>("id", "project.id is not a string", "missing field project.id"),
    field<&Project::type, read_string>("type", "project.type is not a string", "missing field project.type"),
    field<&Project::platform, read_string>("platform", "project.platform is not a string",
                                           "missing field project.platform"),
    field<&Project::platform_id, read_string>("platform_id", "project.platform_id is not a string",
                                              "missing field project.platform_id"),
};

constexpr Field user_fields[] = {
    field<&User::id, read_string>("id", "user.id is not a string", "missing field user.id"),
    field<&User::platform_id, read_string>("platform_id", "user.platform_id is not a string",
                                           "missing field user.platform_id"),
    field<&User::name, read_string>("name", "user.name is not a string", "missing field user.name"),
    field<&User::avatar_url, detail::read_string_or_null>("avatar_url", "user.avatar_url is not a string or null"),
};

DecodeStatus read_project(element v, Project& p) {
  return detail::read_object(v, project_fields, &p, "project is not an object", "project.");
}

DecodeStatus read_user(element v, User& u) {
  u.avatar_url.clear(); // optional: absent means ""
  return detail::read_object(v, user_fields, &u, "user is not an object", "user.");
}

template <class E> constexpr Field project_field() {
  return detail::nested<&E::project, read_project>("project", "missing field project");
}
template <class E> constexpr Field user_field() {
  return detail::nested<&E::user, read_user>("user", "missing field user");
}
template <class E> constexpr Field connection_id_field() {
  return field<&E::connection_id, read_string>("connection_id", "connection_id is not a string",
                                               "missing field connection_id");
}

// One table per event type: the fields of its `data` object.
constexpr std::string_view not_object = "data is not an object";

constexpr Field vote_create_fields[] = {
    field<&VoteCreate::id, read_string>("id", "id is not a string", "missing field id"),
    field<&VoteCreate::weight, read_weight>("weight", "weight is not an integer", "missing field weight"),
    field<&VoteCreate::created_at, read_time>("created_at", "created_at is not an RFC 3339 date-time",
                                              "missing field created_at"),
    field<&VoteCreate::expires_at, read_time>("expires_at", "expires_at is not an RFC 3339 date-time",
                                              "missing field expires_at"),
    project_field<VoteCreate>(),
    user_field<VoteCreate>(),
    field<&VoteCreate::query, detail::read_query_field>("query", {}),
};
constexpr Field webhook_test_fields[] = {project_field<WebhookTest>(), user_field<WebhookTest>()};
constexpr Field integration_create_fields[] = {
    connection_id_field<IntegrationCreate>(),
    field<&IntegrationCreate::webhook_secret, read_string>("webhook_secret", "webhook_secret is not a string",
                                                           "missing field webhook_secret"),
    project_field<IntegrationCreate>(),
    user_field<IntegrationCreate>(),
};
constexpr Field integration_delete_fields[] = {connection_id_field<IntegrationDelete>()};

DecodeStatus read(element data, VoteCreate& e) {
  e.query.clear();
  e.source = Source::webhook;
  return detail::read_object(data, vote_create_fields, &e, not_object);
}

DecodeStatus read(element data, WebhookTest& e) {
  return detail::read_object(data, webhook_test_fields, &e, not_object);
}

DecodeStatus read(element data, IntegrationCreate& e) {
  return detail::read_object(data, integration_create_fields, &e, not_object);
}

DecodeStatus read(element data, IntegrationDelete& e) {
  return detail::read_object(data, integration_delete_fields, &e, not_object);
}

template <class E> DecodeStatus read_member(element data, Event& out) {
  E& e = out.get<E>();
  e.trace.clear();
  if (DecodeStatus st = read(data, e); !st)
    return st;
  out.type = E::type;
  return {};
}

template <class... E> bool known_name(TypeList<E...>, std::string_view name) noexcept {
  return ((name == E::name) || ...);
}

// Finds the type named `name` in EventTypes and reads `data` into its member.
template <class... E>
DecodeStatus read_named(TypeList<E...>, std::string_view name, element data, Event& out, bool& known) {
  DecodeStatus st;
  known = ((name == E::name ? (st = read_member<E>(data, out), true) : false) || ...);
  return st;
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
// {"type": ..., "data": ...}: the type's name and its data, read before either is understood.
struct Envelope {
  std::string_view type_name;
  Data data;
};
constexpr Field envelope_fields[] = {
    field<&Envelope::type_name, read_type_name>("type", "type is not a string", "missing field type"),
    field<&Envelope::data, keep_data>("data", {}), // required only for known types: checked below
};

} // namespace

DecodeStatus decode_padded(std::string_view body, Event& out) {
  out.type = EventType::unknown;
  element root;
  if (auto st = detail::parse_padded(body, root); !st)
    return st;
  Envelope env;
  if (auto st = detail::read_object(root, envelope_fields, &env, "body is not a JSON object"); !st)
    return st;
  if (!env.data.present) // required only for known types
    return known_name(EventTypes{}, env.type_name) ? payload_error("missing field data") : DecodeStatus{};
  bool known = false;
  const DecodeStatus st = read_named(EventTypes{}, env.type_name, env.data.value, out, known);
  if (!st)
    out.type = EventType::unknown;
  return st;
}

DecodeStatus decode(std::string_view body, Event& out) {
  return detail::with_padding(body, [&out](std::string_view b) { return decode_padded(b, out); });
}

} // namespace topgg::v1