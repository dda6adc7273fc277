#include "topgg/query.hpp"

namespace topgg {

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
} // namespace

void percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
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

void Query::parse(std::string_view text) {
  clear();
  if (!text.empty() && text.front() == '?')
    text.remove_prefix(1);
  while (!text.empty()) {
    const std::size_t amp = text.find('&');
    const std::string_view part = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (part.empty())
      continue;
    const std::size_t eq = part.find('=');
    Param& p = next();
    percent_decode(part.substr(0, eq), p.key);
    if (eq == std::string_view::npos)
      p.value.clear();
    else
      percent_decode(part.substr(eq + 1), p.value);
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
