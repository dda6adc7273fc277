#!/usr/bin/env python3
"""Top.gg v1 integrations through `topgg-webhook listen --integrations`, end to end.

    test_integrations.py CASE TOOL LOOP [REDIS_SERVER]

flow           (memory store) integration.create → exactly {"webhook_url":…,"routes":[…]} under
               --public-url; a vote signed with the connection's secret at the webhook_url →
               handled, its line carrying "connection_id"; the same vote signed with another
               connection's secret or the integration's own → 403; webhook.test through a
               connection; a retried create → the same answer; a create with a new secret
               (rotation) → the old secret 403, the new one accepted; a create with a stale
               timestamp → 403 and nothing changed; an unknown connection → 500 (it may be on its
               way from another listener: Top.gg retries), then 403; integration.delete → the
               connection's deliveries 403; a create or delete at a connection's own URL (signed
               with its secret) → 403, nothing changed; one at the bot's own --v1 route → the
               tool's line, the registry untouched; no secret ever on stdout or stderr
restart_sqlite stopped and started on the same SQLite file: the connection still works, a deleted one
               stays refused;
               `integrations list` shows it (without its secret), `integrations forget` ends it
               for the running listener too
restart_redis  the same with Redis
redis_two      two listeners on one Redis: a connection made through one is served by the other;
               deleted through the other, refused by the first
exec_env       --exec children never get $TOPGG_INTEGRATION_SECRET (the plain --integrations ROUTE form)
log_flood      2,000 deliveries to made-up connections: a handful of stderr lines, not one each
secret_flag    without --integrations, an integration.create line carries "webhook_secret" only
               with --print-integration-secret
options        refusals (exit 2) and --help

Deadlines are generous (a busy machine): the tests assert answers, order and contents, never speed.
Standard library only; the helpers are tests/examples/test_examples.py's and tests/dedup/test_dedup.py's.
"""
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, os.path.join(HERE, "..", "dedup"))
sys.path.insert(0, os.path.join(HERE, "..", "votes"))
from test_examples import ENV, TIMEOUT_MULTIPLIER, V1_SECRET, Child, check  # noqa: E402
from test_dedup import RedisServer, kill_all  # noqa: E402
from test_votes import skip_without  # noqa: E402

INTEGRATION_SECRET = "whs_integration-own-secret"
PUBLIC = "https://bot.example.com"
IENV = dict(ENV, TOPGG_INTEGRATION_SECRET=INTEGRATION_SECRET)
WAIT = 30 * TIMEOUT_MULTIPLIER  # seconds: for something that must come, on a busy machine
PROJECT = {"id": "803190510032756736", "type": "bot", "platform": "discord", "platform_id": "264811613708746752"}
USER = {"id": "tg-owner", "platform_id": "111111111111111111", "name": "owner", "avatar_url": None}


def post(port, path, body, secret, t=None):
    """`body` (a dict) signed with `secret` at time `t` (now): (status, body text)."""
    raw = json.dumps(body).encode()
    t = str(int(time.time()) if t is None else int(t))
    mac = hmac.new(secret.encode(), t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", path, body=raw,
                  headers={"Content-Type": "application/json", "x-topgg-signature": f"t={t},v1={mac}"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def create(port, connection, secret, t=None, signed_with=INTEGRATION_SECRET):
    return post(port, "/integrations", {"type": "integration.create", "data": {
        "connection_id": connection, "webhook_secret": secret, "project": PROJECT, "user": USER}}, signed_with, t)


def delete(port, connection):
    return post(port, "/integrations", {"type": "integration.delete", "data": {"connection_id": connection}},
                INTEGRATION_SECRET)[0]


def vote(port, connection, secret, voter="222222222222222222", created="2025-06-01T12:00:00.0000000Z"):
    return post(port, "/integrations/" + connection, {"type": "vote.create", "data": {
        "id": "v-" + voter + created, "weight": 1, "created_at": created, "expires_at": "2025-06-02T00:00:00Z",
        "project": PROJECT, "user": {"id": "tg-" + voter, "platform_id": voter, "name": "voter"}}}, secret)[0]


def test(port, connection, secret):
    return post(port, "/integrations/" + connection,
                {"type": "webhook.test", "data": {"project": PROJECT, "user": USER}}, secret)[0]


def handshake(connection, events=("vote.create",)):
    """The exact answer Top.gg expects."""
    return json.dumps({"webhook_url": f"{PUBLIC}/integrations/{connection}", "routes": list(events)},
                      separators=(",", ":"))


def listen(tool, loop, *extra, env=IENV):
    return Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--integrations",
                  "/integrations", "--public-url", PUBLIC + "/", *extra], env=env)


def lines(child, event=None):
    out = [json.loads(x) for x in child.stdout_now().splitlines()]
    return [e for e in out if event is None or e["event"] == event]


def wait_status(what, f, want, within=WAIT):
    """Calls f() until it answers `want` (another listener polls the store about once a second)."""
    deadline = time.monotonic() + within
    got = None
    while time.monotonic() < deadline:
        got = f()
        if got == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: {got}, not {want}, within {within} s")


def no_secret_anywhere(child, *secrets):
    child.stdout_now()
    for s in secrets:
        check(s.encode() not in child.out and s.encode() not in child.err, f"{s} never on stdout or stderr")


def flow(tool, loop, _redis=None):
    a = listen(tool, loop, "--integration-events", "vote.create,webhook.test", "--v1", "/topgg")
    try:
        status, body = create(a.port, "c1", "whs_c1_first")
        check(status == 200 and body == handshake("c1", ("vote.create", "webhook.test")),
              f"create c1: the handshake answer, exactly ({status} {body})")
        check(create(a.port, "c2", "whs_c2")[0] == 200, "create c2")
        check(vote(a.port, "c1", "whs_c1_first") == 204, "a vote signed with c1's secret at c1's URL: handled")
        got = lines(a, "vote.create")
        check(len(got) == 1 and got[0]["connection_id"] == "c1" and got[0]["user"]["platform_id"] ==
              "222222222222222222", f"its line carries connection_id c1: {got}")
        check(vote(a.port, "c1", "whs_c2", voter="3") == 403, "the same vote signed with c2's secret at c1's URL: 403")
        check(vote(a.port, "c1", INTEGRATION_SECRET, voter="3") == 403, "signed with the integration's own: 403")
        check(vote(a.port, "c2", "whs_c1_first", voter="3") == 403, "c1's secret at c2's URL: 403")
        check(vote(a.port, "nobody", "whs_c1_first", voter="3") == 500,
              "an unknown connection: first 500 (another listener may have made it; Top.gg retries)")
        wait_status("an unknown connection, once the store was read again",
                    lambda: vote(a.port, "nobody", "whs_c1_first", voter="3"), 403)
        check(test(a.port, "c2", "whs_c2") == 204, "webhook.test through c2")
        got = lines(a, "webhook.test")
        check(len(got) == 1 and got[0]["connection_id"] == "c2", f"webhook.test line with connection_id c2: {got}")
        check(len(lines(a, "vote.create")) == 1, "no line for the refused ones")
        # A retry of the same create (its answer was lost): the same answer again.
        status, body = create(a.port, "c1", "whs_c1_first")
        check(status == 200 and body == handshake("c1", ("vote.create", "webhook.test")), "a retried create: same answer")
        # Rotation: the old secret stops at once.
        check(create(a.port, "c1", "whs_c1_second")[0] == 200, "a create for c1 with a new secret (rotation)")
        check(vote(a.port, "c1", "whs_c1_first", voter="4") == 403, "c1's old secret: 403 after the rotation")
        check(vote(a.port, "c1", "whs_c1_second", voter="4") == 204, "c1's new secret: handled")
        # A stale create (a replay from long ago) changes nothing.
        status, _ = create(a.port, "c1", "whs_c1_replayed", t=time.time() - 3600)
        check(status == 403, f"a create with a timestamp an hour old: 403 ({status})")
        check(vote(a.port, "c1", "whs_c1_replayed", voter="5") == 403, "the stale create's secret was not taken")
        check(vote(a.port, "c1", "whs_c1_second", voter="5") == 204, "c1's secret unchanged")
        # The integration's own endpoint refuses a connection's secret.
        check(create(a.port, "c3", "whs_c3", signed_with="whs_c2")[0] == 403,
              "a create signed with a connection's secret: 403")
        # Only /integrations manages connections (issue 22): c2's holder cannot rotate or end c2 or
        # another connection at its own URL.
        status, _ = post(a.port, "/integrations/c2", {"type": "integration.create", "data": {
            "connection_id": "c2", "webhook_secret": "whs_c2_taken", "project": PROJECT, "user": USER}}, "whs_c2")
        check(status == 403, f"a create at c2's own URL, signed with c2's secret: 403 ({status})")
        check(vote(a.port, "c2", "whs_c2_taken", voter="5") == 403, "its secret was not taken")
        check(vote(a.port, "c2", "whs_c2", voter="55") == 204, "c2's secret unchanged")
        status, _ = post(a.port, "/integrations/c2", {"type": "integration.delete", "data": {"connection_id": "c1"}},
                         "whs_c2")
        check(status == 403, f"a delete of c1 at c2's URL: 403 ({status})")
        check(vote(a.port, "c1", "whs_c1_second", voter="51") == 204, "c1 still works")
        a.wait_for("err", r"only /integrations manages connections")
        # The bot's own --v1 route: integration.create is the tool's usual line, the registry untouched.
        status, _ = post(a.port, "/topgg", {"type": "integration.create", "data": {
            "connection_id": "c2", "webhook_secret": "whs_c2_other", "project": PROJECT, "user": USER}}, V1_SECRET)
        check(status == 204, f"an integration.create at --v1 /topgg: answered by the tool's line ({status})")
        got = lines(a, "integration.create")
        check(len(got) == 1 and got[0]["connection_id"] == "c2" and got[0]["route"] == "/topgg", f"its line: {got}")
        check(vote(a.port, "c2", "whs_c2_other", voter="52") == 403, "the registry did not take its secret")
        check(vote(a.port, "c2", "whs_c2", voter="56") == 204, "c2 unchanged")
        check(delete(a.port, "c1") == 204, "integration.delete c1")
        check(vote(a.port, "c1", "whs_c1_second", voter="6") == 403, "c1 after its delete: 403")
        check(vote(a.port, "c2", "whs_c2", voter="6") == 204, "c2 still works")
        ids = [e["connection_id"] for e in lines(a, "vote.create")]
        check(ids == ["c1", "c1", "c1", "c2", "c1", "c2", "c2"], f"every handled vote, with its connection: {ids}")
        check(a.end() == 0, "exits 0 on SIGTERM")
        no_secret_anywhere(a, "whs_c1_first", "whs_c1_second", "whs_c2", "whs_c1_replayed", "whs_c2_taken",
                           INTEGRATION_SECRET)
    finally:
        a.kill()


def restarted(tool, loop, store):
    a = listen(tool, loop, "--dedup", store)
    try:
        check(create(a.port, "keep-1", "whs_keep")[0] == 200, "create keep-1")
        check(create(a.port, "gone-2", "whs_gone")[0] == 200, "create gone-2")
        check(delete(a.port, "gone-2") == 204, "delete gone-2")
        check(a.end() == 0, "stopped")
    finally:
        a.kill()
    b = listen(tool, loop, "--dedup", store)
    try:
        check(vote(b.port, "keep-1", "whs_keep") == 204, "after the restart keep-1 still works")
        # Unknown to the new process: 500 (Top.gg retries) until it read the store again, then 403.
        wait_status("gone-2 stays deleted", lambda: vote(b.port, "gone-2", "whs_gone"), 403)
        check([e["connection_id"] for e in lines(b, "vote.create")] == ["keep-1"], "the vote's line names keep-1")
        listed = subprocess.run([tool, "integrations", "list", "--dedup", store], env=IENV, capture_output=True,
                                text=True, timeout=WAIT)
        rows = [json.loads(x) for x in listed.stdout.splitlines()]
        check(listed.returncode == 0 and [r["connection_id"] for r in rows] == ["keep-1"] and
              rows[0]["project"]["id"] == PROJECT["id"] and "whs_keep" not in listed.stdout,
              f"integrations list: keep-1, without its secret ({listed.stdout!r} {listed.stderr!r})")
        gone = subprocess.run([tool, "integrations", "forget", "keep-1", "--dedup", store], env=IENV,
                              capture_output=True, text=True, timeout=WAIT)
        check(gone.returncode == 0, f"integrations forget keep-1 ({gone.stderr!r})")
        again = subprocess.run([tool, "integrations", "forget", "keep-1", "--dedup", store], env=IENV,
                               capture_output=True, text=True, timeout=WAIT)
        check(again.returncode == 1, "forgetting it twice: exit 1")
        wait_status("keep-1 once forgotten by the operator", lambda: vote(b.port, "keep-1", "whs_keep", voter="7"),
                    403)
        check(b.end() == 0, "stopped")
        no_secret_anywhere(b, "whs_keep", "whs_gone")
    finally:
        b.kill()


def restart_sqlite(tool, loop, _redis=None):
    with tempfile.TemporaryDirectory() as tmp:
        restarted(tool, loop, "sqlite:" + os.path.join(tmp, "topgg.db"))


def restart_redis(tool, loop, program=None):
    program = skip_without(program)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        try:
            restarted(tool, loop, f"redis://127.0.0.1:{redis.port}")
        finally:
            redis.stop()


def redis_two(tool, loop, program=None):
    program = skip_without(program)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        a = b = None
        try:
            url = f"redis://127.0.0.1:{redis.port}"
            a, b = listen(tool, loop, "--dedup", url), listen(tool, loop, "--dedup", url)
            check(create(a.port, "shared", "whs_shared")[0] == 200, "create through the first listener")
            wait_status("a vote through the second", lambda: vote(b.port, "shared", "whs_shared"), 204)
            check([e["connection_id"] for e in lines(b, "vote.create")] == ["shared"], "the second's line")
            check(delete(b.port, "shared") == 204, "delete through the second listener")
            wait_status("the first, once deleted through the second",
                        lambda: vote(a.port, "shared", "whs_shared", voter="8"), 403)
            check(create(b.port, "shared", "whs_rotated")[0] == 200, "made again through the second, new secret")
            wait_status("the first takes the new secret", lambda: vote(a.port, "shared", "whs_rotated", voter="9"), 204)
            check(vote(a.port, "shared", "whs_shared", voter="10") == 403, "and not the old one")
            check(a.end() == 0 and b.end() == 0, "both stopped")
        finally:
            kill_all((a, b), redis)


def exec_env(tool, loop, _redis=None):
    """The integration's own secret (plain --integrations ROUTE: from $TOPGG_INTEGRATION_SECRET) never
    reaches an --exec command's environment (issue 22), as the other secrets."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "env.txt")
        a = listen(tool, loop, "--exec", f"env > {out}")
        try:
            check(create(a.port, "c1", "whs_c1")[0] == 200, "create c1 (its command ran)")
            check(vote(a.port, "c1", "whs_c1") == 204, "a vote through c1 (its command ran)")
            check(a.end() == 0, "exits 0 on SIGTERM")
        finally:
            a.kill()
        with open(out) as f:
            env_text = f.read()
        check("PATH=" in env_text, "the command's environment was written")
        check(INTEGRATION_SECRET not in env_text, "the command's environment does not hold the integration's secret")
        check("TOPGG_INTEGRATION_SECRET=" not in env_text, "nor the variable")
        check("TOPGG_V1_SECRET=" not in env_text, "(as the other secrets)")


def log_flood(tool, loop, _redis=None):
    """Deliveries to made-up connections, before any signature check: a line each was a log
    flood for anyone (issue 22). The tool's rate-limited refusal lines tell them."""
    a = listen(tool, loop)
    try:
        check(create(a.port, "real", "whs_real")[0] == 200, "create a real connection")
        a.wait_for("err", r"connection made: real")
        a.pump(0.5)
        before = len(a.err.splitlines())
        n = 1000
        ids = [f"made-up-{i}" for i in range(n)]
        def each():  # reading stderr meanwhile, so that a line each fails below, not by a full pipe
            got = []
            for i in ids:
                got.append(vote(a.port, i, "whs_guess"))
                a.pump(0)
            return got
        first = each()  # unknown: 500 (reading the store again), or 403
        check(set(first) <= {500, 403}, f"made-up connections: 500 or 403 ({set(first)})")
        wait_status("the last made-up connection, once the store was read again",
                    lambda: vote(a.port, ids[-1], "whs_guess"), 403)
        second = each()
        # An id refused 403 is forgotten (a made-up one must not fill memory): next time 500 again.
        check(set(second) <= {500, 403}, f"again: 500 or 403 ({set(second)})")
        # (the last one had its 403 in wait_status above)
        check(first.count(403) + second.count(403) >= n - 1, f"each made-up connection refused 403 at least once ({first.count(403)}, {second.count(403)})")
        check(vote(a.port, "real", "whs_real") == 204, "the real connection still works")
        check(a.end() == 0, "exits 0 on SIGTERM")
        written = a.err.splitlines()[before:]
        per_id = [x for x in written if b"made-up-" in x and b"not connected" in x]
        check(not per_id, f"no line per made-up connection ({len(per_id)})")
        check(len(written) < 60, f"2,001 refusals: a handful of lines, not one each ({len(written)})")
    finally:
        a.kill()


def secret_flag(tool, loop, _redis=None):
    for flag, shown in (((), False), (("--print-integration-secret",), True)):
        c = Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--v1", "/topgg", *flag],
                  env=IENV)
        try:
            status, _ = post(c.port, "/topgg", {"type": "integration.create", "data": {
                "connection_id": "c9", "webhook_secret": "whs_printed", "project": PROJECT, "user": USER}}, V1_SECRET)
            check(status == 204, "integration.create answered by the tool's line")
            got = lines(c, "integration.create")
            check(len(got) == 1 and got[0]["connection_id"] == "c9" and ("webhook_secret" in got[0]) == shown,
                  f"webhook_secret in the line {'with' if shown else 'without'} {flag}: {got}")
            c.end()
        finally:
            c.kill()


def options(tool, loop, _redis=None):
    def refused(*args, why):
        r = subprocess.run([tool, "listen", "--port", "0", "--loop", loop, *args], env=IENV, capture_output=True,
                           text=True, timeout=WAIT)
        check(r.returncode == 2 and why in r.stderr, f"refused {args}: {why!r} in {r.stderr!r}")
    refused("--integrations", "/integrations", why="--public-url")
    refused("--v1", "/topgg", "--public-url", PUBLIC, why="--public-url needs --integrations")
    refused("--integrations", "/i", "--public-url", "ftp://x", why="public_url")
    refused("--integrations", "/i", "--public-url", PUBLIC, "--integration-events", "Vote!", why="event name")
    refused("--integrations", "/i", "--public-url", PUBLIC, "--no-dedup", why="--no-dedup")
    refused("--integrations", "/i", "--public-url", PUBLIC, "--v1", "/i", why="/i")
    r = subprocess.run([tool, "listen", "--port", "0", "--integrations", "/i", "--public-url", PUBLIC],
                       env=ENV, capture_output=True, text=True, timeout=WAIT)
    check(r.returncode == 2 and "TOPGG_INTEGRATION_SECRET" in r.stderr, f"no integration secret: {r.stderr!r}")
    h = subprocess.run([tool, "listen", "--help"], capture_output=True, text=True, timeout=WAIT)
    check("--integrations ROUTE" in h.stdout and "--print-integration-secret" in h.stdout, "listen --help")
    h = subprocess.run([tool, "integrations", "--help"], capture_output=True, text=True, timeout=WAIT)
    check(h.returncode == 0 and "forget" in h.stdout, "integrations --help")
    r = subprocess.run([tool, "integrations", "list", "--dedup", "memory"], capture_output=True, text=True,
                       timeout=WAIT)
    check(r.returncode == 2, "integrations list --dedup memory: exit 2")


CASES = {f.__name__: f for f in (flow, restart_sqlite, restart_redis, redis_two, exec_env, log_flood, secret_flag,
                                  options)}

if __name__ == "__main__":
    case, tool, loop = sys.argv[1:4]
    CASES[case](tool, loop, *(sys.argv[4:5]))
    print("PASS", case)
