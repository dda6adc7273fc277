// Request-smuggling and malformed-HTTP conformance, over loopback, through a
// real adapter: compiled once with TOPGG_TEST_UV and once with
// TOPGG_TEST_ASIO, the same cases for both.
//
// Every malformed or ambiguous request is sent on a fresh connection in ONE
// write together with a valid follow-up (a GET of a counting route and a bot
// vote with the right key). The server must answer the malformed request with
// the exact status given, then close the connection, and must not process
// the follow-up: a front-end proxy that framed the bytes differently would
// otherwise see its next client's request answered by ours (or ours by its),
// which is what every desync attack needs. One answer, then EOF/reset; the
// handler counters and the vote recorder prove nothing else ran.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client.hpp"
#include "topgg/topgg.hpp"

#include "adapter.hpp"

using namespace std::string_literals;
using it::Client;

namespace {

[[maybe_unused]] const bool ignore_sigpipe = [] {
  ::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// The server under test: /count (any method) and /followup (GET) count their
// calls; /dbl takes bot votes; every rejection's detail is kept for messages.
struct Server {
  std::atomic<int> inner{0};    // calls of /count: the malformed requests' own target
  std::atomic<int> followup{0}; // calls of /followup: only the follow-up uses it
  it::Recorder votes;
  std::mutex m;
  std::string last_rejection;
  std::unique_ptr<Manager> mgr;

  explicit Server(topgg::Settings s = {}) {
    s.dedup_ttl = std::chrono::seconds(0); // every case sends the same vote: framing is tested here, not de-duplication
    mgr = std::make_unique<Manager>();
    mgr->dbl_webhook("/dbl", it::bot_key)
        .route("", "/count",
               [this](const topgg::Request&) {
                 ++inner;
                 topgg::Response r;
                 r.body = "counted";
                 return r;
               })
        .route("GET", "/followup",
               [this](const topgg::Request&) {
                 ++followup;
                 topgg::Response r;
                 r.body = "followed";
                 return r;
               })
        .on_bot_vote([this](const topgg::BotVote& v) { votes.add("bot " + v.user.to_string()); })
        .on_error([this](const topgg::Rejection& r) {
          std::lock_guard lock(m);
          last_rejection = std::to_string(r.status) + " " + std::string(r.detail);
        })
        .on_warning([](std::string_view) {})
        .settings(s);
    mgr->run(0, "127.0.0.1");
  }
  std::string rejection() {
    std::lock_guard lock(m);
    return last_rejection.empty() ? "none" : last_rejection;
  }
  void forget_rejection() {
    std::lock_guard lock(m);
    last_rejection.clear();
  }
};

const std::string H = "Host: localhost\r\n";
// The follow-up: valid, and observable if it were ever processed.
const std::string follow_up = "GET /followup HTTP/1.1\r\n" + H + "\r\n" + it::bot_vote(999);

struct Case {
  const char* name;
  std::string bytes;
  int status;    // exact answer expected
  int inner = 0; // calls of /count the malformed request itself may make (Upgrade: the request is answered)
};

std::string req(std::string_view head_lines, std::string_view body = {}, std::string_view start = "POST /count HTTP/1.1") {
  return std::string(start) + "\r\n" + std::string(head_lines) + "\r\n" + std::string(body);
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&v](const char* name, std::string bytes, int status, int inner = 0) {
    v.push_back({name, std::move(bytes), status, inner});
  };

  // ---- framing: Content-Length and Transfer-Encoding ----------------------
  // CL.TE: a front-end framing by CL forwards "0\r\n\r\nX", a back-end framing
  // by TE stops at the last chunk and "X" prefixes the next client's request.
  add("CL and TE chunked", req(H + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nX"), 400);
  // TE.CL: the reverse order of the same pair; refusing either way leaves no winner to pick.
  add("TE chunked then CL", req(H + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // Two different lengths: one hop takes the first, another the last.
  add("two different CLs", req(H + "Content-Length: 5\r\nContent-Length: 0\r\n", "hello"), 400);
  // Identical duplicates: RFC 9110 §8.6 allows folding them, but llhttp
  // refuses every duplicate; refusing is the safe side (no hop can disagree).
  add("same CL twice", req(H + "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400);
  // A list value "5, 5": same ambiguity as duplicates, in one field line.
  add("CL list 5, 5", req(H + "Content-Length: 5, 5\r\n", "hello"), 400);
  // "+5": strtol-style parsers read 5, strict ones reject: framing would differ.
  add("CL +5", req(H + "Content-Length: +5\r\n", "hello"), 400);
  // Negative: a parser reading it as 0 (or as a huge unsigned) frames differently.
  add("CL -1", req(H + "Content-Length: -1\r\n", "hello"), 400);
  // Overflow: wraps to a small number in a parser that does not check.
  add("CL overflowing", req(H + "Content-Length: 99999999999999999999\r\n", "hello"), 400);
  // "1 0": read as 1, 10 or 0 depending on the parser.
  add("CL with inner space", req(H + "Content-Length: 1 0\r\n", "helloworld"), 400);
  // Hex "0x5": read as 0 by decimal parsers that stop at 'x', 5 by others.
  add("CL hex", req(H + "Content-Length: 0x5\r\n", "hello"), 400);
  // Empty value: 0 for some, an error for others.
  add("CL empty", req(H + "Content-Length: \r\n", "hello"), 400);
  // Trailing comma: "5," is a list with an empty member.
  add("CL 5 comma", req(H + "Content-Length: 5,\r\n", "hello"), 400);
  // A NUL in the value: C-string parsers stop at it and read "5".
  add("CL with NUL", req(H + "Content-Length: 5\0"s + "0\r\n", "hello"), 400);
  // Space before the colon (RFC 9112 §5.1 MUST 400): a lenient hop takes it
  // as Content-Length, a strict one as an unknown field.
  add("CL space before colon", req(H + "Content-Length : 5\r\n", "hello"), 400);
  // A length over max_body_bytes (64 KiB): refused before any body is read,
  // and closed, since the unread body would otherwise be parsed as requests.
  add("CL over the body limit", req(H + "Content-Length: 1048576\r\n", "hello", "POST /dbl HTTP/1.1"), 413);
  // "chunked, gzip": chunked is not the final coding, so the length cannot be
  // determined (RFC 9112 §6.3: MUST 400 and close).
  add("TE chunked, gzip", req(H + "Transfer-Encoding: chunked, gzip\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // "identity" (removed from HTTP/1.1): some hops read it as "no coding, use CL".
  add("TE identity", req(H + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello"), 400);
  // "identity" alone, no CL: read-until-close framing is impossible for a request.
  add("TE identity alone", req(H + "Transfer-Encoding: identity\r\n", "hello"), 400);
  // Chunked applied twice (RFC 9112 §7 forbids it): a hop decoding once and one
  // decoding twice see different bodies and different ends.
  add("TE chunked, chunked", req(H + "Transfer-Encoding: chunked, chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  add("TE chunked in two fields", req(H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // TE.TE obfuscation: chunked then an unknown coding in a second field; one
  // hop honours the first field, another the list as a whole.
  add("TE chunked then TE cow", req(H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\nContent-Length: 5\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // "xchunked": substring matchers see "chunked".
  add("TE xchunked", req(H + "Transfer-Encoding: xchunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // "chunked x": prefix matchers see "chunked".
  add("TE chunked with trailing junk", req(H + "Transfer-Encoding: chunked x\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // Vertical tab is not OWS: trimmers that strip isspace() see "chunked".
  add("TE vertical tab chunked", req(H + "Transfer-Encoding: \vchunked\r\n", "5\r\nhello\r\n0\r\n\r\n"), 400);
  // Field name with a space before the colon: chunked to some hops, an
  // unknown field (so CL framing) to others.
  add("TE space before colon with CL", req(H + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n"), 400);
  // TE on HTTP/1.0 (RFC 9112 §6.1: framing MUST be treated as faulty): 1.0
  // hops do not know chunked and frame by CL or by close.
  // HTTP/1.0 has no chunked coding: a 1.0 hop would take the chunks for the
  // next request (RFC 9112 §6.1: faulty framing, close).
  add("TE chunked on HTTP/1.0", req(H + "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n", "5\r\nhello\r\n0\r\n\r\n", "POST /count HTTP/1.0"), 400);

  // ---- chunked body syntax -------------------------------------------------
  // Each: a hop that tolerates the bad syntax ends the body elsewhere than one
  // that does not; the rest of the stream is then framed differently.
  add("chunk size not hex", req(H + "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk size overflowing", req(H + "Transfer-Encoding: chunked\r\n", "fffffffffffffffff5\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk size negative", req(H + "Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk size 0x prefix", req(H + "Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk size empty", req(H + "Transfer-Encoding: chunked\r\n", "\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk ext control char", req(H + "Transfer-Encoding: chunked\r\n", "5;a\x01=b\r\nhello\r\n0\r\n\r\n"), 400);
  add("chunk ext unterminated quote", req(H + "Transfer-Encoding: chunked\r\n", "5;a=\"b\r\nhello\r\n0\r\n\r\n"), 400);
  // A bare LF ending a chunk extension: the CRLF vs LF disagreement is the
  // known "chunk extension" smuggling (hops that end the line at LF only).
  add("chunk ext ended by bare LF", req(H + "Transfer-Encoding: chunked\r\n", "5;a=b\nhello\r\n0\r\n\r\n"), 400);
  add("chunk size line bare LF", req(H + "Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"), 400);
  // Chunk data longer than its size: no CRLF where one must be.
  add("chunk data missing CRLF", req(H + "Transfer-Encoding: chunked\r\n", "5\r\nhelloXX\r\n0\r\n\r\n"), 400);
  add("chunk data ended by bare LF", req(H + "Transfer-Encoding: chunked\r\n", "5\r\nhello\n0\r\n\r\n"), 400);
  add("last chunk bare LFs", req(H + "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\n\n"), 400);
  add("trailer with control char", req(H + "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX\x01: y\r\n\r\n"), 400);

  // ---- line endings and field syntax --------------------------------------
  // Bare LF / bare CR: one hop ends a line where another does not, so a field
  // is hidden from one of them (or a request line swallowed).
  add("request line bare LF", "POST /count HTTP/1.1\n" + H + "Content-Length: 0\r\n\r\n", 400);
  add("header line bare LF", req("Host: localhost\nContent-Length: 0\r\n"), 400);
  add("end of head bare LF", "POST /count HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\n", 400);
  add("request line bare CR", "POST /count HTTP/1.1\r" + H + "Content-Length: 0\r\n\r\n", 400);
  add("header line bare CR", req("Host: localhost\rContent-Length: 5\r\n", "hello"), 400);
  // obs-fold (RFC 9112 §5.2: reject or unfold): "Transfer-Encoding: gzip\r\n chunked"
  // is chunked to an unfolding hop and gzip to one that drops the line.
  add("obs-fold", req(H + "Transfer-Encoding: gzip\r\n chunked\r\nContent-Length: 5\r\n", "hello"), 400);
  add("obs-fold with tab", req(H + "X-A: a\r\n\tb\r\nContent-Length: 0\r\n"), 400);
  // Whitespace between name and colon: MUST 400 (RFC 9112 §5.1).
  add("space before colon", req("Host : localhost\r\nContent-Length: 0\r\n"), 400);
  add("tab before colon", req(H + "X-A\t: b\r\nContent-Length: 0\r\n"), 400);
  // Whitespace before the first field line (RFC 9112 §2.2: reject, or ignore
  // the line): a hop taking it as folding appends it to the request line.
  add("whitespace before first field", req(" Content-Length: 5\r\n" + H, "hello"), 400);
  add("empty field name", req(H + ": x\r\nContent-Length: 0\r\n"), 400);
  add("field line without colon", req(H + "X-No-Colon\r\nContent-Length: 0\r\n"), 400);
  add("space inside field name", req(H + "Content Length: 5\r\n", "hello"), 400);
  // NUL, other controls, DEL, non-token bytes: C strings stop at NUL, and
  // bytes outside tchar make names that different hops spell differently.
  add("NUL in field name", req(H + "X-A\0B: c\r\nContent-Length: 0\r\n"s), 400);
  add("NUL in field value", req(H + "X-A: b\0c\r\nContent-Length: 0\r\n"s), 400);
  add("control char in field value", req(H + "X-A: b\x01" "c\r\nContent-Length: 0\r\n"), 400);
  add("ESC in field name", req(H + "X-\x1b" "A: b\r\nContent-Length: 0\r\n"), 400);
  add("DEL in field name", req(H + "X-\x7f" "A: b\r\nContent-Length: 0\r\n"), 400);
  add("DEL in field value", req(H + "X-A: b\x7f" "c\r\nContent-Length: 0\r\n"), 400);
  add("separator in field name", req(H + "X(A): b\r\nContent-Length: 0\r\n"), 400);
  add("non-ASCII in field name", req(H + "X-\xc3\xa9: b\r\nContent-Length: 0\r\n"), 400);

  // ---- request line ---------------------------------------------------------
  // A lone CR (or LF then CR) before the request line: RFC 9112 §2.2 allows
  // ignoring empty lines (CRLF), not stray CRs, which hops treat differently
  // (part of the method, a line end, skipped): one hop's garbage must not be
  // another's request. llhttp (like nginx) skips every CR and LF there.
  // Only empty lines (CRLF) may precede a request line (RFC 9112 §2.2); a
  // bare CR or LF there is skipped by some parsers and not by others.
  add("request line starts with CR", "\rPOST /count HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n", 400);
  add("request line starts with LF CR", "\n\rPOST /count HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n", 400);
  // An unknown, over-long method: refused at once, nothing buffered for it.
  add("over-long method", std::string(20000, 'G') + " /count HTTP/1.1\r\n" + H + "\r\n", 400);
  // Methods are case-sensitive: "get" is not GET.
  add("lowercase method", "get /count HTTP/1.1\r\n" + H + "\r\n", 400);
  // Whitespace other than one SP between the parts: hops that split on any
  // whitespace read another target/version.
  add("tab after method", "GET\t/count HTTP/1.1\r\n" + H + "\r\n", 400);
  add("space inside target", "GET /co unt HTTP/1.1\r\n" + H + "\r\n", 400);
  add("trailing space after version", "GET /count HTTP/1.1 \r\n" + H + "\r\n", 400);
  // An over-long target counts against max_header_bytes (16 KiB): 431.
  add("over-long target", "GET /count?" + std::string(20000, 'a') + " HTTP/1.1\r\n" + H + "\r\n", 431);
  // Target syntax: a control byte (NUL too), a relative path without '/'.
  add("control char in target", "GET /co\x01unt HTTP/1.1\r\n" + H + "\r\n", 400);
  add("NUL in target", "GET /co\0unt HTTP/1.1\r\n"s + H + "\r\n", 400);
  add("target without leading slash", "GET count HTTP/1.1\r\n" + H + "\r\n", 400);
  // The HTTP/2 connection preface on an HTTP/1.1 port: 505, and the framed
  // bytes after it are never parsed as HTTP/1.1.
  add("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
  // Versions: a well-formed but unsupported major (2.0, 0.9) is 505; a
  // malformed version string is 400.
  add("HTTP/2.0 request line", "GET /count HTTP/2.0\r\n" + H + "\r\n", 505);
  add("HTTP/0.9 in request line", "GET /count HTTP/0.9\r\n" + H + "\r\n", 505);
  // HTTP/1.2 does not exist; RFC 9110 §2.5 would let a server treat it as
  // 1.1, llhttp refuses it as an invalid version: 400 (no hop means 1.2).
  add("HTTP/1.2", "GET /count HTTP/1.2\r\n" + H + "\r\n", 400);
  add("HTTP/11", "GET /count HTTP/11\r\n" + H + "\r\n", 400);
  add("lowercase http/1.1", "GET /count http/1.1\r\n" + H + "\r\n", 400);
  add("HTTP/1.1 typo HTPT", "GET /count HTPT/1.1\r\n" + H + "\r\n", 400);
  // No version at all is an HTTP/0.9 simple request to llhttp: 505, like 0.9 spelt out.
  add("missing version", "GET /count\r\n" + H + "\r\n", 505);
  add("version without minor", "GET /count HTTP/1\r\n" + H + "\r\n", 400);

  // ---- Host -----------------------------------------------------------------
  // RFC 9112 §3.2 MUST 400: no Host on 1.1, more than one, or an invalid value.
  // Hops choosing different Hosts route (and cache) the request differently.
  add("missing Host", req("Content-Length: 0\r\n"), 400);
  add("two Hosts", req(H + "Host: evil.example\r\nContent-Length: 0\r\n"), 400);
  add("two Hosts, different case", req(H + "host: localhost\r\nContent-Length: 0\r\n"), 400);
  // A Host that is not host[:port] is a 400 (RFC 9112 §3.2): caches and
  // virtual hosts keyed on it would disagree about the request.
  add("Host with a space", req("Host: local host\r\nContent-Length: 0\r\n"), 400);

  // ---- limits ---------------------------------------------------------------
  add("over-long field value", req(H + "X-Big: " + std::string(20000, 'v') + "\r\nContent-Length: 0\r\n"), 431);
  {
    std::string many = H;
    for (int i = 0; i < 101; ++i)
      many += "X-" + std::to_string(i) + ": y\r\n";
    add("over 100 fields", req(many + "Content-Length: 0\r\n"), 431);
  }
  // Expect other than 100-continue: 417, and close (the body may or may not follow).
  add("Expect: something else", req(H + "Expect: 200-ok\r\nContent-Length: 5\r\n", "hello"), 417);
  // Expect: 100-continue on a request refused by its head (wrong key): the
  // client may send the body anyway; closed, so it is never read as a request.
  add("Expect 100-continue refused", req(H + "Expect: 100-continue\r\nAuthorization: wrong\r\nContent-Length: 5\r\n", "hello", "POST /dbl HTTP/1.1"), 401);

  // ---- whole requests hidden in ambiguous bodies ----------------------------
  // CL.TE classic: by CL the body is "0\r\n\r\nGET /count ...", by TE the body
  // ends at "0\r\n\r\n" and "GET /count" is a second request.
  {
    const std::string hidden = "GET /count HTTP/1.1\r\n" + H + "\r\n";
    const std::string body = "0\r\n\r\n" + hidden;
    add("CL.TE hidden request", req(H + "Content-Length: " + std::to_string(body.size()) + "\r\nTransfer-Encoding: chunked\r\n", body), 400);
    // TE.CL classic: by CL (4) the body is "XX\r\n" and "GET /count ..." a
    // second request; by TE it is one chunk holding it.
    char size[16];
    std::snprintf(size, sizeof size, "%zx", hidden.size());
    const std::string chunked = std::string(size) + "\r\n" + hidden + "\r\n0\r\n\r\n";
    add("TE.CL hidden request", req(H + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", chunked), 400);
    // TE.TE: one of two TE fields obfuscated.
    add("TE.TE hidden request", req(H + "Transfer-Encoding: chunked\r\nTransfer-encoding: x\r\nContent-Length: 4\r\n", chunked), 400);
  }

  // ---- protocol switches ----------------------------------------------------
  // CONNECT: this is an origin server, not a proxy; tunnelling is refused and
  // the connection closed, so the would-be tunnel bytes are never parsed as
  // HTTP. 405 as nginx and Apache answer it (the method exists, not here).
  // No tunnels: 405, and what follows a CONNECT is not HTTP, so close.
  add("CONNECT", "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n", 405);
  // Trailers count against the header limit (they were once buffered without
  // one: a 200 MiB trailer took 268 MB of memory) and never become headers.
  add("trailer over the header limit",
      req(H + "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX-T: " + std::string(20'000, 'a') + "\r\n\r\n"), 431);
  // Upgrade (websocket, h2c): the server may ignore it (RFC 9110 §7.8) and
  // answers the request normally; it then closes, because a client that
  // expected the switch sends bytes of the other protocol next.
  add("Upgrade: websocket", "GET /count HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 200, 1);
  add("Upgrade: h2c", "GET /count HTTP/1.1\r\n" + H + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", 200, 1);
  return v;
}

struct Outcome {
  std::optional<it::Reply> reply;
  bool closed = false;
};

Outcome run_case(Server& s, const std::string& bytes, int timeout_ms = it::patient_ms) {
  Outcome o;
  Client c(s.mgr->port(), "127.0.0.1", timeout_ms);
  REQUIRE(c.connected());
  c.send(bytes + follow_up); // one write: the follow-up is already in the server's buffer
  o.reply = c.read();
  if (o.reply)
    o.closed = c.closed_by_peer();
  return o;
}

} // namespace

TEST_CASE("malformed and ambiguous requests: exact status, closed, nothing after them processed") {
  Server s;
  const auto all = cases();
  REQUIRE(all.size() >= 40);
  MESSAGE(all.size() << " cases");
  int failed = 0;
  for (const Case& k : all) {
    const int inner0 = s.inner, follow0 = s.followup;
    const std::size_t votes0 = s.votes.size();
    s.forget_rejection();
    const Outcome o = run_case(s, k.bytes);
    const int status = o.reply ? o.reply->status : 0;
    const std::string what = std::string("case \"") + k.name + "\": " +
                             (o.reply ? std::to_string(status) : std::string("no answer")) +
                             (o.closed ? ", closed" : ", NOT closed") + ", /count +" + std::to_string(s.inner - inner0) +
                             ", follow-up GET +" + std::to_string(s.followup - follow0) + ", votes +" +
                             std::to_string(s.votes.size() - votes0) + "; last rejection: " + s.rejection();
    INFO(what);
    if (std::getenv("SMUGGLING_VERBOSE"))
      MESSAGE(what);
    CHECK(status == k.status);
    CHECK(o.closed);
    if (o.reply)
      CHECK(o.reply->closes()); // the answer itself says Connection: close
    CHECK(s.inner - inner0 == k.inner);
    CHECK(s.followup == follow0);
    CHECK(s.votes.size() == votes0);
    failed += status != k.status || !o.closed || s.followup != follow0 || s.votes.size() != votes0 ||
              s.inner - inner0 != k.inner;
  }
  MESSAGE((all.size() - static_cast<std::size_t>(failed)) << " of " << all.size() << " cases as expected");
  // The server is still fine for everyone else.
  Client c(s.mgr->port());
  c.send(it::bot_vote(1));
  auto r = c.read();
  REQUIRE(r);
  CHECK(r->status == 200);
}

// Well-framed requests whose bodies contain request bytes: the bytes are body,
// never a request, and the connection (correctly framed) carries on to the
// follow-up, which is processed exactly once. A front-end that ignores a GET
// body, or a back-end that does, would see an extra request here.
TEST_CASE("request bytes inside a well-framed body are body only; framing is kept") {
  Server s;
  const std::string hidden = "GET /count HTTP/1.1\r\n" + H + "\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", hidden.size());
  const std::string chunked = std::string(size) + "\r\n" + hidden + "\r\n0\r\n\r\n";
  struct Framed {
    const char* name;
    std::string bytes;
    int status;
    int inner;
  };
  const std::vector<Framed> framed = {
      // POST with a CL covering a whole request: one call of /count (the POST).
      {"POST, CL body holding a request", req(H + "Content-Length: " + std::to_string(hidden.size()) + "\r\n", hidden), 200, 1},
      // GET with a body (legal, if unusual): its CL is honoured.
      {"GET, CL body holding a request", req(H + "Content-Length: " + std::to_string(hidden.size()) + "\r\n", hidden, "GET /count HTTP/1.1"), 200, 1},
      // GET with a chunked body holding a request prefix.
      {"GET, chunked body holding a request", req(H + "Transfer-Encoding: chunked\r\n", chunked, "GET /count HTTP/1.1"), 200, 1},
      // Coding names are case-insensitive and OWS may be a tab: this is chunked.
      {"TE CHUNKED with tab OWS", req(H + "Transfer-Encoding:\tCHUNKED\r\n", chunked), 200, 1},
      // A vote whose body is a request: 400 invalid JSON, no vote, not closed.
      {"vote body holding a request", it::post("/dbl", it::bot_key, hidden), 400, 0},
          // An empty line before the request line (RFC 9112 §2.2: SHOULD ignore).
      {"CRLF before request line", "\r\nGET /count HTTP/1.1\r\n" + H + "\r\n", 200, 1},
      // Two spaces after the method: RFC 9112 §3 lets a recipient split the
      // request line on whitespace (MAY); llhttp does, and every reading of it
      // gives the same method, target and version, so nothing to desync.
      {"two spaces after method", "GET  /count HTTP/1.1\r\n" + H + "\r\n", 200, 1},
      // A broken absolute-form authority ("[::1" unclosed): llhttp does not
      // validate the authority; the target is one token, so framing is
      // unambiguous. Absolute-form routes on its path (RFC 9112 §3.2.2), the
      // authority plays no part in routing: /count, connection kept.
      {"absolute-form with broken authority", "GET http://[::1/count HTTP/1.1\r\n" + H + "\r\n", 200, 1},
  };
  for (const Framed& k : framed) {
    const int inner0 = s.inner, follow0 = s.followup;
    const std::size_t votes0 = s.votes.size();
    Client c(s.mgr->port());
    REQUIRE(c.connected());
    c.send(k.bytes + follow_up);
    auto r1 = c.read();
    auto r2 = c.read();
    auto r3 = c.read();
    const std::string what = std::string("case \"") + k.name + "\": " + std::to_string(r1 ? r1->status : 0) +
                             "; last rejection: " + s.rejection();
    INFO(what);
    REQUIRE(r1);
    CHECK(r1->status == k.status);
    REQUIRE(r2);
    CHECK(r2->status == 200); // the follow-up GET
    CHECK(r2->body == "followed");
    REQUIRE(r3);
    CHECK(r3->status == 200); // the follow-up vote
    CHECK(s.inner - inner0 == k.inner);
    CHECK(s.followup - follow0 == 1);
    CHECK(s.votes.size() - votes0 == 1);
  }

  // Absolute-form (RFC 9112 §3.2.2): the target names the resource, Host is
  // ignored. Whatever the route lookup answers, the framing must hold: one
  // answer, then the follow-up answered once.
  Client c(s.mgr->port());
  const int follow0 = s.followup;
  c.send("GET http://localhost/count HTTP/1.1\r\nHost: other.example\r\n\r\n" + follow_up);
  auto r1 = c.read();
  REQUIRE(r1);
  MESSAGE("absolute-form GET http://localhost/count answered " << r1->status);
  auto r2 = c.read();
  REQUIRE(r2);
  CHECK(r2->body == "followed");
  CHECK(s.followup - follow0 == 1);
}

// The same malformed requests split at every awkward point would take long;
// a few are sent byte by byte instead, so the parser's verdict does not
// depend on how the bytes arrive.
TEST_CASE("malformed requests arriving one byte at a time get the same answer") {
  Server s;
  const auto all = cases();
  for (const char* name : {"CL and TE chunked", "two different CLs", "obs-fold", "chunk ext ended by bare LF",
                           "request line bare LF", "HTTP/2 preface", "missing Host", "TE.CL hidden request"}) {
    const Case* k = nullptr;
    for (const Case& x : all)
      if (std::string_view(x.name) == name)
        k = &x;
    REQUIRE(k);
    const int follow0 = s.followup;
    Client c(s.mgr->port());
    const std::string bytes = k->bytes + follow_up;
    std::size_t sent = 0;
    for (; sent < bytes.size(); ++sent)
      if (!c.send(std::string_view(bytes).substr(sent, 1)))
        break; // closed by the server once it saw enough
    auto r = c.read();
    const std::string what = std::string("case \"") + name + "\" byte by byte; last rejection: " + s.rejection();
    INFO(what);
    REQUIRE(r);
    CHECK(r->status == k->status);
    CHECK(c.closed_by_peer());
    CHECK(s.followup == follow0);
  }
}
