// Limits and timeouts: every one has a default and a setting.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "topgg/v1.hpp"

namespace topgg {

/// Limits and timeouts. Exceeding a size limit is answered 413/431 and closes
/// the connection. Durations saturate: milliseconds::max() means "never";
/// negative ones act as zero.
struct Settings {
  std::size_t max_header_bytes = 16 * 1024;  ///< request line + header fields (and, separately, trailer fields)
  std::size_t max_header_count = 100;        ///< header fields (and, separately, trailer fields)
  std::size_t max_body_bytes = 64 * 1024;           ///< body (after de-chunking); Top.gg's are under 2 KiB
  std::uint32_t max_requests_per_connection = 1000; ///< then the connection is closed after its answer
  std::size_t max_pipelined = 16;            ///< answers outstanding before reading stops
  std::size_t max_output_bytes = 256 * 1024; ///< unsent bytes before reading stops
  std::chrono::milliseconds header_timeout{10'000}; ///< first byte → end of headers
  std::chrono::milliseconds body_timeout{10'000};   ///< end of headers → end of body; also a peer's time to read our last answer
  std::chrono::milliseconds idle_timeout{60'000};   ///< keep-alive wait for the next request
  std::chrono::milliseconds ack_timeout{4'000};     ///< handler's acknowledgement (Top.gg waits 5 s)
  std::size_t max_connections = 1024;        ///< enforced by the adapters
  std::chrono::seconds v1_window = v1::default_window; ///< |now − t| allowed for x-topgg-signature

  /// How long a handled delivery is remembered, so that Top.gg's retries of it
  /// are answered without a second event (longer than Top.gg's retry horizon
  /// of about 34 minutes, far shorter than the 12 h between two votes of one
  /// user). Zero turns de-duplication off. A legacy vote is remembered 11 h at
  /// most whatever this says (it has no vote ID, and its voter may vote again
  /// after 12 h); a vote.create 25 h at least (its key holds the vote's time).
  std::chrono::seconds dedup_ttl{3600};
  /// Keys the default in-memory store holds, claimed and done together: when
  /// full, the oldest done key is forgotten first; a delivery still being
  /// handled never is, so when all are, new deliveries are answered 503: keep it
  /// above the most deliveries ever handled at once (Acks outstanding).
  std::size_t dedup_capacity = 16384;
};

} // namespace topgg
