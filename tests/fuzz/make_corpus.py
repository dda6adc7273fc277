#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into corpus/<target>/.

The seeds are valid and near-valid inputs for each entry point. Re-running
rewrites the seeds (files named seed-*); inputs added by tools/fuzz -merge and
crash reproducers (other names) are left alone.
"""
import hashlib
import hmac
import json
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    (d / ("seed-" + name)).write_bytes(data)


# ---- connection ------------------------------------------------------------
# Prefix: see fuzz_connection.cpp (mode, limits, split count and seed).
def cfg(mode=0, eof=False, shutdown=False, empty_key=False, header_bytes=0, body_bytes=0, pipelined=0,
        requests=0, header_count=0, output_bytes=0, splits=3, seed=7):
    b0 = mode | (8 if eof else 0) | (16 if shutdown else 0) | (32 if empty_key else 0)
    b1 = header_bytes | body_bytes << 2 | pipelined << 4 | requests << 6
    b2 = header_count | output_bytes << 2 | splits << 4
    return bytes([b0, b1, b2, seed])


BOT = ('{"bot":"264811613708746752","user":"160105994217586689","type":"upvote",'
       '"isWeekend":false,"query":"?ref=home&a=1"}')
BOT_TEST = '{"bot":"1","user":"2","type":"test","isWeekend":true,"query":{"x":"y","n":5}}'
SERVER = '{"guild":"5678","user":"160105994217586689","type":"test","query":{"a":"1"}}'


def post(path, auth, body, extra="", host=True, version="1.1"):
    r = f"POST {path} HTTP/{version}\r\n"
    if host:
        r += "Host: localhost\r\n"
    if auth is not None:
        r += f"Authorization: {auth}\r\n"
    r += f"Content-Type: application/json\r\nContent-Length: {len(body.encode())}\r\n{extra}\r\n{body}"
    return r


def chunked(path, auth, body, ext=""):
    parts = [body[:10], body[10:]]
    r = f"POST {path} HTTP/1.1\r\nHost: h\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
    for p in parts:
        r += f"{len(p.encode()):x}{ext}\r\n{p}\r\n"
    return r + "0\r\n\r\n"


def connection():
    c = cfg()
    valid = {
        "bot-vote": post("/dbl", "key", BOT),
        "bot-vote-test-weekend": post("/dbl", "key", BOT_TEST),
        "server-vote": post("/dsl", "key2", SERVER),
        "custom-get": "GET /custom?x=1&status=201 HTTP/1.1\r\nHost: a\r\nX-Thing: v\r\n\r\n",
        "custom-post": "PUT /custom HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "custom-204": "GET /custom?status=204 HTTP/1.1\r\nHost: a\r\n\r\n",
        "custom-headers": "GET /custom?hv=1&hv=close&hv=chunked&hv=text%2Fx&hv=a%0D%0Ab&hv=z HTTP/1.1\r\nHost: a\r\n\r\n",
        "custom-throws": "GET /custom?throw HTTP/1.1\r\nHost: a\r\n\r\n",
        "health": "GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "http10": "GET /health HTTP/1.0\r\n\r\n",
        "http10-keepalive": "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n",
        "wrong-key": post("/dbl", "nope", BOT),
        "missing-key": post("/dbl", None, BOT),
        "two-keys": post("/dbl", "key", BOT, "Authorization: key\r\n"),
        "other-route-key": post("/dsl", "key", SERVER),
        "not-found": post("/nope", "key", BOT),
        "method-not-allowed": "GET /dbl HTTP/1.1\r\nHost: a\r\n\r\n",
        "invalid-json": post("/dbl", "key", '{"bot":'),
        "invalid-payload": post("/dbl", "key", '{"bot":1,"user":"2","type":"upvote"}'),
        "repeated-field": post("/dsl", "key2", '{"guild":"1","guild":"1","user":"2","type":"test"}'),
        "chunked": chunked("/dbl", "key", BOT),
        "chunked-ext": chunked("/dsl", "key2", SERVER, ";a=b"),
        "pipelined": post("/dbl", "key", BOT) + post("/dsl", "key2", SERVER) + "GET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "pipelined-refused-first": post("/dbl", "bad", BOT) + post("/dbl", "key", BOT),
        "expect-continue": post("/dbl", "key", BOT, "Expect: 100-continue\r\n"),
        "expect-continue-refused": post("/dbl", "bad", BOT, "Expect: 100-continue\r\n"),
        "expect-other": post("/dbl", "key", BOT, "Expect: 200-ok\r\n"),
        "connection-close": post("/dbl", "key", BOT, "Connection: close\r\n") + post("/dbl", "key", BOT),
        "no-host": post("/dbl", "key", BOT, host=False),
        "two-hosts": post("/dbl", "key", BOT, "Host: b\r\n"),
        "cl-and-te": post("/dbl", "key", BOT, "Transfer-Encoding: chunked\r\n"),
        "two-cl": post("/dbl", "key", BOT, "Content-Length: 3\r\n"),
        "cl-plus": "POST /dbl HTTP/1.1\r\nHost: a\r\nAuthorization: key\r\nContent-Length: +1\r\n\r\nx",
        "cl-overflow": "POST /dbl HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "te-gzip": "POST /dbl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        "bad-chunk": "POST /dbl HTTP/1.1\r\nHost: a\r\nAuthorization: key\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "bare-lf": "GET /health HTTP/1.1\nHost: a\n\n",
        "obs-fold": "GET /health HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        "space-before-colon": "GET /health HTTP/1.1\r\nHost : a\r\n\r\n",
        "nul-in-value": "GET /health HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
        "h2-preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "http2-version": "GET /health HTTP/2.0\r\nHost: a\r\n\r\n",
        "version-typo": "GET /health HTTP/1.2\r\nHost: a\r\n\r\n",
        "leading-crlf": "\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "garbage": "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "smuggled-in-body": post("/custom", None, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"),
        "upgrade": "GET /health HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        "half-request": "POST /dbl HTTP/1.1\r\nHost: a\r\nContent-Len",
        "half-body": post("/dbl", "key", BOT)[:-10],
        "empty": "",
        "head-not-found": "HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n" + post("/dbl", "key", BOT),
        "head-vote-route": "HEAD /dbl HTTP/1.1\r\nHost: a\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n",
        "head-custom": "HEAD /custom?status=200 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /custom?throw HTTP/1.1\r\nHost: a\r\n\r\n",
        "trailer": chunked("/custom", "key", "hello")[:-2] + "Authorization: key\r\nX-T: v\r\n\r\n",
    }
    for name, req in valid.items():
        write("connection", name, c + req.encode("latin-1") if isinstance(req, str) else req)
    # The same requests under other modes and small limits.
    pipelined = (post("/dbl", "key", BOT) + post("/dsl", "key2", SERVER) + post("/dbl", "key", BOT_TEST)).encode()
    for mode in range(8):
        write("connection", f"mode{mode}-pipelined", cfg(mode=mode, splits=5, seed=mode) + pipelined)
        write("connection", f"mode{mode}-pipelined-small", cfg(mode=mode, pipelined=1, output_bytes=1, seed=3) +
              pipelined)
    small = [
        ("oversized-header-bytes", cfg(header_bytes=1), "GET /custom?" + "a" * 100 + " HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("oversized-header-value", cfg(header_bytes=2), post("/dbl", "key", BOT, "X-Big: " + "b" * 300 + "\r\n")),
        ("oversized-header-count", cfg(header_count=1), post("/dbl", "key", BOT)),
        ("oversized-body", cfg(body_bytes=2), post("/dbl", "key", BOT)),
        ("oversized-body-zero", cfg(body_bytes=1), post("/dbl", "key", BOT)),
        ("oversized-chunked", cfg(body_bytes=2), chunked("/dbl", "key", BOT)),
        ("oversized-refused-body", cfg(body_bytes=2), post("/dbl", "wrong", BOT)),
        ("oversized-default", cfg(), post("/dbl", "key", BOT, "Content-Length: 70000\r\n")),
        ("requests-cap", cfg(requests=1), "GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 3),
        ("requests-cap-3", cfg(requests=3, pipelined=2), "GET /health HTTP/1.1\r\nHost: a\r\n\r\n" * 5),
        ("eof-mid-request", cfg(eof=True), post("/dbl", "key", BOT)[:-5]),
        ("eof-after", cfg(eof=True, mode=4), pipelined.decode()),
        ("shutdown", cfg(shutdown=True, mode=5), pipelined.decode()),
        ("empty-key", cfg(empty_key=True), post("/dbl", None, BOT)),
        ("byte-splits", cfg(splits=15, seed=200), post("/dbl", "key", BOT, "Expect: 100-continue\r\n")),
        ("output-cap", cfg(output_bytes=2, pipelined=3), "GET /custom?x HTTP/1.1\r\nHost: a\r\n\r\n" * 6),
        # Trailers count against the header limits and never become headers.
        ("trailer-oversized", cfg(header_bytes=2, body_bytes=3), chunked("/dbl", "key", BOT)[:-2] + "X-T: " + "a" * 2000 + "\r\n\r\n"),
        ("trailer-count", cfg(header_count=2), chunked("/dbl", "key", BOT)[:-2] + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        ("trailer-refused", cfg(header_bytes=2, body_bytes=3), chunked("/dbl", "bad", BOT)[:-2] + "X-T: " + "a" * 2000 + "\r\n\r\n"),
    ]
    for name, prefix, req in small:
        write("connection", name, prefix + req.encode("latin-1"))


# ---- votes ----------------------------------------------------------------
def votes():
    seeds = {
        "bot": BOT, "bot-test": BOT_TEST, "server": SERVER,
        "bot-no-query": '{"bot":"1","user":"2","type":"upvote"}',
        "bot-weekend-null": '{"bot":"1","user":"2","type":"upvote","isWeekend":null}',
        "bot-query-encoded": '{"bot":"1","user":"2","type":"upvote","query":"a=%20b&c+d=%zz&&=x&k"}',
        "server-query-object": '{"guild":"9","user":"8","type":"test","query":{"a":"b","n":1.5,"t":true,"o":{},"x":null}}',
        "max-id": '{"bot":"18446744073709551615","user":"0","type":"test"}',
        "overflow-id": '{"bot":"18446744073709551616","user":"0","type":"test"}',
        "numeric-id": '{"bot":1,"user":"2","type":"upvote"}',
        "bad-type": '{"bot":"1","user":"2","type":"downvote"}',
        "repeated": '{"bot":"1","bot":"1","user":"2","type":"upvote"}',
        "missing-user": '{"bot":"1","type":"upvote"}',
        "array": '[{"bot":"1"}]',
        "trailing": '{"bot":"1","user":"2","type":"upvote"} x',
        "unicode": '{"guild":"1","user":"2","type":"test","query":{"\\u00e9":"\\ud83d\\ude00"},"extra":[1,2,{"a":null}]}',
        "escapes": '{"bot":"1","user":"2","type":"up\\u0076ote","query":"\\"q\\"=1"}',
        "empty": "",
        "deep": "[" * 200 + "]" * 200,
    }
    for name, s in seeds.items():
        write("votes", name, s)


# ---- v1 payloads -----------------------------------------------------------
PROJECT = {"id": "803190510032756736", "type": "bot", "platform": "discord", "platform_id": "160105994217586689"}
USER = {"id": "160105994217586689", "platform_id": "160105994217586689", "name": "username",
        "avatar_url": "https://cdn.discordapp.com/avatars/1/a.png"}


def v1_payload():
    vote = {"type": "vote.create", "data": {
        "id": "808499215864008704", "weight": 1, "created_at": "2025-09-09T08:55:16.218761+00:00",
        "expires_at": "2025-09-09T20:55:16.218761+00:00", "project": PROJECT, "user": USER}}
    seeds = {
        "vote-create": vote,
        "vote-create-query": {**vote, "data": {**vote["data"], "query": {"ref": "home", "n": 2}, "weight": 2.0}},
        "vote-create-query-string": {**vote, "data": {**vote["data"], "query": "?a=1&b=%20"}},
        "vote-create-offset": {**vote, "data": {**vote["data"], "created_at": "2025-02-28T23:59:59.1234567-05:30",
                                                 "expires_at": "0000-01-01T00:00:00+23:59"}},
        "vote-create-leap": {**vote, "data": {**vote["data"], "created_at": "2024-02-29T12:00:00Z"}},
        "vote-create-bad-date": {**vote, "data": {**vote["data"], "created_at": "2025-02-29T12:00:00Z"}},
        "vote-create-weight-frac": {**vote, "data": {**vote["data"], "weight": 2.5}},
        "vote-create-weight-big": {**vote, "data": {**vote["data"], "weight": 18446744073709551615}},
        "vote-create-missing": {"type": "vote.create", "data": {"id": "1"}},
        "webhook-test": {"type": "webhook.test", "data": {"project": PROJECT, "user": {**USER, "avatar_url": None}}},
        "integration-create": {"type": "integration.create", "data": {
            "connection_id": "112402021105124", "webhook_secret": "whs_abcd", "project": PROJECT, "user": USER}},
        "integration-delete": {"type": "integration.delete", "data": {"connection_id": "112402021105124"}},
        "unknown-type": {"type": "vote.delete", "data": 5},
        "no-data": {"type": "webhook.test"},
        "data-first": {"data": {"connection_id": "1"}, "type": "integration.delete"},
    }
    for name, obj in seeds.items():
        write("v1_payload", name, json.dumps(obj))
    write("v1_payload", "repeated-type", '{"type":"webhook.test","type":"webhook.test","data":{}}')
    write("v1_payload", "not-object", '"vote.create"')
    write("v1_payload", "truncated", json.dumps(seeds["vote-create"])[:-3])


# ---- signature -------------------------------------------------------------
def signature():
    def sign(secret, t, body):
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256).hexdigest()
        return f"t={t},v1={mac}"
    body = '{"type":"webhook.test","data":{}}'
    good = sign("whs_secret", 1700000000, body)
    seeds = {
        "valid": f"{good}\nwhs_secret\n{body}",
        "valid-wrong-secret": f"{good}\nother\n{body}",
        "two-macs": f"{good},v1={'0' * 64}\nwhs_secret\n{body}",
        "upper-hex": f"{good.upper().replace('T=', 't=').replace('V1=', 'v1=')}\nwhs_secret\n{body}",
        "blanks": f" t = 1700000000 ,\t v1 = {'ab' * 32} , ,\nk\nb",
        "unknown-param": f"v0=xyz,t=1,v1={'cd' * 32},future=1\nk\n",
        "leading-zeros": f"t=0001700000000,v1={'ef' * 32}\nk\nbody",
        "max-t": f"t=9223372036854775807,v1={'00' * 32}\nk\n",
        "overflow-t": f"t=9223372036854775808,v1={'00' * 32}\nk\n",
        "no-t": f"v1={'00' * 32}\nk\n",
        "two-t": f"t=1,t=2,v1={'00' * 32}\nk\n",
        "short-mac": "t=1,v1=abc\nk\n",
        "no-equals": f"t=1,v1={'00' * 32},junk\nk\n",
        "negative-t": f"t=-1,v1={'00' * 32}\nk\n",
        "many-macs": "t=1" + f",v1={'11' * 32}" * 17 + "\nk\n",
        "many-params": "t=1,v1=" + "22" * 32 + ",x=1" * 31 + "\nk\n",
        "empty": "",
        "empty-secret": f"{good}\n\n{body}",
    }
    for name, s in seeds.items():
        write("signature", name, s)


# ---- query -----------------------------------------------------------------
def query():
    seeds = {
        "simple": "?ref=home&x=1", "no-question": "a=1&b=2", "plus": "a+b=c+d", "escapes": "k%20ey=v%3Dal%26ue",
        "bad-escape": "a=%zz&b=%4&c=%", "repeated": "a=1&a=2&a", "empty-parts": "&&=&a==b&",
        "utf8": "name=%C3%A9t%C3%A9&emoji=%F0%9F%98%80", "binary": "x=%00%FF%0D%0A", "only-q": "?",
        "question-in-value": "??a=?b", "fragment": "a=1#frag", "lower-hex": "%2f%2F",
    }
    for name, s in seeds.items():
        write("query", name, s)


if __name__ == "__main__":
    connection()
    votes()
    v1_payload()
    signature()
    query()
