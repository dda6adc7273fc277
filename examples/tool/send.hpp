// `topgg-webhook send`: one delivery, as Top.gg would make it.
#pragma once

#include <string>

namespace tool {

struct HttpResult {
  int status = 0; ///< 0 when no answer could be read
  std::string body;
  std::string error; ///< why there is no answer
};

/// POSTs `request_tail` (headers after Host + blank line + body) to an
/// http:// URL's host and port; `path` receives the URL's path.
HttpResult http_post(const std::string& url, const std::string& headers, const std::string& body);

} // namespace tool
