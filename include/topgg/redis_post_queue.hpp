// A Discord poster's queue (topgg/post_queue.hpp) in Redis, shared by every
// replica that uses the same Redis and key prefix: messages waiting survive a
// restart of any of them, and each is posted by one replica. Part of the Redis
// library (dependency `topgg-webhook-redis`).
//
// In Redis, under RedisOptions::key_prefix:
//   <prefix>discord-posts  a sorted set: score = seq, member = "<seq>:<body>"
//   <prefix>discord-seq    the last seq given (INCR): grows across restarts, never reused
//   <prefix>discord-lease  the token of the replica whose poster posts now (PX lease_ttl)
//
// Replicas: pushes from every replica go into the one sorted set, in the order
// Redis ran them. Only the holder of the lease is handed messages: front()
// takes the lease when nobody holds it (SET NX PX) or renews its own (a script
// that checks the token), and answers nullopt while another replica holds it.
// A replica that stops releases the lease; one that dies keeps it until
// lease_ttl runs out, then the next replica to ask takes over, in order.
//
// **Posted twice?** A holder that dies (or stalls longer than lease_ttl)
// after Discord accepted a message and before pop() removed it leaves that
// message at the head: the next holder posts it again — at least once at that
// boundary, as after a crash with one process (topgg/discord.hpp). Keep
// lease_ttl well above the poster's request timeout, so that a holder whose
// request is slow does not lose the lease while it waits.
#pragma once

#include "topgg/export.hpp"

#include <chrono>
#include <memory>
#include <string>

#include "topgg/post_queue.hpp"
#include "topgg/redis_store.hpp"

namespace topgg {

/// The queue on its own blocking connection (host, port, db, username,
/// password, key_prefix, connect_timeout and command_timeout of `redis` are
/// used). Connects when first used and again after a lost connection; every
/// call throws std::runtime_error while Redis cannot be reached or answers an
/// error (the poster tries again later). Any thread; calls are serialised.
class TOPGG_API RedisPostQueue final : public PostQueue {
public:
  /// Holds at most `capacity` messages across all replicas. Throws
  /// std::invalid_argument for connection options out of range, capacity 0,
  /// or a lease_ttl under 100 ms. Does not connect.
  RedisPostQueue(RedisOptions redis, std::size_t capacity,
                 std::chrono::milliseconds lease_ttl = std::chrono::milliseconds(60'000));
  /// Releases the lease if this queue holds it (best effort: a Redis that
  /// does not answer lets it run out).
  ~RedisPostQueue() override;
  RedisPostQueue(const RedisPostQueue&) = delete;
  RedisPostQueue& operator=(const RedisPostQueue&) = delete;

  /// One script: false when `capacity` messages are queued, else the next seq.
  bool push(std::string_view body) override;
  /// The oldest message while this queue holds (or just took) the lease;
  /// nullopt when the queue is empty or another replica holds the lease.
  std::optional<QueuedPost> front() override;
  /// Removes message `seq` wherever it is; nothing else.
  void pop(std::uint64_t seq) override;
  /// Messages queued by all replicas.
  std::size_t size() override;
  /// Other replicas push and hold the lease: the poster asks again each second.
  std::chrono::milliseconds poll_interval() const override { return std::chrono::milliseconds(1000); }

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace topgg
