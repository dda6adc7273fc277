#include "topgg/router.hpp"

#include <cstdio>
#include <string>

namespace topgg {

void Router::add_route(RouteKind kind, std::string method, std::string path, std::string key, RouteHandler h) {
  // Reconfiguring a vote route replaces it (dbl_webhook called twice moves it).
  if (kind != RouteKind::custom)
    std::erase_if(routes_, [kind](const Route& r) { return r.kind == kind; });
  routes_.push_back(Route{kind, std::move(method), std::move(path), std::move(key), std::move(h)});
}

const Router::Route* Router::find(std::string_view path, std::string_view method, bool& path_known) const noexcept {
  path_known = false;
  for (const Route& r : routes_) {
    if (r.path != path)
      continue;
    path_known = true;
    if (r.method.empty() || r.method == method)
      return &r;
  }
  return nullptr;
}

void Router::reject(const Rejection& r) const {
  if (on_error_)
    on_error_(r);
}

void Router::warn(std::string_view message) const {
  if (on_warning_)
    on_warning_(message);
  else
    std::fprintf(stderr, "topgg-webhook: warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

void Router::warn_once() {
  if (warned_.exchange(true))
    return;
  for (const Route& r : routes_) {
    if (r.kind == RouteKind::custom)
      continue;
    if (r.auth_key.empty())
      warn("route " + r.path + " has no auth key: every request to it is accepted");
    const bool handled = r.kind == RouteKind::bot_vote ? bool(bot_vote_) : bool(server_vote_);
    if (!handled)
      warn("route " + r.path + " has no vote handler: its votes are answered 200 and dropped");
  }
}

} // namespace topgg
