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

  // Each measurement gets a fresh wrong byte (random non-zero XOR), at the
  // first or the last position by class, written untimed into the one buffer
  // both classes share.
  std::mt19937 flips(777);
  auto flip = [&flips] { return static_cast<char>(1 + flips() % 255); };

  const std::string key = "a-top.gg-webhook-authorization-key-0123456789";
  std::array<char, 256> input{};
  auto load_guess = [&](int c) {
    std::copy(key.begin(), key.end(), input.begin());
    input[c ? key.size() - 1 : 0] ^= flip();
  };
  const double t_auth = max_t(
      samples, load_guess, [&](int) { sink = topgg::detail::key_matches({input.data(), key.size()}, key); },
      "Authorization (key_matches)");

  const std::string secret = "whs_timing_secret", body = R"({"type":"webhook.test","data":{}})";
  topgg::v1::SignatureHeader good, current;
  topgg::v1::parse_signature(topgg::v1::sign(secret, 1'700'000'000, body), good);
  auto load_mac = [&](int c) {
    current = good;
    current.macs[0][c ? topgg::v1::SignatureHeader::mac_size - 1 : 0] ^= static_cast<unsigned char>(flip());
  };
  auto verify = [&](int) { sink = topgg::v1::signature_matches(current, secret, body); };
  const double t_hmac = max_t(samples, load_mac, verify, "v1 signature (HMAC compare)");

  // Control: both classes get inputs of the same kind (wrong at the last
  // byte). If this shows |t| >= 4.5 the measurement itself is biased (noise
  // that correlates with the class sequence) and the results above mean nothing.
  const double t_control = max_t(
      samples, [&](int) { load_mac(1); }, verify, "control: identical classes (HMAC)");
  if (t_control >= 4.5)
    std::printf("control failed: the machine is too noisy for this measurement; rerun on an idle machine\n");

  const double worst = std::max(t_auth, t_hmac);
  std::printf("worst |t| = %.2f over %zu samples per test: %s\n", worst, samples,
              worst < 4.5 ? "PASS (< 4.5)" : "FAIL (>= 4.5)");
  return worst < 4.5 ? 0 : 1;
}
