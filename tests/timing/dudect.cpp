// dudect-style timing check of the two secret comparisons: does the time
// depend on how much of a guess is right? Class A guesses are wrong at the
// first byte, class B at the last; classes are interleaved at random, each
// measurement is one call timed with rdtsc, and Welch's t is computed over
// the raw samples and over samples cropped at several percentiles (as dudect
// does, so a long tail of interrupts cannot hide or fake a difference).
// |t| < 4.5 means no leak was detected at that sample size.
//
// Guess length is not a class here: the comparison's time is by design
// a·key.size() + b·guess.size() (see detail::key_matches), so it changes with
// the attacker's own guess length, linearly and without a kink at the key's
// length, which is what would reveal the key's length.
//
//   timing-check [samples-per-test]   (default 1,000,000)
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "topgg/v1.hpp"

namespace {

struct Welch {
  double n[2] = {0, 0}, mean[2] = {0, 0}, m2[2] = {0, 0};
  void add(int cls, double x) {
    n[cls] += 1;
    const double d = x - mean[cls];
    mean[cls] += d / n[cls];
    m2[cls] += d * (x - mean[cls]);
  }
  double t() const {
    if (n[0] < 2 || n[1] < 2)
      return 0;
    const double v0 = m2[0] / (n[0] - 1), v1 = m2[1] / (n[1] - 1);
    const double se = std::sqrt(v0 / n[0] + v1 / n[1]);
    return se == 0 ? 0 : (mean[0] - mean[1]) / se;
  }
};

/// Runs `samples` measurements of `call(class)` and returns the largest |t|
/// over the uncropped data and the cropped variants. `prepare(class)` runs
/// untimed before each call: it writes the class's input into the one buffer
/// both classes share, so addresses and cache lines are the same for both.
template <class P, class F> double max_t(std::size_t samples, P&& prepare, F&& call, const char* name) {
  std::mt19937_64 rng(12345);
  std::vector<std::uint8_t> cls(samples);
  std::vector<double> cycles(samples);
  for (auto& c : cls)
    c = rng() & 1;
  for (std::size_t i = 0; i < samples; ++i) {
    prepare(cls[i]);
    unsigned aux;
    const std::uint64_t start = __rdtscp(&aux);
    call(cls[i]);
    const std::uint64_t end = __rdtscp(&aux);
    cycles[i] = static_cast<double>(end - start);
  }
  std::vector<double> sorted = cycles;
  std::sort(sorted.begin(), sorted.end());
  const double crops[] = {1.0, 0.99, 0.9, 0.75, 0.5};
  double worst = 0;
  std::printf("%-34s", name);
  for (double p : crops) {
    const double limit = sorted[static_cast<std::size_t>(p * static_cast<double>(samples - 1))];
    Welch w;
    for (std::size_t i = 0; i < samples; ++i)
      if (cycles[i] <= limit)
        w.add(cls[i], cycles[i]);
    const double t = std::fabs(w.t());
    worst = std::max(worst, t);
    std::printf("  p%-3.0f |t|=%6.2f", p * 100, t);
  }
  std::printf("  -> max |t| = %.2f (%s)\n", worst, worst < 4.5 ? "no leak detected" : "LEAK?");
  return worst;
}

volatile bool sink;

} // namespace

int main(int argc, char** argv) {
  const std::size_t samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  std::printf("samples per test: %zu (classes: wrong at byte 0 vs wrong at the last byte)\n", samples);

  const std::string key = "a-top.gg-webhook-authorization-key-0123456789";
  std::string wrong_first = key, wrong_last = key;
  wrong_first.front() ^= 1;
  wrong_last.back() ^= 1;
  const std::string* guesses[2] = {&wrong_first, &wrong_last};
  std::array<char, 256> input{};
  std::size_t input_len = 0;
  auto load = [&](const std::string& s) {
    std::copy(s.begin(), s.end(), input.begin());
    input_len = s.size();
  };
  auto compare = [&](int) { sink = topgg::detail::key_matches({input.data(), input_len}, key); };
  const double t_auth = max_t(
      samples, [&](int c) { load(*guesses[c]); }, compare, "Authorization (key_matches)");

  const std::string secret = "whs_timing_secret", body = R"({"type":"webhook.test","data":{}})";
  const std::string good = topgg::v1::sign(secret, 1'700'000'000, body);
  std::string sig_first = good, sig_last = good;
  const auto hex = sig_first.find("v1=") + 3;
  sig_first[hex] = sig_first[hex] == '0' ? '1' : '0';
  sig_last.back() = sig_last.back() == '0' ? '1' : '0';
  topgg::v1::SignatureHeader parsed[2], current;
  topgg::v1::parse_signature(sig_first, parsed[0]);
  topgg::v1::parse_signature(sig_last, parsed[1]);
  const double t_hmac = max_t(
      samples, [&](int c) { current = parsed[c]; },
      [&](int) { sink = topgg::v1::signature_matches(current, secret, body); }, "v1 signature (HMAC compare)");

  // Control: both classes get the same (wrong-at-last-byte) input. If this
  // shows |t| >= 4.5 the measurement itself is biased (machine noise that
  // correlates with the class sequence), and the other results mean nothing.
  const double t_control = max_t(
      samples, [&](int) { current = parsed[1]; },
      [&](int) { sink = topgg::v1::signature_matches(current, secret, body); }, "control: identical classes (HMAC)");
  if (t_control >= 4.5)
    std::printf("control failed: the machine is too noisy for this measurement; rerun on an idle machine\n");

  const double worst = std::max(t_auth, t_hmac);
  std::printf("worst |t| = %.2f over %zu samples per test: %s\n", worst, samples,
              worst < 4.5 ? "PASS (< 4.5)" : "FAIL (>= 4.5)");
  return worst < 4.5 ? 0 : 1;
}
