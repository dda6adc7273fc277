// Where `listen` finds its keys, secrets, token and Redis URL: the
// environment, files, and systemd credentials.
//
// A well-known secret (TOPGG_DBL_AUTH, TOPGG_DSL_AUTH, TOPGG_V1_SECRET,
// TOPGG_TOKEN, TOPGG_REDIS_URL) comes from, in this order: $NAME_FILE (a
// file's path), $NAME, then the systemd credential of its name (dbl-auth,
// dsl-auth, v1-secret, topgg-token, redis-url) in $CREDENTIALS_DIRECTORY
// (LoadCredential=). A route's own source (--dbl ROUTE=VAR, --dbl
// ROUTE=@FILE, --dbl-auth) comes before all of them. A file is read whole,
// one trailing newline dropped; one that cannot be read, or is empty, stops
// the tool at start with one line (exit 2). No secret is ever logged.
#pragma once

#include <string>
#include <vector>

namespace tool {

/// Where one secret came from.
struct SecretSource {
  enum Kind { none, flag, env, file, credential } kind = none;
  std::string name; ///< the variable (env), the file's path (file, credential), the option (flag)
  std::string via;  ///< for a file named by a variable: that variable ("TOPGG_DBL_AUTH_FILE")
  /// File and credential sources can be read again (SIGHUP).
  bool rereadable() const noexcept { return kind == file || kind == credential; }
  /// For lines about it, never its value: "$TOPGG_DBL_AUTH", "/run/keys/dbl
  /// ($TOPGG_DBL_AUTH_FILE)", "the credential dbl-auth", "--dbl-auth".
  std::string describe() const;
};

/// A secret's value and where it came from.
struct FoundSecret {
  std::string value; ///< "" when no source has it
  SecretSource source;
};

/// Reads a secret file: whole, one trailing "\n" (or "\r\n") dropped. False,
/// with `why` ("No such file or directory", "it is empty"), when it cannot.
bool read_secret_file(const std::string& path, std::string& value, std::string& why);

/// The well-known secret `env` ("TOPGG_DBL_AUTH") or its `credential`
/// ("dbl-auth"), by the order above. Exits 2 with one line when the file of
/// the source it picked cannot be read or is empty. Said once at start when
/// $NAME_FILE and $NAME are both set (the file wins).
FoundSecret find_secret(const std::string& env, const std::string& credential);

/// The secret an option names (--votes-key, --discord-webhook): "VAR" is
/// found as a well-known one is ($VAR_FILE, $VAR, then the credential
/// `credential`), "@FILE" is read from FILE. usage_error (exit 2) for a spec
/// that is neither, or a secret no source has (neither says what was given:
/// it may be the secret); config_error for a file that cannot be read. VAR
/// is added to `secret_vars` (kept from --exec's children) whichever source
/// had the value.
FoundSecret option_secret(const std::string& option, const std::string& spec, const std::string& credential,
                          std::vector<std::string>& secret_vars);

/// Reads a file or credential source again (SIGHUP); false with `why` when it
/// cannot (then the value in use is kept).
bool reread_secret(const SecretSource& source, std::string& value, std::string& why);

/// A v1 route's secrets: from a file or credential one per line (blank lines
/// ignored), from a variable or an option separated by commas.
std::vector<std::string> v1_secrets(const std::string& value, const SecretSource& source);

/// Exits 2 with "topgg-webhook: <what>" (a configuration the tool cannot
/// start with, not a usage mistake: no "try --help").
[[noreturn]] void config_error(const std::string& what);

} // namespace tool
