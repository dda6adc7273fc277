#!/usr/bin/env python3
"""`topgg-webhook listen` run as a service: systemd's notifications (a fake
NOTIFY_SOCKET), socket activation (this test holding the socket as systemd
does, and the real systemd-socket-activate), restarts under load, secrets
from files and credentials, SIGHUP, JSON logs, --trust-proxy, the README's
nginx and Caddy configurations through a real proxy, and the unit files.

    test_service.py CASE TOOL LOOP SOURCE_ROOT

Standard library only. Waits are for events, with generous deadlines; no
assertion is about how long something took. Exit 77: skipped (a program the
case needs is not installed).
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

DBL_AUTH = "dbl-test-key"
V1_SECRET = "whs_test-secret"
BOT, USER = "264811613708746752", "160105994217586689"
LISTENING = re.compile(r'listening on http://([^\s"]+):(\d+)')
SKIP = 77

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from test_examples import Child  # noqa: E402  (the process wrapper every driver shares)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def clean_env(**extra):
    """The environment without anything systemd or a test before us may have set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TOPGG_", "LISTEN_", "NOTIFY_", "WATCHDOG_")) and k != "CREDENTIALS_DIRECTORY"}
    env.update(extra)
    return env


class Tool(Child):
    """One `topgg-webhook listen` (test_examples.Child), its port read from a text or JSON
    "listening on" line unless wait_listening is False; stop() returns the exit code."""

    def __init__(self, argv, env, wait_listening=True, pass_fds=(), preexec_fn=None):
        super().__init__(argv, env, preexec_fn=preexec_fn, pass_fds=pass_fds,
                         listening=LISTENING if wait_listening else None)

    def drain(self):
        while self.pump(0):
            pass

    def stop(self, sig=signal.SIGTERM, within=60):
        return self.end(sig, within)


def bot_body(user=USER):
    return json.dumps({"bot": BOT, "user": user, "type": "upvote", "isWeekend": False}).encode()


def bot_request(auth=DBL_AUTH, user=USER, path="/dbl", extra=None):
    body = bot_body(user)
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" \
           f"Authorization: {auth}\r\nContent-Length: {len(body)}\r\n"
    for k, v in (extra or {}).items():
        head += f"{k}: {v}\r\n"
    return head.encode() + b"\r\n" + body


def v1_request(secret, vote_id, path="/topgg", user=USER):
    body = json.dumps({"type": "vote.create", "data": {
        "id": vote_id, "weight": 1, "created_at": "2025-01-01T00:00:%02dZ" % (int(vote_id) % 60),
        "expires_at": "2025-01-01T12:00:00Z",
        "project": {"id": "803190510032756736", "type": "bot", "platform": "discord", "platform_id": BOT},
        "user": {"id": "u" + vote_id, "platform_id": user, "name": "voter", "avatar_url": None}}}).encode()
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" \
           f"x-topgg-signature: t={t},v1={mac}\r\nx-topgg-trace: trace-{vote_id}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Conn:
    """One kept-alive connection, raw: it never reconnects behind the test's back
    (http.client would), so "the same connection" is what it says."""

    def __init__(self, port, host="127.0.0.1", timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def ask(self, raw):
        """Sends one request; returns (status, headers text, body)."""
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed by the server")
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length: *(\d+)", head)
        length = int(m.group(1)) if m else 0
        while len(rest) < length:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed mid-answer")
            rest += data
        self.buf = rest[length:]
        return int(head.split()[1]), head.decode(), rest[:length]

    def closed_by_peer(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self):
        self.sock.close()


def ask_once(port, raw, host="127.0.0.1"):
    c = Conn(port, host)
    try:
        return c.ask(raw)[0]
    finally:
        c.close()


class FakeSystemd:
    """The datagram socket systemd gives a Type=notify service ($NOTIFY_SOCKET)."""

    def __init__(self, directory=None, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "topgg-webhook-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(directory, "notify")
            self.sock.bind(self.address)
        self.messages = []  # (monotonic time received, {field: value})

    def receive(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data = self.sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
        self.messages.append((time.monotonic(), fields))
        return fields

    def wait_for(self, key, timeout=20, value="1"):
        deadline = time.monotonic() + timeout
        for _, fields in self.messages:
            if fields.get(key) == value and not fields.get("_seen_" + key):
                fields["_seen_" + key] = True
                return fields
        while time.monotonic() < deadline:
            fields = self.receive(deadline - time.monotonic())
            if fields is not None and fields.get(key) == value:
                fields["_seen_" + key] = True
                return fields
        raise AssertionError(f"no {key}={value} from the tool; got {[f for _, f in self.messages]!r}")


# ---- systemd's notifications ------------------------------------------------

def notify(tool, loop, _root):
    """READY=1 once the port is open, STATUS=, WATCHDOG=1 from the loop at the
    interval asked, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM;
    systemd's variables are not inherited by --exec commands."""
    with tempfile.TemporaryDirectory() as d:
        systemd = FakeSystemd(d)
        env_file = os.path.join(d, "exec-env")
        interval_us = 200000
        env = clean_env(TOPGG_DBL_AUTH=DBL_AUTH, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC=str(interval_us))
        started = time.monotonic()
        t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop,
                  "--exec", f"env > {env_file}; cat > /dev/null"], env, wait_listening=False)
        try:
            ready = systemd.wait_for("READY")
            m = LISTENING.search(ready.get("STATUS", ""))
            check(m is not None, f"READY=1 carries STATUS=listening on http://… ({ready.get('STATUS')!r})")
            port = int(m.group(2))
            with socket.create_connection(("127.0.0.1", port), timeout=10):
                pass
            check(True, "when READY=1 arrives the port is already open (a connection is accepted at once)")
            t.wait_for("err", LISTENING)

            # Pings: again and again, and never more often than every half of the interval
            # asked (each was sent after the tool started and before it was received).
            for _ in range(4):
                systemd.wait_for("WATCHDOG")
            pings = [at for at, f in systemd.messages if f.get("WATCHDOG") == "1"]
            most = (pings[-1] - started) / (interval_us / 2 / 1e6) + 1
            check(4 <= len(pings) <= most, f"WATCHDOG=1 comes again and again, at most every half of WATCHDOG_USEC "
                                           f"({len(pings)} pings, at most {most:.1f} possible)")

            check(ask_once(port, bot_request()) == 200, "a vote is answered 200")
            exec_env = open(env_file).read()
            leaked = [line for line in exec_env.splitlines()
                      if line.startswith(("NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_"))]
            check(not leaked and "PATH=" in exec_env,
                  f"--exec commands get no NOTIFY_SOCKET, WATCHDOG_* or LISTEN_* (leaked: {leaked})")

            t.proc.send_signal(signal.SIGHUP)
            reloading = systemd.wait_for("RELOADING")
            check(re.fullmatch(r"\d+", reloading.get("MONOTONIC_USEC", "")) is not None,
                  "SIGHUP: RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload wants)")
            systemd.wait_for("READY")
            check(True, "then READY=1 again once the reload is done")

            t.proc.send_signal(signal.SIGTERM)
            stopping = systemd.wait_for("STOPPING")
            check("closing" in stopping.get("STATUS", ""), "SIGTERM: STOPPING=1 with a STATUS")
            check(t.proc.wait(60) == 0, "then the tool exits 0")
        finally:
            t.kill()

        # The abstract namespace ('@'); a long interval: one ping at start, the next
        # only half of it later; a WATCHDOG_PID naming another process: none.
        # The process lives a few seconds on a quiet machine; on a busy one it may
        # pass 30 s, and then one more ping per half-interval lived is right.
        for pid, what in ((None, "WATCHDOG_USEC of 60 s: one ping at start, the next only 30 s later"),
                          ("1", "WATCHDOG_PID of another process: no WATCHDOG=1 from this one")):
            systemd = FakeSystemd(abstract=True)
            env = clean_env(TOPGG_DBL_AUTH=DBL_AUTH, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="60000000")
            if pid:
                env["WATCHDOG_PID"] = pid
            started = time.monotonic()
            t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop], env)
            try:
                systemd.wait_for("READY")
                check(True, "an abstract $NOTIFY_SOCKET ('@name') is spoken to")
                check(all(ask_once(t.port, bot_request(user=str(2000 + i))) == 200 for i in range(10)),
                      "votes answered meanwhile")
                while systemd.receive(0.5) is not None:
                    pass
                check(t.stop() == 0, "exits 0")
                while systemd.receive(0.2) is not None:
                    pass
                lived = time.monotonic() - started
                pings = sum(1 for _, f in systemd.messages if f.get("WATCHDOG"))
                low, high = (0, 0) if pid else (1, 1 + int(lived // 30))
                check(low <= pings <= high, f"{what} ({pings} pings in {lived:.1f} s)")
            finally:
                t.kill()


# ---- socket activation --------------------------------------------------------

def activated(tool, loop, extra, env, sock):
    """The tool started as systemd starts an activated service: the socket at
    descriptor 3, LISTEN_FDS=1, LISTEN_PID its own pid (a shell sets it, then
    execs the tool, which keeps the pid)."""
    fd = sock.fileno()
    move = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
    script = f'export LISTEN_FDS=1 LISTEN_PID=$$ LISTEN_FDNAMES=web; exec "$@"{move}'
    argv = ["/bin/sh", "-c", script, "sh", tool, "listen", "--dbl", "/dbl", "--loop", loop] + extra
    return Tool(argv, env, pass_fds=(fd,))


def socket_restart(tool, loop, _root):
    """Five restarts while a client sends votes without pause, each on a new
    connection: every vote answered 200 (none refused, reset or lost), each
    printed once across the runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = clean_env(TOPGG_DBL_AUTH=DBL_AUTH)
    stop = threading.Event()
    answered, failures = [], []

    def client():
        i = 0
        while not stop.is_set():
            user = str(10_000_000 + i)
            try:
                status = ask_once(port, bot_request(user=user))
                answered.append((user, status))
            except Exception as e:  # refused, reset, closed, timed out: all failures here
                failures.append((user, repr(e)))
            i += 1

    runs = []
    t = activated(tool, loop, [], env, sock)
    check("serving the listening socket systemd passed" in t.err.decode(), "it says it serves the socket it was given")
    check(t.port == port, "and listens on that socket's port")
    sender = threading.Thread(target=client)
    sender.start()
    try:
        for restart in range(5):
            seen = len(answered)
            deadline = time.monotonic() + 60
            while len(answered) < seen + 20 and time.monotonic() < deadline and sender.is_alive():
                t.pump(0.05)
            code = t.stop()
            runs.append(t)
            check(code == 0, f"run {restart + 1} exits 0 on SIGTERM while votes keep coming")
            t = activated(tool, loop, [], env, sock)
        seen = len(answered)
        deadline = time.monotonic() + 60
        while len(answered) < seen + 20 and time.monotonic() < deadline:
            t.pump(0.05)
    finally:
        stop.set()
        sender.join()
        code = t.stop()
        runs.append(t)
        sock.close()
    check(code == 0, "the last run exits 0")
    check(not failures, f"no vote refused, reset or unanswered across 5 restarts ({len(failures)} failed: "
                        f"{failures[:3]})")
    bad = [a for a in answered if a[1] != 200]
    check(len(answered) >= 120 and not bad, f"all {len(answered)} votes answered 200 ({len(bad)} not)")
    printed = []
    for r in runs:
        for line in r.out.decode().splitlines():
            printed.append(json.loads(line)["user"])
    check(sorted(printed) == sorted(u for u, _ in answered),
          f"each vote printed exactly once across the {len(runs)} runs ({len(printed)} lines, {len(answered)} votes)")


def socket_activate(tool, loop, _root):
    """Under systemd-socket-activate itself: it binds, waits for the first
    connection, then execs the tool with descriptor 3; that first connection
    (made before the tool ran) and the next ones are answered."""
    activate = shutil.which("systemd-socket-activate")
    if not activate:
        print("skipped: systemd-socket-activate is not installed (tools/setup installs systemd)")
        sys.exit(SKIP)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    env = clean_env(TOPGG_DBL_AUTH=DBL_AUTH)
    t = Tool([activate, "-l", f"127.0.0.1:{port}", "--fdname=webhooks", "-E", "TOPGG_DBL_AUTH", tool, "listen",
              "--dbl", "/dbl", "--loop", loop], env, wait_listening=False)
    try:
        t.wait_for("err", rf"Listening on 127\.0\.0\.1:{port} as 3")
        check(ask_once(port, bot_request()) == 200, "the connection that starts the tool is answered 200")
        m = t.wait_for("err", LISTENING)
        check(int(m.group(2)) == port, "the tool listens on the socket passed")
        check('"webhooks"' in t.err.decode(), "and names it as systemd did (LISTEN_FDNAMES)")
        check(ask_once(port, bot_request(user="2")) == 200, "the next vote is answered 200")
        t.wait_for("out", r'"user":"2"')
        check(True, "both printed")
        check(t.stop() == 0, "SIGTERM: exits 0")
    finally:
        t.kill()


# ---- secrets from files and credentials ----------------------------------------

def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def credentials(tool, loop, _root):
    """$CREDENTIALS_DIRECTORY, *_FILE variables, ROUTE=@FILE; the order between
    them; unreadable or empty files refused at start with one line; no key on stderr."""
    with tempfile.TemporaryDirectory() as d:
        creds = os.path.join(d, "creds")
        os.mkdir(creds)
        write(os.path.join(creds, "dbl-auth"), "cred-dbl\n")
        write(os.path.join(creds, "v1-secret"), "whs_cred-one\n\nwhs_cred-two\n")
        write(os.path.join(creds, "dsl-auth"), "cred-dsl")
        write(os.path.join(d, "dsl.key"), "file-dsl\r\n")
        write(os.path.join(d, "route=a.key"), "route-key\n")  # an '=' in the path: split at the first "=@"
        env = clean_env(CREDENTIALS_DIRECTORY=creds, TOPGG_DSL_AUTH_FILE=os.path.join(d, "dsl.key"),
                        TOPGG_DSL_AUTH="env-dsl")
        t = Tool([tool, "listen", "--dbl", "/dbl", "--dsl", "/dsl", "--v1", "/topgg", "--dbl",
                  f"/other=@{os.path.join(d, 'route=a.key')}", "--host", "127.0.0.1", "--port", "0", "--loop", loop],
                 env)
        try:
            p = t.port
            check(ask_once(p, bot_request(auth="cred-dbl")) == 200, "the credential dbl-auth is the key of --dbl (its newline dropped)")
            check(ask_once(p, bot_request(auth="cred-dblx")) == 401, "another key is refused")
            body = json.dumps({"guild": "5678", "user": USER, "type": "test"}).encode()
            dsl = lambda auth: (f"POST /dsl HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            check(ask_once(p, dsl("file-dsl")) == 200,
                  "$TOPGG_DSL_AUTH_FILE comes before $TOPGG_DSL_AUTH and the credential (its CRLF dropped)")
            check(ask_once(p, dsl("env-dsl")) == 401 and ask_once(p, dsl("cred-dsl")) == 401,
                  "so neither the variable nor the credential is the key then")
            check(ask_once(p, v1_request("whs_cred-one", "1")) == 204 and ask_once(p, v1_request("whs_cred-two", "2")) == 204,
                  "a v1-secret credential holds several secrets, one per line (a blank line ignored)")
            check(ask_once(p, bot_request(auth="route-key", path="/other")) == 200, "--dbl ROUTE=@FILE reads that file")
            check(t.stop() == 0, "exits 0")
            err = t.err.decode()
            check("$TOPGG_DSL_AUTH_FILE and $TOPGG_DSL_AUTH are both set: the file is used" in err,
                  "both a *_FILE and its variable set: said once at start")
            check(not any(k in err for k in ("cred-dbl", "file-dsl", "whs_cred", "route-key")), "no key on stderr")
        finally:
            t.kill()

        # The variable comes before the credential.
        env = clean_env(CREDENTIALS_DIRECTORY=creds, TOPGG_DBL_AUTH="env-dbl")
        t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop], env)
        try:
            check(ask_once(t.port, bot_request(auth="env-dbl")) == 200 and
                  ask_once(t.port, bot_request(auth="cred-dbl")) == 401, "$TOPGG_DBL_AUTH comes before the credential")
            t.stop()
        finally:
            t.kill()

        # Refused at start, one line each, exit 2.
        write(os.path.join(d, "empty"), "\n")
        cases = [
            ("a missing $TOPGG_DBL_AUTH_FILE", clean_env(TOPGG_DBL_AUTH_FILE=os.path.join(d, "nope")), ["--dbl", "/dbl"],
             r"cannot read .*nope \(\$TOPGG_DBL_AUTH_FILE\): No such file"),
            ("an empty key file (a newline only)", clean_env(TOPGG_DBL_AUTH_FILE=os.path.join(d, "empty")),
             ["--dbl", "/dbl"], r"it is empty"),
            ("a directory as --dbl ROUTE=@FILE", clean_env(), ["--dbl", f"/dbl=@{d}"], r"not a regular file"),
            ("an empty credential", clean_env(CREDENTIALS_DIRECTORY=d), ["--dsl", "/dsl"], r"it is empty|No such"),
            ("a key file of two lines", clean_env(TOPGG_DBL_AUTH_FILE=os.path.join(creds, "v1-secret")),
             ["--dbl", "/dbl"], r"several lines"),
        ]
        write(os.path.join(d, "dsl-auth"), "")
        for what, env, args, why in cases:
            r = subprocess.run([tool, "listen", "--port", "0", "--loop", loop] + args, env=env,
                               capture_output=True, timeout=60)
            lines = r.stderr.decode().splitlines()
            check(r.returncode == 2 and len(lines) == 1 and re.search(why, lines[0]) is not None,
                  f"{what}: exit 2 with one line ({lines})")

        # topgg-token and redis-url feed --catch-up and --dedup redis.
        write(os.path.join(creds, "topgg-token"), "token-from-credential\n")
        r = subprocess.run([tool, "listen", "--v1", "/topgg", "--catch-up", "--port", "0"], capture_output=True,
                           env=clean_env(TOPGG_V1_SECRET=V1_SECRET), timeout=60)
        check(r.returncode == 2 and b"TOPGG_TOKEN" in r.stderr, "--catch-up without a token: exit 2")
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]  # bound, never listening: nothing answers there
        write(os.path.join(creds, "redis-url"), f"redis://127.0.0.1:{nobody}/0\n")
        env = clean_env(CREDENTIALS_DIRECTORY=creds, TOPGG_V1_SECRET=V1_SECRET)
        t = Tool([tool, "listen", "--v1", "/topgg", "--catch-up", "--api-base", "https://127.0.0.1:9/api/v1",
                  "--dedup", "redis", "--host", "127.0.0.1", "--port", "0", "--loop", loop], env)
        try:
            err = t.err.decode()
            check(f"redis://127.0.0.1:{nobody}/0 does not answer now" in err,
                  "the credential redis-url is --dedup redis's URL")
            check(True, "the credential topgg-token is --catch-up's token (it starts)")
            t.stop()
            check("token-from-credential" not in t.err.decode(), "the token is never logged")
        finally:
            t.kill()
            probe.close()


# ---- SIGHUP --------------------------------------------------------------------

def sighup(tool, loop, _root):
    """SIGHUP swaps a v1 secret from its file (new accepted, old refused) on a
    connection kept open across it; an unreadable file keeps the old; the
    other routes say what they did."""
    with tempfile.TemporaryDirectory() as d:
        secret_file = os.path.join(d, "v1")
        key_file = os.path.join(d, "dbl")
        write(secret_file, "whs_old\n")
        write(key_file, "old-key\n")
        env = clean_env(TOPGG_V1_SECRET_FILE=secret_file, TOPGG_DSL_AUTH="dsl-key")
        t = Tool([tool, "listen", "--v1", "/topgg", "--dbl", f"/dbl=@{key_file}", "--dsl", "/dsl", "--host",
                  "127.0.0.1", "--port", "0", "--loop", loop], env)
        try:
            c = Conn(t.port)
            check(c.ask(v1_request("whs_old", "1"))[0] == 204, "before: the old secret signs")
            check(c.ask(bot_request(auth="old-key"))[0] == 200, "before: the old key is accepted")
            write(secret_file, "whs_new\n")
            write(key_file, "new-key\n")
            t.proc.send_signal(signal.SIGHUP)
            t.wait_for("err", r"reloaded the secrets of /topgg from \S+ \(\$TOPGG_V1_SECRET_FILE\) \(1 secrets\)")
            t.wait_for("err", r"reloaded the key of /dbl from \S+/dbl")
            t.wait_for("err", r"the key of /dsl comes from \$TOPGG_DSL_AUTH, which cannot change while the tool runs")
            t.wait_for("err", r"SIGHUP: done \(2 changed, 0 kept")
            check(True, "SIGHUP: one line per route (reloaded, or said why not), then done")
            status, head, _ = c.ask(v1_request("whs_new", "2"))
            check(status == 204, "after, on the same connection: the new secret signs")
            check(c.ask(v1_request("whs_old", "3"))[0] == 403, "the old secret is refused (403)")
            check(c.ask(bot_request(auth="new-key", user="2"))[0] == 200, "the new key is accepted")
            check("connection: close" not in head.lower(), "the connection was kept alive across the reload")

            # Two secrets (rotation), then a file gone: the old value stays.
            write(secret_file, "whs_newer\nwhs_new\n")
            t.proc.send_signal(signal.SIGHUP)
            t.wait_for("err", r"reloaded the secrets of /topgg .*\(2 secrets\)")
            check(c.ask(v1_request("whs_newer", "4"))[0] == 204 and c.ask(v1_request("whs_new", "5"))[0] == 204,
                  "a file of two secrets: both sign")
            os.unlink(secret_file)
            write(key_file, "")
            t.proc.send_signal(signal.SIGHUP)
            t.wait_for("err", r"cannot read the secrets of /topgg from \S+ \(\$TOPGG_V1_SECRET_FILE\): No such file or directory: "
                            r"keeping the old secrets")
            t.wait_for("err", r"cannot read the key of /dbl from \S+: it is empty: keeping the old key")
            t.wait_for("err", r"SIGHUP: done \(0 changed, 2 kept")
            check(c.ask(v1_request("whs_newer", "6"))[0] == 204 and c.ask(bot_request(auth="new-key", user="3"))[0] == 200,
                  "an unreadable or empty file keeps the old key, and says so")
            c.close()
            check(t.stop() == 0, "exits 0")
            err = t.err.decode()
            check(not any(k in err for k in ("whs_old", "whs_new", "old-key", "new-key")), "no secret on stderr")
        finally:
            t.kill()


# ---- logs ------------------------------------------------------------------------

def json_logs(tool, loop, _root):
    """--log-format json: every stderr line is one JSON object, with time,
    level, msg, and for a refusal status, method, path, peer."""
    with tempfile.TemporaryDirectory() as d:
        key_file = os.path.join(d, "k")
        write(key_file, "k1")
        env = clean_env(TOPGG_V1_SECRET=V1_SECRET, TOPGG_DSL_AUTH="env-key")
        t = Tool([tool, "listen", "--log-format", "json", "--dbl", f"/dbl=@{key_file}", "--dsl", "/dsl",
                  "--dbl", "/open", "--allow-no-auth", "--v1", "/topgg", "--host", "127.0.0.1", "--port", "0",
                  "--loop", loop, "--dedup-ttl", "86400",
                  "--exec", "echo a line on stdout; echo and one on stderr >&2; printf 'no newline'; cat > /dev/null; "
                            "exit 3"], env)
        try:
            p = t.port
            for i in range(8):  # 5 lines, then held back: one summary line at exit
                ask_once(p, bot_request(auth="wrong", user=str(100 + i)))
            ask_once(p, v1_request("whs_wrong", "1"))
            ask_once(p, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            ask_once(p, b"\x01\x02 garbage\r\n\r\n")
            ask_once(p, bot_request(auth="k1"))  # --exec fails: 503, and its output is logged
            t.wait_for("err", r"--exec failed")
            t.proc.send_signal(signal.SIGHUP)
            t.wait_for("err", r"SIGHUP: done")
            check(t.stop() == 0, "exits 0")
        finally:
            t.kill()
        lines = t.err.decode().splitlines()
        objects = []
        for line in lines:
            try:
                objects.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"a stderr line is not JSON: {line!r}")
        check(len(objects) >= 10 and all(isinstance(o, dict) and {"time", "level", "msg"} <= o.keys() for o in objects),
              f"every one of the {len(lines)} stderr lines is a JSON object with time, level and msg")
        check(all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]) for o in objects),
              "time is RFC 3339 in UTC")
        refused = [o for o in objects if o.get("status") == 401]
        check(refused and refused[0]["method"] == "POST" and refused[0]["path"] == "/dbl" and
              refused[0]["peer"].startswith("127.0.0.1:") and refused[0]["level"] == "warning",
              "a refusal carries status, method, path, peer (level warning)")
        summaries = [o for o in objects if "more like" in o["msg"]]
        check(len(refused) == 5 and len(summaries) == 1 and summaries[0]["msg"].startswith('3 more like "refused 401'),
              f"refusals are rate-limited in JSON too: 5 lines, then a summary ({[o['msg'] for o in summaries]})")
        sig = [o for o in objects if o.get("status") == 403]
        check(sig and sig[0].get("trace") == "trace-1", "a v1 refusal carries the delivery's trace")
        check(any(o["msg"].startswith("listening on http://127.0.0.1:") and o.get("address") for o in objects),
              "the listening line is {\"msg\":\"listening on http://…\",\"address\":…}")
        check(any(o.get("level") == "warning" and "no key" in o["msg"] for o in objects), "start-up warnings too")
        # Issue 23, item 5: --dedup-ttl above 11 h with legacy routes is said, not applied to them.
        check(any(o.get("level") == "warning" and o["msg"].startswith("--dedup-ttl 86400 s: legacy votes") and
                  "11 h at most" in o["msg"] for o in objects),
              "--dedup-ttl 86400 with --dbl: a warning says legacy votes are remembered 11 h at most")
        outs = [o["msg"] for o in objects if o.get("source") == "exec"]
        check(outs == ["a line on stdout", "and one on stderr", "no newline"],
              f"what --exec's command writes becomes log lines ({outs})")
        failed = [o for o in objects if "--exec failed" in o["msg"]]
        check(failed and failed[0]["level"] == "error" and failed[0].get("event") == "dbl_vote",
              "an --exec failure names its event")
        r = subprocess.run([tool, "listen", "--log-format", "json", "--dbl", "/dbl", "--port", "x"],
                           capture_output=True, env=clean_env(TOPGG_DBL_AUTH="k"), timeout=60)
        line = json.loads(r.stderr.decode())
        check(r.returncode == 2 and line["level"] == "error" and "--port" in line["msg"], "a usage error is JSON too")


def trust_proxy(tool, loop, _root):
    """--trust-proxy: the client from X-Forwarded-For (else Forwarded) when the
    connection comes from a trusted address, the last hop not trusted; the
    peer otherwise."""
    env = clean_env(TOPGG_DBL_AUTH=DBL_AUTH)

    def refused_line(t, headers, user):
        ask_once(t.port, bot_request(auth="wrong", user=user, extra=headers))
        return t.wait_for("err", rf"refused 401 POST /dbl from [^\n]*\n").group(0)

    t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop,
              "--trust-proxy", "127.0.0.1/32,::1", "--trust-proxy", "10.0.0.0/8"], env)
    try:
        cases = [
            ({"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"),
            ({"X-Forwarded-For": "203.0.113.66, 198.51.100.7"}, "198.51.100.7"),  # left of the client: its own words
            ({"X-Forwarded-For": "198.51.100.7, 10.1.2.3"}, "198.51.100.7"),  # past a proxy of ours
            ({"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
            ({"X-Forwarded-For": "192.0.2.1", "Forwarded": "for=203.0.113.1"}, "192.0.2.1"),  # X-Forwarded-For first
        ]
        for i, (headers, client) in enumerate(cases):
            line = refused_line(t, headers, str(3000 + i))
            check(re.search(rf"from {re.escape(client)} via 127\.0\.0\.1:\d+: ", line) is not None,
                  f"{headers} from a trusted proxy: the line names {client} via the proxy ({line.strip()})")
            t.err = b""
        line = refused_line(t, {}, "3999")
        check(re.search(r"from 127\.0\.0\.1:\d+: ", line) is not None, "no header: the peer itself")
        for i in range(7):  # one client behind the proxy: its own 5 lines, then a summary naming it
            ask_once(t.port, bot_request(auth="wrong", user=str(3100 + i), extra={"X-Forwarded-For": "198.51.100.99"}))
        t.stop()
        check(t.err.decode().count("from 198.51.100.99 via") == 5 and
              '2 more like "refused 401 POST /dbl from 198.51.100.99"' in t.err.decode(),
              "the refusal rate limits count the client the proxy names, not the proxy")
    finally:
        t.kill()
    t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop,
              "--trust-proxy", "10.0.0.0/8"], env)
    try:
        line = refused_line(t, {"X-Forwarded-For": "198.51.100.7"}, "4000")
        check(re.search(r"from 127\.0\.0\.1:\d+: ", line) is not None and "198.51.100.7" not in line,
              "from an address not trusted the header is not believed")
        t.stop()
    finally:
        t.kill()
    for bad in ["300.1.1.1", "10.0.0.0/33", "::1/129", "example.com", "1.2.3.4:80"]:
        r = subprocess.run([tool, "listen", "--dbl", "/dbl", "--trust-proxy", bad], capture_output=True, env=env,
                           timeout=60)
        check(r.returncode == 2 and b"--trust-proxy" in r.stderr, f"--trust-proxy {bad}: exit 2")


# ---- the README's proxies ------------------------------------------------------------

def readme_block(root, first_line):
    """The README's fenced block whose first line is `first_line` (so the README cannot go stale)."""
    text = open(os.path.join(root, "README.md")).read()
    m = re.search(r"```[a-z]*\n" + re.escape(first_line) + r"\n(.*?)```", text, re.S)
    if not m:
        raise AssertionError(f"no block starting {first_line!r} in README.md")
    return m.group(1)


def certificate(d):
    """A self-signed certificate for 127.0.0.1, made now."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=120)
    return cert, key


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def through_proxy(tool, loop, start_proxy, name):
    """A vote over https through the proxy is answered; a refused one is logged
    with the client's address with --trust-proxy, the proxy's without."""
    with tempfile.TemporaryDirectory() as d:
        cert, key = certificate(d)
        ctx = ssl.create_default_context(cafile=cert)
        for trusted in (True, False):
            extra = ["--trust-proxy", "127.0.0.1/32"] if trusted else []
            t = Tool([tool, "listen", "--dbl", "/dbl", "--host", "127.0.0.1", "--port", "0", "--loop", loop] + extra,
                     clean_env(TOPGG_DBL_AUTH=DBL_AUTH))
            proxy = None
            try:
                proxy, port = start_proxy(d, cert, key, t.port)
                # The client comes from 127.0.0.3, the proxy from 127.0.0.1: told apart in the line.
                def post(auth, user):
                    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30,
                                                    source_address=("127.0.0.3", 0))
                    c.request("POST", "/dbl", bot_body(user), {"Content-Type": "application/json", "Authorization": auth})
                    status = c.getresponse().status
                    c.close()
                    return status
                check(post(DBL_AUTH, "5001") == 200, f"{name}: a vote over https through it is answered 200")
                t.wait_for("out", r'"user":"5001"')
                check(post("wrong", "5002") == 401, f"{name}: a wrong key through it is answered 401")
                line = t.wait_for("err", r"refused 401 POST /dbl from [^\n]*\n").group(0)
                if trusted:
                    check(re.search(r"from 127\.0\.0\.3 via 127\.0\.0\.1:\d+: ", line) is not None,
                          f"{name} + --trust-proxy 127.0.0.1/32: the line names the client ({line.strip()})")
                else:
                    check(re.search(r"from 127\.0\.0\.1:\d+: ", line) is not None,
                          f"{name} without --trust-proxy: the line names the proxy ({line.strip()})")
                check(t.stop() == 0, "the tool exits 0")
            finally:
                t.kill()
                if proxy:
                    proxy.terminate()
                    try:
                        proxy.wait(30)
                    except subprocess.TimeoutExpired:
                        proxy.kill()


def wait_port(port, proc, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} does not listen on {port}")


def nginx(tool, loop, root):
    """The README's nginx configuration, in a real nginx on loopback with TLS."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not exe or not shutil.which("openssl"):
        print("skipped: nginx or openssl is not installed (tools/setup installs both)")
        sys.exit(SKIP)
    site = readme_block(root, "# /etc/nginx/conf.d/topgg-webhook.conf")

    def start(d, cert, key, upstream):
        port = free_port()
        conf = site.replace("127.0.0.1:8080", f"127.0.0.1:{upstream}")
        conf = re.sub(r"listen 443 ssl[^;]*;", f"listen 127.0.0.1:{port} ssl;", conf, count=1)
        conf = re.sub(r"\n\s*listen \[::\]:443[^;]*;", "", conf)
        conf = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", conf)
        conf = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", conf)
        check(f"127.0.0.1:{upstream}" in conf and str(port) in conf and cert in conf,
              "nginx: the README's configuration, its port, upstream and certificate put in")
        prefix = os.path.join(d, "nginx")
        os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
        main = ("daemon off;\nmaster_process on;\nworker_processes 1;\n"
                + ("user root;\n" if os.getuid() == 0 else "")
                + f"pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
                "events { worker_connections 64; }\n"
                "http {\n"
                f"  access_log {prefix}/logs/access.log;\n"
                + "".join(f"  {k}_temp_path {prefix}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
                + conf + "\n}\n")
        path = os.path.join(prefix, "nginx.conf")
        write(path, main, 0o644)
        proc = subprocess.Popen([exe, "-p", prefix, "-c", path, "-e", f"{prefix}/logs/error.log"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(port, proc, "nginx")
        return proc, port

    through_proxy(tool, loop, start, "nginx")


def caddy(tool, loop, root):
    """The README's Caddyfile, in a real Caddy on loopback with TLS."""
    exe = shutil.which("caddy")
    if not exe or not shutil.which("openssl"):
        print("skipped: caddy or openssl is not installed (tools/setup installs Caddy where apt has it)")
        sys.exit(SKIP)
    site = readme_block(root, "# /etc/caddy/Caddyfile")

    def start(d, cert, key, upstream):
        port = free_port()
        conf = site.replace("127.0.0.1:8080", f"127.0.0.1:{upstream}")
        conf = re.sub(r"^votes\.example\.com \{", f"https://127.0.0.1:{port} {{\n\ttls {cert} {key}", conf, flags=re.M)
        check(f"127.0.0.1:{upstream}" in conf and f"127.0.0.1:{port}" in conf, "caddy: the README's Caddyfile, "
              "its address, upstream and certificate put in")
        caddyfile = os.path.join(d, "Caddyfile")
        write(caddyfile, "{\n\tadmin off\n\tauto_https disable_redirects\n"
                         f"\thttp_port {free_port()}\n\thttps_port {port}\n}}\n" + conf, 0o644)
        env = dict(os.environ, HOME=d, XDG_DATA_HOME=os.path.join(d, "data"), XDG_CONFIG_HOME=os.path.join(d, "config"))
        proc = subprocess.Popen([exe, "run", "--config", caddyfile, "--adapter", "caddyfile"], env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(port, proc, "caddy")
        return proc, port

    through_proxy(tool, loop, start, "caddy")


# ---- the unit files -------------------------------------------------------------------

def units(tool, _loop, root):
    """dist/systemd: `systemd-analyze verify` finds nothing to say, and
    `systemd-analyze security --offline=true` rates the service's exposure at
    2.0 or less."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("skipped: systemd-analyze is not installed (tools/setup installs systemd)")
        sys.exit(SKIP)
    dist = os.path.join(root, "dist", "systemd")
    with tempfile.TemporaryDirectory() as d:
        # verify wants ExecStart's program to exist: the one just built stands for /usr/bin's.
        service = open(os.path.join(dist, "topgg-webhook.service")).read()
        check("ExecStart=/usr/bin/topgg-webhook listen " in service, "the unit runs /usr/bin/topgg-webhook listen")
        write(os.path.join(d, "topgg-webhook.service"),
              service.replace("/usr/bin/topgg-webhook", os.path.abspath(tool)), 0o644)
        shutil.copy(os.path.join(dist, "topgg-webhook.socket"), d)
        r = subprocess.run([analyze, "verify", "topgg-webhook.service", "topgg-webhook.socket"], cwd=d,
                           capture_output=True, text=True, timeout=120)
        check(r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "",
              f"systemd-analyze verify: clean ({r.returncode}, {r.stdout!r}, {r.stderr!r})")
        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", "topgg-webhook.service"], cwd=d,
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for topgg-webhook\.service: (\d+\.\d)", r.stdout)
        check(m is not None, f"systemd-analyze security gives an overall exposure ({r.stdout[-300:]!r})")
        check(float(m.group(1)) <= 2.0, f"exposure {m.group(1)} is at most 2.0")
        print("exposure:", m.group(1))
    env_file = open(os.path.join(dist, "topgg-webhook.env")).read()
    check("TOPGG_WEBHOOK_OPTIONS=" in env_file and not re.search(r"^TOPGG_(DBL|DSL|V1|TOKEN|REDIS)", env_file, re.M),
          "the example environment file sets the options and no key")


CASES = {"notify": notify, "socket_restart": socket_restart, "socket_activate": socket_activate,
         "credentials": credentials, "sighup": sighup, "json_logs": json_logs, "trust_proxy": trust_proxy,
         "nginx": nginx, "caddy": caddy, "units": units}

if __name__ == "__main__":
    case, tool, loop, root = sys.argv[1:5]
    CASES[case](tool, loop, root)
