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

DecodeStatus read_project(element v, void* target, std::string_view) {
  auto& p = *static_cast<Project*>(target);
  const Field fields[] = {
      field<read_string>("id", p.id, "project.id is not a string", "missing field project.id"),
      field<read_string>("type", p.type, "project.type is not a string", "missing field project.type"),
      field<read_string>("platform", p.platform, "project.platform is not a string", "missing field project.platform"),
      field<read_string>("platform_id", p.platform_id, "project.platform_id is not a string",
                         "missing field project.platform_id"),
  };
  return detail::read_object(v, fields, "project is not an object", "project.");
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
  return detail::read_object(v, fields, "user is not an object", "user.");
}

Field project_field(Project& p) { return {"project", read_project, &p, {}, "missing field project"}; }
Field user_field(User& u) { return {"user", read_user, &u, {}, "missing field user"}; }
Field connection_id_field(std::string& id) {
  return field<read_string>("connection_id", id, "connection_id is not a string", "missing field connection_id");
}

// One reader per event type: the fields of its `data` object.
constexpr std::string_view not_object = "data is not an object";

DecodeStatus read(element data, VoteCreate& e) {
  e.query.clear();
  e.source = Source::webhook;
  const Field fields[] = {
      field<read_string>("id", e.id, "id is not a string", "missing field id"),
      field<read_weight>("weight", e.weight, "weight is not an integer", "missing field weight"),
      field<read_time>("created_at", e.created_at, "created_at is not an RFC 3339 date-time", "missing field created_at"),
      field<read_time>("expires_at", e.expires_at, "expires_at is not an RFC 3339 date-time", "missing field expires_at"),
      project_field(e.project),
      user_field(e.user),
      field<detail::read_query_field>("query", e.query, {}),
  };
  return detail::read_object(data, fields, not_object);
}

DecodeStatus read(element data, WebhookTest& e) {
  const Field fields[] = {project_field(e.project), user_field(e.user)};
  return detail::read_object(data, fields, not_object);
}

DecodeStatus read(element data, IntegrationCreate& e) {
  const Field fields[] = {
      connection_id_field(e.connection_id),
      field<read_string>("webhook_secret", e.webhook_secret, "webhook_secret is not a string",
                         "missing field webhook_secret"),
      project_field(e.project),
      user_field(e.user),
  };
  return detail::read_object(data, fields, not_object);
}

DecodeStatus read(element data, IntegrationDelete& e) {
  const Field fields[] = {connection_id_field(e.connection_id)};
  return detail::read_object(data, fields, not_object);
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
  if (!data.present) // required only for known types
    return known_name(EventTypes{}, type_name) ? payload_error("missing field data") : DecodeStatus{};
  bool known = false;
  const DecodeStatus st = read_named(EventTypes{}, type_name, data.value, out, known);
  if (!st)
    out.type = EventType::unknown;
  return st;
}

DecodeStatus decode(std::string_view body, Event& out) {
  return detail::with_padding(body, [&out](std::string_view b) { return decode_padded(b, out); });
}

} // namespace topgg::v1