#!/usr/bin/env python3
"""De-duplication across restarts and across receivers, through `topgg-webhook listen`.

    test_dedup.py sqlite_restart TOOL LOOP
    test_dedup.py redis_shared TOOL LOOP [REDIS_SERVER]
    test_dedup.py redis_exec TOOL LOOP [REDIS_SERVER]
    test_dedup.py redis_probe TOOL LOOP [REDIS_SERVER]

sqlite_restart: a vote answered by `listen --dedup sqlite:PATH`, the listener
restarted on the same file, Top.gg's retry delivered: no second event line.

redis_shared: a real redis-server on a free loopback port in a temporary
directory (no persistence), two listeners sharing it (`--dedup redis://…`):
the same delivery sent to both at once, then to one after the other → one
event line in all; Redis stopped mid-run → 503 and one line per outage on each
listener's stderr; Redis back → deliveries succeed again; a Top.gg-like sender
retrying across the outage loses and doubles nothing. Exits 77 (skipped) only
when redis-server is not installed (tools/setup installs it).

redis_probe: Redis is asked before listening. A wrong password, none where one
is required, one where none is set, a db out of range, a host name that does
not exist: exit 1 and one line, the password in none. Refused: one warning
line, the tool listens, answers 503, and handles votes once Redis is started.
A password in `--dedup` on the command line is warned about.

Legacy (bot vote) and v1 (vote.create) deliveries both. Standard library only;
the child-process helpers are tests/examples/test_examples.py's.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from test_examples import BOT, DBL_AUTH, ENV, PATIENCE, TIMEOUT_MULTIPLIER, V1_SECRET, Child, check  # noqa: E402

PROJECT = "803190510032756736"
CREATED_AT = "2026-02-09T00:47:14.2510149+00:00"


# ---- deliveries ----------------------------------------------------------------

def post(port, path, body, headers, timeout=PATIENCE):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def legacy_request(user):
    body = json.dumps({"bot": BOT, "user": user, "type": "upvote", "isWeekend": False, "query": "?ref=dedup"})
    return "/dbl", body.encode(), {"Content-Type": "application/json", "Authorization": DBL_AUTH}


def v1_request(user, trace):
    """vote.create by Top.gg user `user`, signed now; `trace` changes with each retry, as Top.gg's does."""
    body = json.dumps({"type": "vote.create", "data": {
        "id": "808499215864008704", "weight": 1, "created_at": CREATED_AT,
        "expires_at": "2026-02-09T12:47:14.2510149+00:00",
        "project": {"id": PROJECT, "type": "bot", "platform": "discord", "platform_id": BOT},
        "user": {"id": user, "platform_id": "160105994217586689", "name": "voter", "avatar_url": None}}}).encode()
    t = str(int(time.time()))
    mac = hmac.new(V1_SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return "/topgg", body, {"Content-Type": "application/json", "x-topgg-signature": f"t={t},v1={mac}",
                            "x-topgg-trace": trace}


def deliver(port, kind, user, trace="trace-1"):
    """One delivery of `kind` ("dbl" or "v1") by `user`; its status."""
    return post(port, *(legacy_request(user) if kind == "dbl" else v1_request(user, trace)))


SUCCESS = {"dbl": 200, "v1": 204}
TAGS = {"both": 1, "down": 2, "stream": 3}


def voter(kind, tag, n):
    """Voter `n` of a phase: a Discord ID (a number) for bot votes, any Top.gg user ID for v1."""
    return (kind, str(TAGS[tag] * 100_000 + n) if kind == "dbl" else f"{tag}-{n}")


def event_keys(*children):
    """(kind, user) of every event line the children printed, in order."""
    keys = []
    for c in children:
        for line in c.stdout_now().splitlines():
            e = json.loads(line)
            keys.append(("dbl", e["user"]) if e["event"] == "dbl_vote" else ("v1", e["user"]["id"]))
    return keys


def settle(*children):
    """Returns once every child printed every line for what it answered so far:
    a new voter's line comes after them (one loop thread prints in order)."""
    for c in children:
        user = f"9{time.monotonic_ns() % 10**17}"
        check(deliver(c.port, "dbl", user) == 200, f"a sentinel vote to :{c.port} is answered 200")
        c.wait_for("out", rf'"user":"{user}"', PATIENCE)


def forget_sentinels(keys):
    return [k for k in keys if not (k[0] == "dbl" and k[1].startswith("9"))]


def listen(tool, loop, *extra):
    return Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl",
                  "--v1", "/topgg", *extra])


# ---- SQLite: survives a restart ------------------------------------------------------

def sqlite_restart(tool, loop):
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "dedup.db")
        s = listen(tool, loop, "--dedup", "sqlite:" + db)
        try:
            check(deliver(s.port, "dbl", "1001") == 200, "a bot vote is answered 200")
            check(deliver(s.port, "v1", "u-1001", "trace-a") == 204, "a vote.create is answered 204")
            check(deliver(s.port, "dbl", "1001") == 200, "its retry to the same process is answered 200")
            s.wait_for("err", r"POST /dbl from [^:]+:[0-9]+: a retry of a delivery already handled: answered 200")
            settle(s)
            check(forget_sentinels(event_keys(s)) == [("dbl", "1001"), ("v1", "u-1001")],
                  "one line per vote before the restart")
            s.stop()
        finally:
            s.kill()
        check(os.path.getsize(db) > 0, "the SQLite file exists")

        s = listen(tool, loop, "--dedup", "sqlite:" + db)
        try:
            check(deliver(s.port, "dbl", "1001") == 200, "after a restart on the same file, the retry is answered 200")
            check(deliver(s.port, "v1", "u-1001", "trace-b") == 204,
                  "and the v1 retry (another trace, signed anew) is answered 204")
            s.wait_for("err", r"POST /dbl from [^:]+:[0-9]+: a retry of a delivery already handled: answered 200")
            s.wait_for("err", r"POST /topgg from [^:]+:[0-9]+: a retry of a delivery already handled: answered 204")
            check(deliver(s.port, "dbl", "1002") == 200, "a new voter is answered 200")
            settle(s)
            check(forget_sentinels(event_keys(s)) == [("dbl", "1002")],
                  "no second line for either retry; the new voter's line only")
            s.stop()
        finally:
            s.kill()

        # The control: without the file the same retry is handled again (the test can fail).
        s = listen(tool, loop, "--dedup", "sqlite:" + os.path.join(tmp, "other.db"))
        try:
            check(deliver(s.port, "dbl", "1001") == 200, "with another file the retry is answered 200")
            settle(s)
            check(forget_sentinels(event_keys(s)) == [("dbl", "1001")], "and printed: that file never saw it")
            s.stop()
        finally:
            s.kill()


# ---- Redis: shared by two receivers, fail closed during an outage ----------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1, in `directory`, without persistence."""

    def __init__(self, program, directory, *extra):
        self.program, self.dir, self.proc, self.extra = program, directory, None, list(extra)
        self.log = os.path.join(directory, "redis.log")
        for _ in range(5):
            self.port = free_port()
            if self._start_once():
                return
        raise AssertionError(f"redis-server did not start: {self._log_tail()}")

    def _log_tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def _start_once(self):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.dir, "--daemonize", "no", "--logfile", "", *self.extra],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + PATIENCE  # its start, on a busy machine
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # exited: the port was taken
                return False
            if self.ping():
                return True
            time.sleep(0.02)
        self.stop()
        return False

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))  # serving, with or without a password
        except OSError:
            return False

    def command(self, *args):
        """One command over RESP; the raw reply."""
        msg = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=PATIENCE) as s:
            s.sendall(msg.encode())
            return s.recv(65536).decode()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # redis-server closes every connection and exits
            self.proc.wait(10)

    def restart(self):
        for _ in range(50):  # the port may linger briefly
            if self._start_once():
                return
            time.sleep(0.1)
        raise AssertionError(f"redis-server did not restart on port {self.port}: {self._log_tail()}")


def outage_lines(child, port):
    """(begin, end) lines the store wrote about outages of redis-server `port`."""
    err = child.err.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if f"de-duplication store: redis 127.0.0.1:{port}:" in ln]
    begin = [ln for ln in lines if "claims answer unavailable until it is back" in ln]
    end = [ln for ln in lines if "answering again" in ln]
    return begin, end, lines


def at_once(ports, kind, user):
    """The same delivery sent to every port at the same moment (connections opened first)."""
    path, body, headers = legacy_request(user) if kind == "dbl" else v1_request(user, "trace-" + user)
    barrier = threading.Barrier(len(ports))
    results = [None] * len(ports)

    def send(i, port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
        try:
            c.connect()
            barrier.wait(PATIENCE)
            c.request("POST", path, body=body, headers=headers)
            r = c.getresponse()
            r.read()
            results[i] = r.status
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = repr(e)
        finally:
            c.close()
    threads = [threading.Thread(target=send, args=(i, p)) for i, p in enumerate(ports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * PATIENCE)
    return results


def until_2xx(ports, kind, user, seconds=20):
    """Delivers like Top.gg: again (to either receiver, alternately) after each 5xx,
    until one is 2xx. Returns (statuses, receiver that answered 2xx)."""
    statuses = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        port = ports[i % len(ports)]
        st = deliver(port, kind, user, f"trace-{user}-{i}")
        statuses.append(st)
        if 200 <= st < 300:
            return statuses, port
        if st != 503:
            raise AssertionError(f"{kind} {user}: answered {st}, not 2xx or 503")
        i += 1
        time.sleep(0.1)
    raise AssertionError(f"{kind} {user}: no 2xx within {seconds} s: {statuses}")


def kill_all(children, redis):
    """A two-listener case's teardown: kills the listeners still running (a check failed) and Redis."""
    for c in children:
        if c:
            c.kill()
    redis.stop()


def redis_shared(tool, loop, program=None):
    program = program or shutil.which("redis-server")
    if not program or not os.access(program, os.X_OK):
        print("SKIP: redis-server is not installed (tools/setup installs the Debian package redis-server)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        url = f"redis://127.0.0.1:{redis.port}"
        a = b = None
        try:
            a = listen(tool, loop, "--dedup", url)
            b = listen(tool, loop, "--dedup", url)
            ports = [a.port, b.port]

            # 1. The same delivery to both receivers at once: one event; the other is a retry
            #    in progress (503, Top.gg delivers again) or of a handled delivery (2xx).
            voters = [voter(kind, "both", n) for n in range(12) for kind in ("dbl", "v1")]
            for kind, user in voters:
                got = at_once(ports, kind, user)
                ok = [s for s in got if s == SUCCESS[kind]]
                if not (len(ok) >= 1 and all(s in (SUCCESS[kind], 503) for s in got)):
                    raise AssertionError(f"{kind} {user} sent to both at once: answered {got}")
            check(True, f"{len(voters)} deliveries, each sent to both receivers at once: at least one 2xx, "
                  "the other 2xx or 503")
            # 2. Then again, to one receiver after the other: answered without an event.
            for kind, user in voters:
                for port in ports:
                    st = deliver(port, kind, user, "trace-again")
                    if st != SUCCESS[kind]:
                        raise AssertionError(f"{kind} {user} again to :{port}: answered {st}")
            check(True, "each sent again to one receiver, then the other: 2xx")
            settle(a, b)
            keys = forget_sentinels(event_keys(a, b))
            check(sorted(keys) == sorted(voters) and len(keys) == len(voters),
                  f"exactly one event line per delivery across both receivers ({len(keys)} lines, "
                  f"{len(voters)} deliveries)")
            check(redis.command("EXISTS", f"topgg:v1/vote.create/%2Ftopgg/{PROJECT}/both-0/1770598034").startswith(":1"),
                  "the keys are in the shared Redis")

            # 3. Redis stopped mid-run: 503 (fail closed), no event, one line per outage.
            check(not outage_lines(a, redis.port)[2] and not outage_lines(b, redis.port)[2],
                  "no store error line while Redis answers")
            redis.stop()
            refused = 0
            down_voters = [voter(kind, "down", n) for n in range(4) for kind in ("dbl", "v1")]
            for kind, user in down_voters:
                for port in ports:
                    st = deliver(port, kind, user)
                    if st != 503:
                        raise AssertionError(f"{kind} {user} to :{port} while Redis is stopped: answered {st}")
                    refused += 1
            check(True, f"{refused} deliveries while Redis is stopped: each answered 503")
            for c in (a, b):
                c.wait_for("err", r"claims answer unavailable until it is back")
            time.sleep(0.5)  # reconnection attempts go on meanwhile: still one line each
            a.stdout_now(), b.stdout_now()
            for c in (a, b):
                begin, end, lines = outage_lines(c, redis.port)
                check(len(begin) == 1 and not end, f"receiver :{c.port}: one error line for the outage, not one "
                      f"per request ({len(lines)} store lines: {lines})")
            per_request = sum(c.err.decode(errors="replace").count(": idempotency store unavailable") for c in (a, b))
            print(f"note: besides, the tool's error hook wrote {per_request} 'refused 503 …: idempotency store "
                  f"unavailable' lines, one per refused delivery ({refused})", flush=True)

            # 4. Redis back: deliveries succeed again — the refused ones (retried as Top.gg
            #    would) and new ones; a sender retrying across a second outage loses and
            #    doubles nothing.
            redis.restart()
            for kind, user in down_voters:
                until_2xx(ports, kind, user)
            check(True, "after Redis is back, Top.gg's retries of the refused deliveries are answered 2xx")
            for n, c in enumerate((a, b)):  # each receiver's own store says it works again at its next claim
                until_2xx([c.port], "dbl", str(TAGS["down"] * 100_000 + 50 + n))
                down_voters.append(voter("dbl", "down", 50 + n))
                c.wait_for("err", r"answering again after")
                begin, end, _ = outage_lines(c, redis.port)
                check(len(begin) == 1 and len(end) == 1, f"receiver :{c.port}: one line when Redis answers again")

            stream = [voter(kind, "stream", n) for n in range(30) for kind in ("dbl", "v1")]
            results = {}
            errors = []

            def sender():
                try:
                    for kind, user in stream:
                        statuses, port = until_2xx(ports, kind, user, 30)
                        other = ports[1 - ports.index(port)]
                        again = deliver(other, kind, user, "dup")  # a late duplicate to the other receiver
                        results[(kind, user)] = (statuses, again)
                        time.sleep(0.02)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)
            t = threading.Thread(target=sender)
            t.start()
            time.sleep(0.3)
            redis.stop()  # mid-stream
            time.sleep(1.0)
            redis.restart()
            t.join(60)
            check(not t.is_alive() and not errors, f"the retrying sender finished ({errors})")
            retried = sum(1 for st, _ in results.values() if 503 in st)
            check(retried > 0, f"the second outage refused some deliveries ({retried} of {len(stream)} "
                  "needed a retry)")
            check(all(again in (SUCCESS[k], 503) for (k, _), (_, again) in results.items()),
                  "late duplicates to the other receiver: 2xx, or 503 while Redis was away")
            settle(a, b)
            keys = forget_sentinels(event_keys(a, b))
            want = voters + down_voters + stream
            doubled = [k for k in set(keys) if keys.count(k) > 1]
            lost = [k for k in want if k not in keys]
            check(not doubled and not lost and len(keys) == len(want),
                  f"across both outages no event lost or doubled ({len(keys)} lines for {len(want)} deliveries; "
                  f"lost {lost[:5]}, doubled {doubled[:5]})")
            for c in (a, b):
                begin, end, lines = outage_lines(c, redis.port)
                check(len(begin) == len(end) <= 2, f"receiver :{c.port}: at most one begin and one end line per "
                      f"outage ({len(begin)} and {len(end)})")
            a.stop()
            b.stop()
        finally:
            kill_all((a, b), redis)


def redis_exec(tool, loop, program=None):
    """Two listeners sharing Redis, each with --exec and one command at a time, each vote sent
    to both at once, then retried like Top.gg after every 5xx: every vote's command ran exactly
    once, and a delivery answered 503 never ran it (issue 23, item 1)."""
    program = program or shutil.which("redis-server")
    if not program or not os.access(program, os.X_OK):
        print("SKIP: redis-server is not installed (tools/setup installs the Debian package redis-server)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        runs = os.path.join(tmp, "runs")
        a = b = None
        try:
            flags = ("--dedup", f"redis://127.0.0.1:{redis.port}", "--exec", f"cat >> '{runs}'; sleep 0.3",
                     "--exec-jobs", "1", "--ack-timeout", "1500")
            a, b = listen(tool, loop, *flags), listen(tool, loop, *flags)
            users = [str(TAGS["both"] * 100_000 + 900 + i) for i in range(6)]
            first = {}
            senders = [threading.Thread(target=lambda u=u: first.__setitem__(u, at_once([a.port, b.port], "dbl", u)))
                       for u in users]
            for t in senders:
                t.start()
            for t in senders:
                t.join(30)

            def ran():
                with open(runs) as f:
                    return [json.loads(line)["user"] for line in f.read().splitlines() if line]
            answered = {u: [st for st in first[u] if st == 200] for u in users}
            check(all(len(v) <= 1 for v in answered.values()),
                  f"a vote sent to both at once is answered 2xx by one at most ({first})")
            check(sorted(ran()) == sorted(u for u in users if answered[u]),
                  f"only the deliveries answered 2xx ran their command ({ran()}; first answers {first})")
            for u in users:  # Top.gg's retries, to either receiver
                if not answered[u]:
                    until_2xx([a.port, b.port], "dbl", u)
            check(sorted(ran()) == sorted(users), f"in the end every vote ran exactly once ({sorted(ran())})")
            settle(a, b)
            keys = forget_sentinels(event_keys(a, b))
            check(sorted(k[1] for k in keys) == sorted(users), f"and has one stdout line ({keys})")
            a.stop()
            b.stop()
        finally:
            kill_all((a, b), redis)


def redis_probe(tool, loop, program=None):
    """Redis asked at start (issue 24): a misconfiguration exits 1 with one line before anything
    listens; a Redis that does not answer yet is one warning line, then 503 until it does."""
    program = program or shutil.which("redis-server")
    if not program or not os.access(program, os.X_OK):
        print("SKIP: redis-server is not installed (tools/setup installs the Debian package redis-server)")
        sys.exit(77)
    password = "hunter2-probe"
    argv = [tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl"]
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "locked"))
        os.mkdir(os.path.join(tmp, "open"))
        locked = RedisServer(program, os.path.join(tmp, "locked"), "--requirepass", password)
        unlocked = RedisServer(program, os.path.join(tmp, "open"))
        try:
            host = "topgg-webhook-test.invalid"  # RFC 2606: never resolves
            try:
                socket.getaddrinfo(host, locked.port)
                no_such_host = False
            except socket.gaierror as e:
                no_such_host = e.errno == socket.EAI_NONAME
            cases = [
                (f"redis://:wrong-secret@127.0.0.1:{locked.port}", f"redis://127.0.0.1:{locked.port}/0",
                 "AUTH failed: WRONGPASS", "a wrong password"),
                (f"redis://127.0.0.1:{locked.port}", f"redis://127.0.0.1:{locked.port}/0", "NOAUTH",
                 "no password where one is required"),
                (f"redis://:{password}@127.0.0.1:{unlocked.port}", f"redis://127.0.0.1:{unlocked.port}/0",
                 "AUTH failed: ERR AUTH <password> called without any password configured",
                 "a password where none is set"),
                (f"redis://:{password}@127.0.0.1:{locked.port}/99", f"redis://127.0.0.1:{locked.port}/99",
                 "SELECT failed: ERR DB index is out of range", "a db out of range"),
            ]
            if no_such_host:
                cases.append((f"redis://:{password}@{host}:{locked.port}", f"redis://{host}:{locked.port}/0",
                              f"cannot resolve {host}", "a host name that does not exist"))
            else:  # EAI_AGAIN where no name server answers: rightly transient, not tested here
                print(f"skip (one case): this machine's lookup of {host} does not fail with EAI_NONAME")
            for url, where, why, what in cases:
                p = subprocess.run([*argv, "--dedup", "redis"], env=dict(ENV, TOPGG_REDIS_URL=url),
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
                lines = p.stderr.splitlines()
                check(p.returncode == 1, f"{what}: exit 1 (got {p.returncode}, stderr {p.stderr!r})")
                check(len(lines) == 1 and lines[0].startswith(
                    f"topgg-webhook: cannot use the de-duplication store {where}: ") and why in lines[0],
                      f"{what}: one line naming the store and why, nothing listened: {p.stderr!r}")
                check("wrong-secret" not in p.stderr and password not in p.stderr, f"{what}: no password in it")

            # A password on the command line is in `ps`: warned about; from $TOPGG_REDIS_URL it is not.
            s = Child([*argv, "--dedup", f"redis://:{password}@127.0.0.1:{locked.port}"])
            try:
                warning = ("topgg-webhook: warning: --dedup with a password is visible to other users in the "
                           "process list; prefer --dedup redis and $TOPGG_REDIS_URL\n")
                err = s.err.decode()
                check(err.startswith(warning) and password not in err,
                      f"--dedup redis://:PASSWORD@...: a warning before listening, without the password: {err!r}")
                check(deliver(s.port, "dbl", "5001") == 200, "and the right password works: a vote is handled")
                s.stop()
            finally:
                s.kill()
            from_env = dict(ENV, TOPGG_REDIS_URL=f"redis://:{password}@127.0.0.1:{locked.port}")
            no_password = f"redis://127.0.0.1:{unlocked.port}"
            for flag, env in ((["--dedup", "redis"], from_env), (["--dedup", no_password], ENV)):
                s = Child([*argv, *flag], env=env)
                try:
                    check("warning" not in s.err.decode(), f"{' '.join(flag)}: no password on the command line, "
                          f"no warning: {s.err.decode()!r}")
                    s.stop()
                finally:
                    s.kill()

            # Refused: the tool says it goes on, answers 503, and works once Redis answers.
            port = unlocked.port
            unlocked.stop()
            s = Child([*argv, "--dedup", f"redis://127.0.0.1:{port}"])
            try:
                lines = s.err.decode().splitlines()
                check(len(lines) == 2 and re.fullmatch(
                    rf"topgg-webhook: warning: the de-duplication store redis://127\.0\.0\.1:{port}/0 does not answer "
                    r"now \(.*refused.*\): starting anyway; deliveries are answered 503 until Redis answers", lines[0])
                      and lines[1].startswith("listening on "),
                      f"refused: one warning line, then it listens: {lines}")
                check(deliver(s.port, "dbl", "5002") == 503, "and answers 503 meanwhile")
                unlocked.restart()
                status, deadline = 503, time.monotonic() + 30
                while status != 200 and time.monotonic() < deadline:  # the store reconnects after its back-off
                    time.sleep(0.2)
                    status = deliver(s.port, "dbl", "5002")
                check(status == 200, f"once Redis answers, the vote is handled ({s.err[-300:]!r})")
                s.stop()
            finally:
                s.kill()
        finally:
            locked.stop()
            unlocked.stop()


CASES = {"sqlite_restart": sqlite_restart, "redis_shared": redis_shared, "redis_exec": redis_exec,
         "redis_probe": redis_probe}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CASES)} TOOL LOOP [REDIS_SERVER]")
    signal.alarm(110 * TIMEOUT_MULTIPLIER)  # a hung test fails rather than waiting for meson's timeout
    CASES[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
