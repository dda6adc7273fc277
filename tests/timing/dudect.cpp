// dudect-style timing check of the two secret comparisons: does the time
// depend on how much of a guess is right? Class A guesses are wrong at the
// first byte, class B at the last; each measurement is one call timed with
// the TSC, and Welch's t is computed over the raw samples and over samples
// cropped at several percentiles (as dudect does, so a long tail of
// interrupts cannot hide or fake a difference). |t| < 4.5 means no leak was
// detected at that sample size.
//
// The harness must not itself make the classes differ. An earlier version
// wrote each guess into one shared buffer just before the timed call; the
// function's first loads then hit that still-pending store at a position
// that depended on the class, and on some x86 cores store forwarding made
// class A and B take different times (|t| over 20 for key_matches) although
// the comparison was constant-time. So, as dudect does, every input of a
// batch is prepared in advance in its own cache-line-aligned slot, classes
// interleaved at random, the stores are fenced, and only then is the batch
// timed: nothing is written to a timed input while timing.
//
// Each function also gets a control, timed in alternating batches with it
// under the same machine conditions: the same harness and labels, but both
// classes get inputs of the same kind. A control above the threshold means
// the measurement is biased (by the harness or by noise that follows the
// label sequence), so that function's verdict is "inconclusive".
//
// Guess length is not a class here: the comparison's time is by design
// a·key.size() + b·guess.size() (see detail::key_matches), so it changes with
// the attacker's own guess length, linearly and without a kink at the key's
// length, which is what would reveal the key's length.
//
//   timing-check [samples-per-test [seed]]   (default 1,000,000, random seed)
// Exit status: 0 no leak detected, 1 a leak (function above the threshold,
// its control below), 2 inconclusive (a control above the threshold),
// 3 the harness is broken (a timed input was not a wrong guess).
#include <x86intrin.h>

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "auth.hpp" // declares topgg::detail::key_matches
#include "topgg/v1.hpp"

namespace {

constexpr double threshold = 4.5;
// Large enough that the stores of the preparation have long left the store
// buffer when the first input is timed (the fence guarantees it anyway),
// small enough that a batch stays in L2.
constexpr std::size_t batch_size = 1024;
constexpr double crops[] = {1.0, 0.99, 0.9, 0.75, 0.5};
constexpr std::size_t crop_count = std::size(crops);

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

/// Labels and cycle counts of one test, in measurement order.
struct Series {
  std::vector<std::uint8_t> label;
  std::vector<std::uint64_t> cycles;
};

/// |t| at each crop of `s` (samples at or below the crop's percentile), and the largest.
struct Verdict {
  std::array<double, crop_count> t{};
  double max = 0;
};

Verdict analyse(const Series& s) {
  Verdict v;
  std::vector<std::uint64_t> sorted = s.cycles;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t c = 0; c < crop_count; ++c) {
    const std::uint64_t limit = sorted[static_cast<std::size_t>(crops[c] * static_cast<double>(sorted.size() - 1))];
    Welch w;
    for (std::size_t i = 0; i < s.cycles.size(); ++i)
      if (s.cycles[i] <= limit)
        w.add(s.label[i], static_cast<double>(s.cycles[i]));
    v.t[c] = std::fabs(w.t());
    v.max = std::max(v.max, v.t[c]);
  }
  return v;
}

void print(const char* name, const Verdict& v, const char* verdict) {
  std::printf("%-34s", name);
  for (std::size_t c = 0; c < crop_count; ++c)
    std::printf("  p%-3.0f |t|=%6.2f", crops[c] * 100, v.t[c]);
  std::printf("  -> max |t| = %6.2f  %s\n", v.max, verdict);
}

/// Times `call` on each prepared input. Between the two TSC reads the harness
/// itself writes nothing; label and cycle count are stored after the second
/// read, at a position that does not depend on the class.
template <class Input, class Call>
void time_batch(const std::vector<Input>& in, const std::vector<std::uint8_t>& label, std::size_t n, Call& call,
                Series& out, unsigned& matches) {
  for (std::size_t i = 0; i < n; ++i) {
    const Input& x = in[i];
    // lfence on both sides of each read: the call starts after the first and
    // has retired before the second (rdtsc alone may run out of order).
    _mm_lfence();
    const std::uint64_t start = __rdtsc();
    _mm_lfence();
    const bool r = call(x);
    _mm_lfence();
    const std::uint64_t end = __rdtsc();
    _mm_lfence();
    matches += r;
    out.label.push_back(label[i]);
    out.cycles.push_back(end - start);
  }
}

enum class Outcome { no_leak, leak, inconclusive, broken };

/// Measures `call` on `samples` inputs made by `make(class, slot)` (classes
/// 0 and 1 at random) and its control on as many inputs all made as class 1
/// but labelled at random, in alternating batches; prints one line for each.
template <class Input, class Make, class Call>
Outcome measure(const char* name, std::size_t samples, std::uint64_t seed, Make make, Call call) {
  std::mt19937_64 labels(seed);
  std::vector<Input> real(batch_size), control(batch_size);
  std::vector<std::uint8_t> real_label(batch_size), control_label(batch_size);
  Series r, c;
  r.label.reserve(samples), r.cycles.reserve(samples), c.label.reserve(samples), c.cycles.reserve(samples);
  unsigned matches = 0;
  for (std::size_t done = 0, round = 0; done < samples; ++round) {
    const std::size_t n = std::min(batch_size, samples - done);
    for (std::size_t i = 0; i < n; ++i) {
      real_label[i] = labels() & 1;
      make(real_label[i], real[i]);
      control_label[i] = labels() & 1;
      make(1, control[i]);
    }
    _mm_mfence(); // none of the preparation's stores is still in the store buffer
    // Alternate which test goes first so neither always follows the preparation.
    if (round % 2 == 0) {
      time_batch(real, real_label, n, call, r, matches);
      time_batch(control, control_label, n, call, c, matches);
    } else {
      time_batch(control, control_label, n, call, c, matches);
      time_batch(real, real_label, n, call, r, matches);
    }
    done += n;
  }
  if (matches != 0) {
    std::printf("%s: %u timed guesses matched: the harness is not timing wrong guesses\n", name, matches);
    return Outcome::broken;
  }
  const Verdict vr = analyse(r), vc = analyse(c);
  const bool control_clean = vc.max < threshold;
  const Outcome o = !control_clean ? Outcome::inconclusive : vr.max < threshold ? Outcome::no_leak : Outcome::leak;
  print(name, vr,
        o == Outcome::no_leak ? "no leak detected"
        : o == Outcome::leak  ? "LEAK (control clean)"
                              : "inconclusive (control above threshold)");
  print("  control: both classes alike", vc, control_clean ? "clean" : "BIASED (measurement, not the function)");
  return o;
}

volatile bool sink;

} // namespace

int main(int argc, char** argv) {
  const std::size_t samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 0) : std::random_device{}();
  if (samples < 4) {
    std::fprintf(stderr, "usage: timing-check [samples-per-test (>= 4) [seed]]\n");
    return 64;
  }
  std::printf("samples per test: %zu, batches of %zu prepared in advance, seed %" PRIu64 "\n"
              "classes: wrong at byte 0 vs wrong at the last byte; controls: wrong at the last byte in both\n",
              samples, batch_size, seed);

  // Each input gets a fresh wrong byte (random non-zero XOR), at the first
  // or the last position by class.
  std::mt19937 flips(static_cast<std::mt19937::result_type>(seed ^ 0x9e3779b97f4a7c15u));
  auto flip = [&flips] { return static_cast<unsigned char>(1 + flips() % 255); };

  const std::string key = "a-top.gg-webhook-authorization-key-0123456789";
  struct alignas(64) Guess {
    std::array<char, 64> bytes;
  };
  if (key.size() > sizeof(Guess::bytes) || !topgg::detail::key_matches(key, key)) {
    std::printf("key_matches does not accept the key itself: harness broken\n");
    return 3;
  }
  auto make_guess = [&](int cls, Guess& g) {
    std::copy(key.begin(), key.end(), g.bytes.begin());
    g.bytes[cls ? key.size() - 1 : 0] ^= static_cast<char>(flip());
  };
  auto compare_key = [&](const Guess& g) {
    const bool r = topgg::detail::key_matches({g.bytes.data(), key.size()}, key);
    sink = r;
    return r;
  };
  const Outcome auth = measure<Guess>("Authorization (key_matches)", samples, seed, make_guess, compare_key);

  const std::string secret = "whs_timing_secret", body = R"({"type":"webhook.test","data":{}})";
  struct alignas(64) Mac {
    topgg::v1::SignatureHeader h;
  };
  Mac good;
  if (topgg::v1::parse_signature(topgg::v1::sign(secret, 1'700'000'000, body), good.h) != topgg::Error::ok ||
      !topgg::v1::signature_matches(good.h, secret, body)) {
    std::printf("signature_matches does not accept a good signature: harness broken\n");
    return 3;
  }
  auto make_mac = [&](int cls, Mac& m) {
    m = good;
    m.h.macs[0][cls ? topgg::v1::SignatureHeader::mac_size - 1 : 0] ^= flip();
  };
  auto verify = [&](const Mac& m) {
    const bool r = topgg::v1::signature_matches(m.h, secret, body);
    sink = r;
    return r;
  };
  const Outcome hmac = measure<Mac>("v1 signature (signature_matches)", samples, seed + 1, make_mac, verify);

  const Outcome all[] = {auth, hmac};
  auto any = [&](Outcome o) { return std::find(std::begin(all), std::end(all), o) != std::end(all); };
  if (any(Outcome::broken))
    return 3;
  if (any(Outcome::leak)) {
    std::printf("FAIL: a comparison's time depends on the guess (|t| >= %.1f, control clean)\n", threshold);
    return 1;
  }
  if (any(Outcome::inconclusive)) {
    std::printf("INCONCLUSIVE: a control is above |t| = %.1f, so the measurement itself is biased; rerun on an idle "
                "machine, and if a control stays biased, the harness is at fault\n",
                threshold);
    return 2;
  }
  std::printf("PASS: no leak detected at %zu samples per test (every |t| < %.1f)\n", samples, threshold);
  return 0;
}
