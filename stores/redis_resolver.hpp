// Internal to the Redis store: the host name lookup, off the store's thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace topgg::detail {

/// Looks host names up on its own thread: getaddrinfo blocks, sometimes for
/// seconds, and the store's thread must keep answering claims meanwhile.
class Resolver {
public:
  /// `done` runs on the resolver's thread after each lookup.
  Resolver(std::string host, std::function<void()> done);
  /// Waits for a lookup in progress to end.
  ~Resolver();

  void request();

  /// The addresses of the last finished lookup (numeric, in getaddrinfo's order), or its error;
  /// `no_such_host` when the name does not exist (EAI_NONAME, EAI_NODATA): asking again will not help,
  /// unlike a lookup that failed for now (EAI_AGAIN: no name server answered).
  bool take(std::vector<std::string>& addresses, std::string& error, bool& no_such_host);

private:
  void run();
  void look_up(std::vector<std::string>& found, std::string& error, bool& no_such_host) const;

  const std::string host_;
  const std::function<void()> done_;
  std::mutex m_;
  std::condition_variable cv_;
  bool wanted_ = false, ready_ = false, stop_ = false;
  std::vector<std::string> addresses_;
  std::string error_;
  bool no_such_host_ = false;
  std::thread thread_;
};

/// An IPv4 or IPv6 address, which needs no lookup.
bool numeric_address(const std::string& host);

} // namespace topgg::detail
