// Internal: serialising answers.
#pragma once

#include <string>

#include "../pipeline.hpp"

namespace topgg::detail {

/// How the request being answered was framed.
struct Framing {
  bool close = false;  ///< "Connection: close", and nothing more is read
  bool http10 = false; ///< an HTTP/1.0 client that keeps the connection gets "Connection: keep-alive"
  bool head = false;   ///< a HEAD request: headers only
};

/// Appends the answer's bytes to `to`. A handler's own headers are filtered:
/// names must be tokens, values free of CR/LF/NUL, and Content-Length,
/// Connection and Transfer-Encoding are ours to set.
void write_answer(std::string& to, const Answer& a, Framing f);

/// "HTTP/1.1 100 Continue\r\n\r\n".
void write_continue(std::string& to);

} // namespace topgg::detail
