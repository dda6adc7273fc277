#include "secrets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include "log.hpp"
#include "options.hpp"

namespace tool {

namespace {
constexpr std::size_t kMostBytes = 64 * 1024; // far beyond any key: a file this large is the wrong file
}

void config_error(const std::string& what) {
  log_start(Level::error, what);
  std::exit(2);
}

std::string SecretSource::describe() const {
  switch (kind) {
  case none: return "nothing";
  case flag: return "--" + name;
  case env: return "$" + name;
  case file: return via.empty() ? name : name + " ($" + via + ")";
  case credential: return "the credential " + name.substr(name.rfind('/') + 1) + " (" + name + ")";
  }
  return name;
}

bool read_secret_file(const std::string& path, std::string& value, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    why = std::strerror(errno);
    return false;
  }
  struct stat st {};
  std::string data;
  bool ok = ::fstat(fd, &st) == 0;
  if (!ok)
    why = std::strerror(errno);
  else if (!S_ISREG(st.st_mode)) // a FIFO or a device could block or never end
    ok = false, why = "not a regular file";
  while (ok) {
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ok = false;
      why = std::strerror(errno);
    } else if (n == 0) {
      break;
    } else if (data.size() + static_cast<std::size_t>(n) > kMostBytes) {
      ok = false;
      why = "larger than 64 KiB: not a key";
    } else {
      data.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (!ok)
    return false;
  if (!data.empty() && data.back() == '\n') {
    data.pop_back();
    if (!data.empty() && data.back() == '\r')
      data.pop_back();
  }
  if (data.empty()) {
    why = "it is empty";
    return false;
  }
  value = std::move(data);
  return true;
}

FoundSecret find_secret(const std::string& env, const std::string& credential) {
  static std::map<std::string, FoundSecret> found; // at start, on the main thread: each said once
  if (auto it = found.find(env); it != found.end())
    return it->second;
  FoundSecret s;
  const std::string file_var = env + "_FILE";
  const char* file = std::getenv(file_var.c_str());
  const char* plain = std::getenv(env.c_str());
  const std::string credentials = env_or_empty("CREDENTIALS_DIRECTORY");
  std::string why;
  if (file && *file) {
    if (plain && *plain)
      log_start(Level::warning, "$" + file_var + " and $" + env + " are both set: the file is used");
    s.source = {SecretSource::file, file, file_var};
    if (!read_secret_file(file, s.value, why))
      config_error("cannot read " + s.source.describe() + ": " + why);
  } else if (plain && *plain) {
    s.source = {SecretSource::env, env, {}};
    s.value = plain;
  } else if (!credentials.empty()) {
    const std::string path = credentials + "/" + credential;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 || errno != ENOENT) { // absent: LoadCredential= did not provide it
      s.source = {SecretSource::credential, path, {}};
      if (!read_secret_file(path, s.value, why))
        config_error("cannot read " + s.source.describe() + ": " + why);
    }
  }
  return found[env] = s;
}

FoundSecret option_secret(const std::string& option, const std::string& spec, const std::string& credential,
                          std::vector<std::string>& secret_vars) {
  FoundSecret s;
  std::string why;
  if (spec.size() > 1 && spec[0] == '@') {
    s.source = {SecretSource::file, spec.substr(1), {}};
    if (!read_secret_file(s.source.name, s.value, why))
      config_error("--" + option + " " + spec + ": cannot read " + s.source.name + ": " + why);
    return s;
  }
  // What was given is never repeated in a line: it may be the secret itself, given by mistake.
  if (!env_name(spec))
    usage_error("--" + option +
                " takes the name of an environment variable holding the secret, or @FILE for a "
                "file holding it: a secret stays off the command line");
  s = find_secret(spec, credential);
  if (s.value.empty())
    usage_error("--" + option + " names a variable that is unset or empty, with no VAR_FILE and no credential " +
                credential + " either");
  secret_vars.push_back(spec); // from $VAR_FILE or the credential, $VAR may still hold it
  return s;
}

bool reread_secret(const SecretSource& source, std::string& value, std::string& why) {
  if (!source.rereadable()) {
    why = "not a file";
    return false;
  }
  return read_secret_file(source.name, value, why);
}

std::vector<std::string> v1_secrets(const std::string& value, const SecretSource& source) {
  if (!source.rereadable())
    return split_commas(value);
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= value.size()) {
    std::size_t end = value.find('\n', at);
    if (end == std::string::npos)
      end = value.size();
    std::string line = value.substr(at, end - at);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) // blank lines separate, they are no secret
      out.push_back(std::move(line));
    at = end + 1;
  }
  return out;
}

} // namespace tool
