// Where and why a body simdjson refused stops being JSON, in the library's
// own words ("invalid literal (true, false or null expected) at byte 34
// ('n')"): the refused body is walked again by a small grammar checker, so
// that no simdjson message reaches a user.
#include <algorithm>
#include <bitset>
#include <cstddef>
#include <optional>

#include "bytes.hpp"
#include "json.hpp"

namespace topgg::detail {

namespace {

// Where and why a body simdjson refused is not JSON (RFC 8259). It runs on
// refused bodies only, so it is written for plain words rather than speed.
struct Fault {
  const char* what = nullptr; ///< nullptr: nothing found
  std::size_t at = 0;
};

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629), 0 if none.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = b(0);
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return b(k) >= lo && b(k) <= hi; };
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF; // no overlongs, no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF; // U+10000 to U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/// The \uXXXX escape at s[i], or -1.
long unicode_escape(std::string_view s, std::size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u')
    return -1;
  long v = 0;
  for (std::size_t k = 2; k < 6; ++k) {
    const int h = hex_value(s[i + k]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

/// The string at s[i] == '"'; on success `i` is past its closing quote.
Fault scan_string(std::string_view s, std::size_t& i) {
  const std::size_t start = i++;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      ++i;
      return {};
    }
    if (c < 0x20)
      return {"control character in a string (it must be escaped)", i};
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0)
        return {"invalid UTF-8", i};
      i += n;
      continue;
    }
    if (c != '\\') {
      ++i;
      continue;
    }
    if (i + 1 >= s.size())
      break;
    const char e = s[i + 1];
    if (e != 'u') {
      if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos)
        return {"invalid escape in a string", i};
      i += 2;
      continue;
    }
    const long u = unicode_escape(s, i);
    if (u < 0)
      return {"invalid \\u escape in a string (four hex digits expected)", i};
    if (u >= 0xDC00 && u <= 0xDFFF)
      return {"unpaired UTF-16 surrogate in a \\u escape", i};
    if (u >= 0xD800 && u <= 0xDBFF) {
      const long low = unicode_escape(s, i + 6);
      if (low < 0xDC00 || low > 0xDFFF)
        return {"unpaired UTF-16 surrogate in a \\u escape", i};
      i += 6;
    }
    i += 6;
  }
  return {"string not closed before the end of the body", start};
}

/// The number at s[i] ('-' or a digit); on success `i` is past it.
Fault scan_number(std::string_view s, std::size_t& i) {
  const auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  const auto digits = [&] {
    if (!digit(i))
      return false;
    while (digit(i))
      ++i;
    return true;
  };
  constexpr const char* bad = "invalid number";
  if (s[i] == '-')
    ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
    if (digit(i))
      return {"invalid number (no leading zeros)", i};
  } else if (!digits()) {
    return {bad, i};
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits())
      return {bad, i};
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (!digits())
      return {bad, i};
  }
  return {};
}

/// Walks `s` as the JSON grammar wants it, one token at a time, until the
/// first place it is not one JSON value. No allocation: the containers it is
/// in are a bit per level (set: object), as deep as simdjson goes.
class FaultScanner {
public:
  explicit FaultScanner(std::string_view s) : s_(s) {}

  Fault run() {
    for (;;) {
      skip_space();
      if (i_ >= s_.size())
        return depth_ == 0 && want_ != Want::value ? Fault{} : Fault{"unexpected end of the body", i_};
      std::optional<Fault> done;
      switch (want_) {
      case Want::key_or_close:
      case Want::key: done = key(); break;
      case Want::colon: done = colon(); break;
      case Want::comma_or_close: done = comma_or_close(); break;
      case Want::value_or_close:
      case Want::value: done = value(); break;
      }
      if (done)
        return *done;
    }
  }

private:
  enum class Want { value, value_or_close, key, key_or_close, colon, comma_or_close };

  void skip_space() {
    while (i_ < s_.size() && json_space(s_[i_]))
      ++i_;
  }
  char c() const { return s_[i_]; }
  bool in_object() const { return object_[depth_ - 1]; }

  // Each step returns a fault, or the end of the value, or nullopt to go on.
  std::optional<Fault> key() {
    if (c() == '}' && want_ == Want::key_or_close)
      return close();
    if (c() != '"')
      return Fault{"an object key (a string) expected", i_};
    if (Fault f = scan_string(s_, i_); f.what)
      return f;
    want_ = Want::colon;
    return std::nullopt;
  }
  std::optional<Fault> colon() {
    if (c() != ':')
      return Fault{"':' expected after an object key", i_};
    ++i_;
    want_ = Want::value;
    return std::nullopt;
  }
  std::optional<Fault> comma_or_close() {
    if (c() == ',') {
      ++i_;
      want_ = in_object() ? Want::key : Want::value;
      return std::nullopt;
    }
    if (c() != (in_object() ? '}' : ']'))
      return Fault{in_object() ? "',' or '}' expected" : "',' or ']' expected", i_};
    return close();
  }
  std::optional<Fault> value() {
    if (c() == ']' && want_ == Want::value_or_close)
      return close();
    if (c() == '{' || c() == '[') {
      if (depth_ == object_.size())
        return Fault{"nested too deeply", i_};
      object_[depth_++] = c() == '{';
      want_ = c() == '{' ? Want::key_or_close : Want::value_or_close;
      ++i_;
      return std::nullopt;
    }
    if (Fault f = scalar(); f.what)
      return f;
    return after_value();
  }
  Fault scalar() {
    if (c() == '"')
      return scan_string(s_, i_);
    if (c() == '-' || (c() >= '0' && c() <= '9'))
      return scan_number(s_, i_);
    if (c() == 't' || c() == 'f' || c() == 'n') {
      const std::string_view word = c() == 't' ? "true" : c() == 'f' ? "false" : "null";
      if (s_.substr(i_, word.size()) != word)
        return {"invalid literal (true, false or null expected)", i_};
      i_ += word.size();
      return {};
    }
    return {"unexpected character", i_};
  }
  // A closing '}' or ']' that matches the innermost container.
  std::optional<Fault> close() {
    --depth_;
    ++i_;
    return after_value();
  }
  // A value is complete: at the top level only space may follow.
  std::optional<Fault> after_value() {
    if (depth_ > 0) {
      want_ = Want::comma_or_close;
      return std::nullopt;
    }
    skip_space();
    return i_ < s_.size() ? Fault{"more data after the JSON value", i_} : Fault{};
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::bitset<simdjson::DEFAULT_MAX_DEPTH> object_;
  std::size_t depth_ = 0;
  Want want_ = Want::value;
};

/// The first place `s` is not one JSON value, if any.
Fault locate_fault(std::string_view s) { return FaultScanner(s).run(); }

/// What simdjson's code means when locate_fault() found nothing (a limit of
/// the parser rather than of the grammar).
const char* without_place(simdjson::error_code e) {
  switch (e) {
  case simdjson::EMPTY: return "body is not valid JSON: it is empty";
  case simdjson::DEPTH_ERROR: return "body is not valid JSON: nested too deeply";
  case simdjson::NUMBER_ERROR:
  case simdjson::NUMBER_OUT_OF_RANGE: return "body is not valid JSON: a number is out of range";
  case simdjson::UTF8_ERROR: return "body is not valid JSON: invalid UTF-8";
  case simdjson::CAPACITY:
  case simdjson::MEMALLOC: return "body is too large to decode";
  default: return "body is not valid JSON";
  }
}

} // namespace

std::string_view describe_json_error(std::string_view body, simdjson::error_code e) {
  if (std::all_of(body.begin(), body.end(), json_space))
    return without_place(simdjson::EMPTY);
  const Fault f = locate_fault(body);
  if (!f.what)
    return without_place(e);
  if (f.at >= body.size())
    return detail_text("body is not valid JSON: %s at byte %zu", f.what, f.at);
  const auto c = static_cast<unsigned char>(body[f.at]);
  // The byte itself helps ("'n'"), but only as printable ASCII: never a raw
  // control or non-ASCII byte into a log line or an answer.
  if (c > 0x20 && c < 0x7F && c != '\'' && c != '\\')
    return detail_text("body is not valid JSON: %s at byte %zu ('%c')", f.what, f.at, c);
  return detail_text("body is not valid JSON: %s at byte %zu (0x%02X)", f.what, f.at, c);
}

} // namespace topgg::detail
