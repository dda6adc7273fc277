#include "topgg/http.hpp"


namespace topgg {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y)
      return false;
  }
  return true;
}

std::string_view path_of(std::string_view target) noexcept {
  std::size_t end = 0;
  while (end < target.size() && target[end] != '?' && target[end] != '#')
    ++end;
  target = target.substr(0, end);
  if (target.empty() || target.front() == '/')
    return target;
  const auto scheme = target.find("://");
  if (scheme == std::string_view::npos)
    return target; // asterisk-form or garbage: matches no route
  const auto slash = target.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
}

std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
  for (const Header& h : headers)
    if (iequals(h.name, name))
      return h.value;
  return std::nullopt;
}

} // namespace topgg
