#include "topgg/query.hpp"

#include <array>

#include "bytes.hpp"

namespace topgg {

using detail::hex_value;

void percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  std::size_t plain = 0; // most parameters need no decoding: copied whole
  while (plain < in.size() && in[plain] != '%' && !(in[plain] == '+' && plus_is_space))
    ++plain;
  out.assign(in.data(), plain);
  for (std::size_t i = plain; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(c == '+' && plus_is_space ? ' ' : c);
  }
}

Query::Param& Query::next() {
  if (size_ == params_.size())
    params_.emplace_back();
  return params_[size_++];
}

void Query::add(std::string_view key, std::string_view value) {
  Param& p = next();
  p.key.assign(key);
  p.value.assign(value);
}

namespace {
// What a query string's bytes mean to parse(): most are plain.
enum : unsigned char { plain, amp, equals, escape };
constexpr auto query_bytes = [] {
  std::array<unsigned char, 256> t{};
  t['&'] = amp;
  t['='] = equals;
  t['%'] = t['+'] = escape;
  return t;
}();

void assign(std::string_view in, std::string& out, bool escaped) {
  if (escaped)
    percent_decode(in, out);
  else
    out.assign(in);
}
} // namespace

void Query::parse(std::string_view text) {
  clear();
  if (!text.empty() && text.front() == '?')
    text.remove_prefix(1);
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = pos, eq = std::string_view::npos;
    bool escaped = false; // one pass finds the part's end, its '=' and whether it needs decoding
    for (; end < text.size(); ++end) {
      const unsigned char k = query_bytes[static_cast<unsigned char>(text[end])];
      if (k == plain)
        continue;
      if (k == amp)
        break;
      if (k == equals && eq == std::string_view::npos)
        eq = end;
      escaped |= k == escape;
    }
    if (end > pos) { // empty parts ("a=1&&b=2") are skipped
      Param& p = next(); // spare entries are reused: this grows once per thread, not per request
      const std::size_t key_end = eq == std::string_view::npos ? end : eq;
      assign(text.substr(pos, key_end - pos), p.key, escaped);
      assign(eq == std::string_view::npos ? std::string_view{} : text.substr(eq + 1, end - eq - 1), p.value, escaped);
    }
    pos = end + 1;
  }
}

std::optional<std::string_view> Query::get(std::string_view key) const noexcept {
  for (const Param& p : *this)
    if (p.key == key)
      return std::string_view(p.value);
  return std::nullopt;
}

namespace {
void encode_part(std::string_view in, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}
} // namespace

std::string Query::encode() const {
  std::string out;
  for (std::size_t i = 0; i < size_; ++i) {
    if (i)
      out.push_back('&');
    encode_part(params_[i].key, out);
    out.push_back('=');
    encode_part(params_[i].value, out);
  }
  return out;
}

Query::Query(const Query& other) : params_(other.begin(), other.end()), size_(other.size_) {}

Query& Query::operator=(const Query& other) {
  if (this != &other) {
    clear();
    for (const Param& p : other)
      add(p.key, p.value);
  }
  return *this;
}

bool operator==(const Query& a, const Query& b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].value != b[i].value)
      return false;
  return true;
}

} // namespace topgg
