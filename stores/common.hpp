// Internal to the stores: what the SQLite and Redis stores both use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace topgg::detail {

/// A blocking mark call (load_mark, save_mark) waiting for the store's thread.
/// The first finish() answers it; a later one is ignored.
struct MarkCall {
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::optional<std::int64_t> micros;
  std::string error;

  void finish(std::optional<std::int64_t> v, std::string err) {
    std::lock_guard lock(m);
    if (finished)
      return;
    micros = v;
    error = std::move(err);
    finished = true;
    cv.notify_all();
  }
};

/// 128 random bits in hex: tells this store object's claims from those of
/// another process (or another store object) sharing the keys.
inline std::string random_token() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

} // namespace topgg::detail
