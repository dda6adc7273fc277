// A Discord poster's queue (topgg/post_queue.hpp) in the SQLite store's file:
// messages waiting survive a restart, in order. Library topgg-webhook-sqlite.
#pragma once

#include "topgg/export.hpp"

#include <memory>
#include <string>

#include "topgg/post_queue.hpp"

namespace topgg {

/// The table `discord_posts` (a sequence number and the request body) in the
/// file of an SqliteStore, on a connection of its own (WAL mode lets both
/// write the file). One poster per file: two processes posting from one file
/// would post each message twice. Blocking; for the poster's thread.
class TOPGG_API SqlitePostQueue final : public PostQueue {
public:
  /// Opens `path`, which an SqliteStore opened before (it makes the file a
  /// topgg-webhook store; else std::invalid_argument), and holds at most
  /// `capacity` messages. Throws std::runtime_error when the file cannot be
  /// opened or the table made.
  SqlitePostQueue(const std::string& path, std::size_t capacity);
  ~SqlitePostQueue() override;
  SqlitePostQueue(const SqlitePostQueue&) = delete;
  SqlitePostQueue& operator=(const SqlitePostQueue&) = delete;

  bool push(std::string_view body) override;
  std::optional<QueuedPost> front() override;
  void pop(std::uint64_t seq) override;
  std::size_t size() override;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg
