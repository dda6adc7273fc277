#include "options.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "log.hpp"

namespace tool {

void usage_error(const std::string& what) {
  log_start(Level::error, what + " (try --help)"); // text: "topgg-webhook: <what> (try --help)"
  std::exit(2);
}

std::string library_words(const std::exception& e) {
  std::string_view w = e.what();
  if (w.rfind("topgg: ", 0) == 0)
    w.remove_prefix(7);
  return std::string(w);
}

namespace {
bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}
} // namespace

Options::Options(int argc, char** argv, int first, const OptionSpec& spec) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (listed(spec.flags, name) && !inline_value) {
      values_[name].push_back("1");
      continue;
    }
    if (!listed(spec.valued, name))
      usage_error("unknown option --" + name);
    if (!inline_value) {
      if (i + 1 >= argc)
        usage_error("--" + name + " needs a value");
      value = argv[++i];
      // `--auth "$KEY" --query x` with $KEY empty or unset in this shell
      // would otherwise make "--query" the key, and "x" an argument.
      if (value.rfind("--", 0) == 0)
        usage_error("--" + name + " needs a value, not the option '" + value +
                    "' (an empty variable? to pass a value starting with --, write --" + name + "=VALUE)");
    }
    auto& slot = values_[name];
    if (!slot.empty() && !listed(spec.repeated, name))
      usage_error("--" + name + " given more than once");
    slot.push_back(value);
  }
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

const std::vector<std::string>& Options::all(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = values_.find(name);
  return it == values_.end() ? none : it->second;
}

long Options::number(const std::string& name, long fallback, long lo, long hi, const char* unit) const {
  if (!has(name))
    return fallback;
  const std::string text = get(name);
  const bool digits = !text.empty() && text.size() <= 18 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const long long v = digits ? std::stoll(text) : -1;
  if (!digits || v < lo || v > hi)
    usage_error("--" + name + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                " (" + unit + "), not '" + text + "'");
  return static_cast<long>(v);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

bool env_name(std::string_view s) {
  const auto word = [](char c) { return c == '_' || std::isalnum(static_cast<unsigned char>(c)); };
  return !s.empty() && !std::isdigit(static_cast<unsigned char>(s[0])) && std::all_of(s.begin(), s.end(), word);
}

std::string env_or_empty(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

std::chrono::seconds Options::duration(const std::string& name, std::chrono::seconds fallback, std::chrono::seconds lo,
                                       std::chrono::seconds hi) const {
  if (!has(name))
    return fallback;
  const std::string text = get(name);
  long n = -1;
  if (text.size() >= 2 && text.size() <= 8 &&
      std::all_of(text.begin(), text.end() - 1, [](char c) { return c >= '0' && c <= '9'; }))
    n = std::stol(text.substr(0, text.size() - 1));
  const char unit = text.empty() ? '?' : text.back();
  const long scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  const std::chrono::seconds d(n < 0 || scale == 0 ? -1 : n * scale);
  if (d < lo || d > hi)
    usage_error("--" + name + " takes a duration (90s, 30m, 12h, 7d) from " + std::to_string(lo.count()) + " s to " +
                std::to_string(hi.count()) + " s, not '" + text + "'");
  return d;
}

} // namespace tool
