// Internal to the stores: what the SQLite and Redis stores both use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

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

/// The store object an Impl serves. The store may go first (its destructor
/// runs while the Impl lives on in its thread): then clear() is called, and
/// with() does nothing from then on.
template <class Store> class Owner {
public:
  explicit Owner(Store* s) noexcept : store_(s) {}

  /// f(store) under the lock, if the store is still there.
  template <class F> void with(F&& f) {
    std::lock_guard lock(m_);
    if (store_)
      f(*store_);
  }
  void clear() {
    std::lock_guard lock(m_);
    store_ = nullptr;
  }

private:
  std::mutex m_;
  Store* store_;
};

/// Joins the store's thread, unless this is that thread, which cannot wait for itself: then it is detached.
inline void join_unless_self(std::thread& t) {
  if (t.get_id() == std::this_thread::get_id())
    t.detach();
  else if (t.joinable())
    t.join();
}

} // namespace topgg::detail
