// The tool's command line: options, whole numbers in a range, one-line usage
// errors (exit 2), and the environment variables that hold its secrets.
#pragma once

#include <chrono>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tool {

/// "topgg-webhook: <what> (try --help)" on stderr, exit 2.
[[noreturn]] void usage_error(const std::string& what);

/// The library's exception text without its "topgg: " prefix (the tool
/// prints its own).
std::string library_words(const std::exception& e);

/// What a command's options are.
struct OptionSpec {
  std::vector<std::string> valued;        ///< --name VALUE / --name=VALUE
  std::vector<std::string> flags = {};    ///< --name alone
  std::vector<std::string> repeated = {}; ///< valued options that may be given more than once
};

/// A parsed command line. Refused (usage_error): an unknown option, a missing
/// value, a value that looks like an option (`--auth --query` when the
/// variable meant for --auth expanded to nothing; `--auth=--x` passes one on
/// purpose), a non-repeatable option given twice.
class Options {
public:
  Options(int argc, char** argv, int first, const OptionSpec& spec);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool help() const { return help_; }
  /// The value of a non-repeatable option, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = {}) const;
  /// Every value of an option, in the order given.
  const std::vector<std::string>& all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

  /// `--name`'s value, a whole number from `lo` to `hi` (else usage_error
  /// naming the option and the range: out-of-range values would silently
  /// become LONG_MAX or overflow deadlines computed from them).
  long number(const std::string& name, long fallback, long lo, long hi, const char* unit) const;
  /// `--name`'s value as a duration — "90s", "30m", "12h", "7d" — from `lo` to
  /// `hi` (else usage_error).
  std::chrono::seconds duration(const std::string& name, std::chrono::seconds fallback, std::chrono::seconds lo,
                                std::chrono::seconds hi) const;

private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

std::vector<std::string> split_commas(const std::string& s);

/// A POSIX environment variable name: letters, digits and '_', not starting
/// with a digit.
bool env_name(std::string_view s);

/// $name, or "" when unset.
std::string env_or_empty(const std::string& name);

} // namespace tool
