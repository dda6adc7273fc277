// Fuzz target: the x-topgg-signature parser, topgg::v1::parse_signature, and
// verify(). Input: header value, '\n', secret, '\n', body (missing parts are
// empty). Cross-checks, abort() on mismatch:
// - parsing into a SignatureHeader reused from earlier inputs gives the same
//   result as parsing into a fresh one;
// - a parsed header formatted back ("t=<digits>,v1=<hex>,…", also in upper
//   case with blanks, empty and unknown parameters) parses to the same value;
// - verify() equals parse + window check + signature_matches(), computed here;
// - sign(secret, t, body) verifies at time t and not with another secret.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_util.hpp"
#include "topgg/v1.hpp"

namespace {

using namespace topgg::v1;
using topgg::Error;

[[noreturn]] void fail(const char* what, std::string_view a = {}, std::string_view b = {}) {
  fuzz::fail("fuzz_signature", what, a, b);
}

bool same(const SignatureHeader& a, const SignatureHeader& b) {
  if (a.timestamp != b.timestamp || a.timestamp_digits() != b.timestamp_digits() || a.mac_count != b.mac_count)
    return false;
  for (std::size_t i = 0; i < a.mac_count; ++i)
    if (a.macs[i] != b.macs[i])
      return false;
  return true;
}

std::string format(const SignatureHeader& s, bool noisy) {
  static constexpr char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
  const char* hex = noisy ? upper : lower;
  std::string out = noisy ? " ,\tx-future = 1 , t =\t" : "t=";
  out.append(s.timestamp_digits());
  for (std::size_t i = 0; i < s.mac_count; ++i) {
    out += noisy ? " ,, v1= " : ",v1=";
    for (unsigned char b : s.macs[i]) {
      out.push_back(hex[b >> 4]);
      out.push_back(hex[b & 15]);
    }
  }
  if (noisy)
    out += " ,";
  return out;
}

constexpr std::int64_t max_clock_seconds = 9'000'000'000; // system_clock (ns) holds ±292 years

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl1 = in.find('\n');
  const std::string_view header = in.substr(0, nl1);
  std::string_view rest = nl1 == std::string_view::npos ? std::string_view{} : in.substr(nl1 + 1);
  const std::size_t nl2 = rest.find('\n');
  const std::string secret(rest.substr(0, nl2));
  const std::string_view body = nl2 == std::string_view::npos ? std::string_view{} : rest.substr(nl2 + 1);

  static SignatureHeader reused;
  SignatureHeader sig;
  const Error e = parse_signature(header, sig);
  if (e != Error::ok && e != Error::signature_malformed)
    fail("parse_signature returned an unexpected error", header);
  if (parse_signature(header, reused) != e)
    fail("fresh and reused parses disagree", header);
  if (e == Error::ok) {
    if (!same(sig, reused))
      fail("fresh and reused parses disagree on the value", format(sig, false), format(reused, false));
    if (sig.mac_count == 0 || sig.mac_count > SignatureHeader::max_macs || sig.timestamp < 0 ||
        sig.timestamp_length == 0 || sig.timestamp_length > SignatureHeader::max_timestamp_digits)
      fail("parsed header out of bounds", header);
    for (bool noisy : {false, true}) {
      const std::string text = format(sig, noisy);
      SignatureHeader again;
      if (parse_signature(text, again) != Error::ok)
        fail("formatted header does not parse", text, header);
      if (!same(sig, again))
        fail("formatted header parses to another value", text, format(again, false));
    }
  }

  // verify() against the same steps done here, at a few times and windows.
  const std::string secrets_storage[] = {secret, "other-" + secret};
  for (std::size_t nsecrets : {0, 1, 2}) {
    const std::span<const std::string> secrets(secrets_storage, nsecrets);
    for (std::int64_t window : {-5LL, 0LL, 300LL, 9'000'000'000LL}) {
      for (int when = 0; when < 3; ++when) {
        std::int64_t now_s = 1'700'000'000;
        if (e == Error::ok && sig.timestamp < max_clock_seconds)
          now_s = when == 0 ? sig.timestamp : when == 1 ? sig.timestamp + 300 : sig.timestamp - 301;
        else if (when > 0)
          continue;
        const auto now = std::chrono::system_clock::time_point{} + std::chrono::seconds(now_s);
        const Error got = verify(header, secrets, body, now, std::chrono::seconds(window));
        Error want = Error::signature_malformed;
        if (e == Error::ok) {
          const std::int64_t w = window < 0 ? 0 : window;
          // |now - t| <= w, computed without overflow (t, w >= 0; now_s may be negative).
          const bool inside = now_s >= sig.timestamp ? now_s - sig.timestamp <= w : sig.timestamp - now_s <= w;
          bool match = false;
          for (const auto& s : secrets)
            match = match || signature_matches(sig, s, body);
          want = !inside ? Error::timestamp_out_of_window : match ? Error::ok : Error::signature_mismatch;
        }
        if (got != want)
          fail("verify() disagrees with its steps", header, topgg::describe(got));
      }
    }
  }

  // A header made by sign() verifies, at its own time and with its own secret only.
  const std::int64_t t = e == Error::ok && sig.timestamp < max_clock_seconds ? sig.timestamp : 1'700'000'000;
  const std::string signed_header = sign(secret, t, body);
  SignatureHeader own;
  if (parse_signature(signed_header, own) != Error::ok || own.mac_count != 1 || own.timestamp != t)
    fail("sign() made a header that does not parse", signed_header);
  const auto at_t = std::chrono::system_clock::time_point{} + std::chrono::seconds(t);
  const std::string one[] = {secret};
  const std::string other[] = {secret + "x"};
  const Error mine = verify(signed_header, one, body, at_t);
  if (mine != (secret.empty() ? Error::signature_mismatch : Error::ok))
    fail("sign() output does not verify", signed_header, topgg::describe(mine));
  if (verify(signed_header, other, body, at_t) != Error::signature_mismatch)
    fail("sign() output verifies with another secret", signed_header);
  if (!body.empty() && verify(signed_header, one, body.substr(1), at_t) != Error::signature_mismatch)
    fail("sign() output verifies another body", signed_header);
  return 0;
}
