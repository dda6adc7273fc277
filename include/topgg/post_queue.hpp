// The queue of a Discord poster (topgg/discord.hpp): messages waiting to be
// posted, oldest first, each removed only once Discord accepted it. An
// interface with no dependency, so that each store library implements it
// beside its de-duplication keys: MemoryPostQueue here (lost on exit),
// SqlitePostQueue in the SQLite store's file (topgg/sqlite_post_queue.hpp:
// survives restarts), RedisPostQueue in Redis (topgg/redis_post_queue.hpp:
// survives restarts, shared by replicas).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace topgg {

/// One queued message: its place in the queue and what is sent.
struct QueuedPost {
  std::uint64_t seq = 0; ///< increases with every push, across restarts of a persistent queue
  std::string body;      ///< the request body (JSON)
};

/// Messages waiting to be posted, in order. The poster's thread is its only
/// user: calls may block on I/O, and throw std::runtime_error when the store
/// cannot be read or written (the poster tries again later).
class PostQueue {
public:
  virtual ~PostQueue() = default;
  /// Appends `body` after every queued message; false (nothing added) when
  /// the queue already holds its capacity.
  virtual bool push(std::string_view body) = 0;
  /// The oldest message; nullopt when the queue is empty (or, shared, when
  /// another process posts now: see poll_interval()).
  virtual std::optional<QueuedPost> front() = 0;
  /// Removes message `seq` (nothing if it is not queued).
  virtual void pop(std::uint64_t seq) = 0;
  /// How many messages are queued.
  virtual std::size_t size() = 0;
  /// Zero when only this poster fills the queue and front() always answers
  /// for it (the poster then sleeps until its own next push). Positive for a
  /// queue shared by processes (others push; front() answers nullopt while
  /// another holds the right to post): the poster asks front() again after
  /// this long when it got nothing, and asks front() before every attempt.
  virtual std::chrono::milliseconds poll_interval() const { return std::chrono::milliseconds(0); }
};

/// In this process's memory: lost on exit.
class MemoryPostQueue final : public PostQueue {
public:
  /// Holds at most `capacity` messages.
  explicit MemoryPostQueue(std::size_t capacity) : capacity_(capacity) {}
  bool push(std::string_view body) override {
    std::lock_guard lock(m_);
    if (posts_.size() >= capacity_)
      return false;
    posts_.push_back({++last_, std::string(body)});
    return true;
  }
  std::optional<QueuedPost> front() override {
    std::lock_guard lock(m_);
    if (posts_.empty())
      return std::nullopt;
    return posts_.front();
  }
  void pop(std::uint64_t seq) override {
    std::lock_guard lock(m_);
    for (auto it = posts_.begin(); it != posts_.end(); ++it)
      if (it->seq == seq) {
        posts_.erase(it);
        return;
      }
  }
  std::size_t size() override {
    std::lock_guard lock(m_);
    return posts_.size();
  }

private:
  std::mutex m_;
  std::deque<QueuedPost> posts_;
  std::uint64_t last_ = 0;
  std::size_t capacity_;
};

} // namespace topgg
