#!/usr/bin/env python3
"""`topgg-webhook listen --metrics HOST:PORT`: the second listener's pages.

    test_metrics_cli.py counts TOOL LOOP PROMTOOL
    test_metrics_cli.py options TOOL LOOP
    test_metrics_cli.py readyz_redis TOOL LOOP PROMTOOL [REDIS_SERVER]

counts: accepted, refused (by each reason) and duplicate deliveries move
their counters by exactly that many; `promtool check metrics` accepts every
scrape (it must be installed: tools/setup installs Debian's prometheus
package; without it the test fails); HEAD, 404 and 405 on the metrics port;
/readyz answers 503 "shutting down" from SIGTERM while a delivery in flight
is still answered.

options: --metrics needs HOST:PORT, an IPv6 address in brackets, never the
public address; a port in use stops the tool with one line.

readyz_redis: a real redis-server; /readyz is 200 while it answers, 503 with
the store's reason once it is stopped, 200 again once it is back — with no
delivery in between (the store checks by itself) — and store_up follows.

Every wait is for a state, with a generous deadline: nothing here asserts
that something happens within some milliseconds.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, os.path.join(HERE, "..", "dedup"))
from test_examples import BOT, DBL_AUTH, ENV, V1_SECRET, Child, check  # noqa: E402
from test_dedup import RedisServer, free_port  # noqa: E402

PROJECT = "803190510032756736"


# ---- the public side --------------------------------------------------------------

def post(port, path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def dbl(port, user, auth=DBL_AUTH):
    body = json.dumps({"bot": BOT, "user": str(user), "type": "upvote", "query": "?ref=metrics"}).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    return post(port, "/dbl", body, headers)


def v1_body(user):
    return json.dumps({"type": "vote.create", "data": {
        "id": "808499215864008704", "weight": 1, "created_at": "2026-02-09T00:47:14.2510149+00:00",
        "expires_at": "2026-02-09T12:47:14.2510149+00:00",
        "project": {"id": PROJECT, "type": "bot", "platform": "discord", "platform_id": BOT},
        "user": {"id": user, "platform_id": "160105994217586689", "name": "voter", "avatar_url": None}}}).encode()


def v1(port, user, signature="good", secret=V1_SECRET, age=0):
    """vote.create by Top.gg user `user`; `signature`: good, missing, malformed, or a fixed header value."""
    body = v1_body(user)
    t = str(int(time.time()) - age)
    headers = {"Content-Type": "application/json", "x-topgg-trace": "metrics"}
    if signature == "good":
        mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers["x-topgg-signature"] = f"t={t},v1={mac}"
    elif signature == "malformed":
        headers["x-topgg-signature"] = "t=soon,v1=nope"
    elif signature != "missing":
        headers["x-topgg-signature"] = signature
    return post(port, "/topgg", body, headers)


# ---- the metrics side -------------------------------------------------------------

def metrics_port(child):
    return int(child.wait_for("err", r"metrics on http://127\.0\.0\.1:(\d+) \(/metrics, /healthz, /readyz\)\n",
                              10).group(1))


def get(port, path, method="GET"):
    """(status, headers dict with lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        c.request(method, path)
        r = c.getresponse()
        body = r.read().decode()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of (label, value)): float} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(port, promtool):
    """/metrics: its text checked by promtool, parsed."""
    status, headers, text = get(port, "/metrics")
    check(status == 200, "GET /metrics is answered 200")
    check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          f"in the text format 0.0.4 ({headers.get('content-type')!r})")
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"promtool check metrics accepts it (exit {p.returncode}: {p.stdout}{p.stderr})")
    return parse(text), text


def find_promtool(given):
    promtool = given if given and os.access(given, os.X_OK) else shutil.which("promtool")
    check(promtool is not None, "promtool is installed (tools/setup installs Debian's prometheus package, "
          "which provides /usr/bin/promtool)")
    return promtool


def wait_until(what, cond, seconds=60):
    """Waits for a state (generous: a busy machine); its value once it holds."""
    deadline = time.monotonic() + seconds
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def listen(tool, loop, *extra):
    return Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl",
                  "--v1", "/topgg", "--metrics", "127.0.0.1:0", *extra])


# ---- counts -----------------------------------------------------------------------

def counts(tool, loop, promtool=None):
    promtool = find_promtool(promtool)
    with tempfile.TemporaryDirectory() as tmp:
        started = os.path.join(tmp, "started")
        s = listen(tool, loop, "--exec", f"if grep -q slow-voter; then touch '{started}'; sleep 2; fi")
        try:
            mp = metrics_port(s)
            check(s.port != mp, f"the metrics have their own port ({mp}, public {s.port})")
            before, _ = scrape(mp, promtool)  # before any request too

            sent = {}

            def expect(status, got, what):
                if got != status:
                    raise AssertionError(f"{what}: answered {got}, not {status}")
                sent[what] = sent.get(what, 0) + 1
            for u in (1001, 1002, 1003):
                expect(200, dbl(s.port, u), "dbl accepted")
            for u in (1001, 1002):
                expect(200, dbl(s.port, u), "dbl duplicate")
            for _ in range(2):
                expect(401, dbl(s.port, 1004, auth="wrong-key"), "dbl wrong key")
            expect(401, dbl(s.port, 1004, auth=None), "dbl missing key")
            expect(401, v1(s.port, "m-1", "missing"), "v1 signature missing")
            for _ in range(2):
                expect(422, v1(s.port, "m-1", "malformed"), "v1 signature malformed")
            expect(403, v1(s.port, "m-1", secret="whs_not-the-secret"), "v1 signature mismatch")
            expect(403, v1(s.port, "m-1", age=3600), "v1 signature stale")
            for u in ("m-1", "m-2"):
                expect(204, v1(s.port, u), "v1 accepted")
            expect(204, v1(s.port, "m-1"), "v1 duplicate")
            expect(404, post(s.port, "/not-a-route", b"{}", {}), "404")
            check(True, f"sent {sent}")

            after, text = scrape(mp, promtool)

            def moved(name, **labels):
                return value(after, name, **labels) - value(before, name, **labels)
            req = "topgg_webhook_requests_total"
            check(moved(req, route="/dbl", status="200") == 5, "requests_total{/dbl,200} moved by 5 (3 + 2 retries)")
            check(moved(req, route="/dbl", status="401") == 3, "requests_total{/dbl,401} moved by 3")
            check(moved(req, route="/topgg", status="204") == 3, "requests_total{/topgg,204} moved by 3")
            check(moved(req, route="/topgg", status="401") == 1, "requests_total{/topgg,401} moved by 1")
            check(moved(req, route="/topgg", status="422") == 2, "requests_total{/topgg,422} moved by 2")
            check(moved(req, route="/topgg", status="403") == 2, "requests_total{/topgg,403} moved by 2")
            check(moved(req, route="none", status="404") == 1, "a 404 is counted at route=\"none\"")
            check("/not-a-route" not in text, "a 404's path is never a label")
            ev = "topgg_webhook_events_total"
            check(moved(ev, event="dbl_vote") == 3, "events_total{dbl_vote} moved by 3")
            check(moved(ev, event="vote.create") == 2, "events_total{vote.create} moved by 2")
            ref = "topgg_webhook_refused_total"
            for reason, n in (("auth_wrong", 2), ("auth_missing", 1), ("signature_missing", 1),
                              ("signature_malformed", 2), ("signature_mismatch", 1), ("signature_stale", 1),
                              ("not_found", 1)):
                check(moved(ref, reason=reason) == n, f"refused_total{{reason={reason}}} moved by {n}")
            check(sum(moved(ref, reason=r) for (name, labels) in after if name == ref for _, r in labels) == 9,
                  "and no other reason moved")
            check(moved("topgg_webhook_duplicates_total") == 3, "duplicates_total moved by 3")
            check(moved("topgg_webhook_handler_seconds_count") == 5, "handler_seconds_count: 5 handlers ran")
            check(value(after, "topgg_webhook_handler_seconds_bucket", le="+Inf") ==
                  value(after, "topgg_webhook_handler_seconds_count"), "the +Inf bucket is the count")
            check(value(after, "topgg_webhook_store_up") == 1, "store_up is 1 (the memory store)")
            version = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
            check(value(after, "topgg_webhook_build_info", version=version) == 1,
                  f"build_info{{version=\"{version}\"}} is 1")

            status, headers, body = get(mp, "/metrics", "HEAD")
            check(status == 200 and body == "" and headers.get("content-type", "").startswith("text/plain"),
                  "HEAD /metrics: 200, headers only")
            status, headers, _ = get(mp, "/metrics", "POST")
            check(status == 405 and headers.get("allow") == "GET, HEAD", f"POST /metrics: 405, Allow: GET, HEAD "
                  f"({status}, {headers.get('allow')!r})")
            check(get(mp, "/dbl")[0] == 404, "the vote routes are not on the metrics port: 404")
            check(get(mp, "/healthz")[0:3:2] == (200, "ok\n"), "/healthz: 200 ok")
            check(get(mp, "/readyz")[0:3:2] == (200, "ready\n"), "/readyz: 200 ready")
            check(get(mp, "/readyz", "HEAD")[0] == 200, "HEAD /readyz: 200")
            check(get(s.port, "/metrics", "GET")[0] == 404, "nor the metrics on the public port: 404")

            # SIGTERM while a delivery is handled: /readyz says so at once, the delivery is still answered.
            result = {}
            # The command recognises this voter by its line: "slow-voter" is in no other.
            t = threading.Thread(target=lambda: result.setdefault(
                "status", post(s.port, "/dbl", json.dumps({"bot": BOT, "user": "1099", "type": "upvote",
                                                           "query": "?who=slow-voter"}).encode(),
                               {"Authorization": DBL_AUTH})), daemon=True)
            t.start()
            wait_until("the slow command started", lambda: os.path.exists(started))
            s.proc.send_signal(signal.SIGTERM)
            status, _, body = wait_until("/readyz answers 503 after SIGTERM",
                                         lambda: (lambda r: r if r[0] == 503 else None)(get(mp, "/readyz")))
            check(body == "not ready: shutting down\n", f"/readyz after SIGTERM: 503 {body!r}")
            t.join(30)
            check(result.get("status") == 200, f"the delivery in flight is still answered 200 ({result})")
            code = s.proc.wait(30)
            check(code == 0, f"and the tool exits 0 (got {code})")
        finally:
            s.kill()


# ---- options ----------------------------------------------------------------------

def options(tool, loop):
    def refused(*args):
        p = subprocess.run([tool, "listen", "--loop", loop, "--dbl", "/dbl", *args], env=ENV,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr
    for args, needle, what in [
            (["--metrics", "9464"], "the host is required", "a port alone"),
            (["--metrics", "::1:9464"], "an IPv6 address goes in brackets", "IPv6 without brackets"),
            (["--metrics", "127.0.0.1:65536"], "the port is a number from 0 to 65535", "a port out of range"),
            (["--metrics", "[::1]9464"], "takes HOST:PORT", "a bracket without a colon"),
            (["--metrics", "127.0.0.1:8080", "--host", "127.0.0.1", "--port", "8080"], "is the public address",
             "the public address itself"),
            (["--metrics", "127.0.0.1:8080"], "is the public address", "the public port on a host the public "
             "wildcard (0.0.0.0) covers")]:
        code, err = refused(*args)
        check(code == 2 and needle in err and err.count("\n") == 1,
              f"--metrics {' '.join(args[1:])}: {what}: exit 2 and one line ({code}, {err.strip()!r})")
    out = subprocess.run([tool, "listen", "--help"], capture_output=True, text=True, timeout=20).stdout
    check("--metrics HOST:PORT" in out and "/readyz" in out, "listen --help tells of --metrics")

    busy = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", busy))
        holder.listen()
        code, err = refused("--host", "127.0.0.1", "--port", "0", "--metrics", f"127.0.0.1:{busy}")
        lines = [ln for ln in err.splitlines() if not ln.startswith("listening on ")]
        check(code == 1 and len(lines) == 1 and lines[0].startswith(f"topgg-webhook: --metrics 127.0.0.1:{busy}: "),
              f"a --metrics port in use: exit 1, one line naming it ({code}, {err.strip()!r})")
    s = Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl"])
    try:
        s.stop()
        check("metrics on" not in s.err.decode(), "without --metrics, no second listener")
    finally:
        s.kill()


# ---- readiness while Redis comes and goes ------------------------------------------

def readyz_redis(tool, loop, promtool=None, program=None):
    promtool = find_promtool(promtool)
    program = program or shutil.which("redis-server")
    check(program is not None and os.access(program, os.X_OK),
          "redis-server is installed (tools/setup installs the Debian package redis-server)")
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        s = None
        try:
            s = listen(tool, loop, "--dedup", f"redis://127.0.0.1:{redis.port}")
            mp = metrics_port(s)
            check(get(mp, "/readyz")[0:3:2] == (200, "ready\n"), "Redis answers: /readyz 200")
            check(dbl(s.port, 2001) == 200, "and a vote is handled")
            samples, _ = scrape(mp, promtool)
            check(value(samples, "topgg_webhook_store_up") == 1, "store_up 1")

            redis.stop()  # from here on, no delivery until Redis is back: readiness needs none
            status, _, body = wait_until("/readyz answers 503 once Redis is stopped",
                                         lambda: (lambda r: r if r[0] == 503 else None)(get(mp, "/readyz")))
            check(body.startswith(f"not ready: the de-duplication store does not answer: redis 127.0.0.1:{redis.port}: "),
                  f"/readyz 503 says why: {body.strip()!r}")
            samples, _ = scrape(mp, promtool)
            check(value(samples, "topgg_webhook_store_up") == 0, "store_up 0")
            check(get(mp, "/healthz")[0] == 200, "/healthz stays 200: the process serves")

            redis.restart()
            wait_until("/readyz answers 200 once Redis is back, without a delivery",
                       lambda: get(mp, "/readyz")[0] == 200)
            samples, _ = scrape(mp, promtool)
            check(value(samples, "topgg_webhook_store_up") == 1, "store_up 1 again")
            check(value(samples, "topgg_webhook_store_unavailable_total") == 0, "no delivery was refused meanwhile")
            check(dbl(s.port, 2002) == 200, "and votes are handled again")
            s.stop()
        finally:
            if s:
                s.kill()
            redis.stop()


CASES = {"counts": counts, "options": options, "readyz_redis": readyz_redis}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CASES)} TOOL LOOP [PROMTOOL [REDIS_SERVER]]")
    signal.alarm(170)  # a hung test fails rather than waiting for meson's timeout
    CASES[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
