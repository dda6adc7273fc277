#include "writer.hpp"

#include <charconv>

namespace topgg::detail {

namespace {

bool is_token(std::string_view s) noexcept {
  if (s.empty())
    return false;
  for (unsigned char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok)
      return false;
  }
  return true;
}

bool safe_header_text(std::string_view s) noexcept {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

void append_number(std::string& to, std::size_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  to.append(buf, r.ptr);
}

} // namespace

void write_continue(std::string& to) { to.append("HTTP/1.1 100 Continue\r\n\r\n"); }

void write_answer(std::string& to, const Answer& a, Framing f) {
  const Response* extra = a.reply;
  if (!extra && a.allow.empty() && !f.close && !f.http10 && !f.head) { // nearly every delivery's answer, canned
    static constexpr std::string_view ok200 =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK";
    static constexpr std::string_view ok204 = "HTTP/1.1 204 No Content\r\n\r\n";
    if (a.status == 200 && a.body == "OK")
      return void(to.append(ok200));
    if (a.status == 204)
      return void(to.append(ok204));
  }
  to.append("HTTP/1.1 ");
  append_number(to, static_cast<std::size_t>(a.status));
  to.push_back(' ');
  to.append(reason_phrase(a.status));
  to.append("\r\n");
  bool typed = false;
  if (extra) {
    for (const auto& [name, value] : extra->headers) {
      if (iequals(name, "content-length") || iequals(name, "connection") || iequals(name, "transfer-encoding") ||
          !is_token(name) || !safe_header_text(value))
        continue; // ours to set; CR/LF would split the response
      typed = typed || iequals(name, "content-type");
      to.append(name).append(": ").append(value).append("\r\n");
    }
  }
  if (!a.allow.empty())
    to.append("Allow: ").append(a.allow).append("\r\n");
  const bool bodyless = a.status == 204 || a.status == 304 || a.status < 200;
  // A HEAD answer never has a body (RFC 9110 §9.3.2) and says nothing of the
  // length a GET would get: the client reads no body bytes, so any would
  // start its next answer.
  const bool body = !bodyless && !f.head;
  if (body) {
    if (!typed && !a.body.empty())
      to.append("Content-Type: text/plain; charset=utf-8\r\n");
    to.append("Content-Length: ");
    append_number(to, a.body.size());
    to.append("\r\n");
  }
  if (f.close)
    to.append("Connection: close\r\n");
  else if (f.http10)
    to.append("Connection: keep-alive\r\n");
  to.append("\r\n");
  if (body)
    to.append(a.body);
}

} // namespace topgg::detail
