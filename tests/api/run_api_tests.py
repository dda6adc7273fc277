#!/usr/bin/env python3
"""Runs the API client's tests against mock_api.py over HTTPS on 127.0.0.1.

    run_api_tests.py client API_TESTS_EXE     the doctest program drives the client against the mock
    run_api_tests.py catchup CATCH_UP_EXE     the same for catch-up (test_catch_up.cpp)
    run_api_tests.py listen TOPGG_WEBHOOK_EXE `listen --catch-up` end to end
    run_api_tests.py cli VOTES_EXE            `VOTES_EXE votes ...` (the tool's votes command) against it
    run_api_tests.py tool TOPGG_WEBHOOK_EXE   the same cases on the installed tool; skipped (77)
                                              while it has no `votes` command
    run_api_tests.py ca-only API_TESTS_EXE    Options::ca_file is the only trust: the doctest case for it,
                                              in a mount namespace whose /etc/ssl/certs trusts another CA
                                              (skipped, 77, where no mount namespace can be made)

Makes a fresh certificate for 127.0.0.1/localhost with `openssl req` in a temporary directory
(and a second, unrelated one for another host name: the "wrong CA"), starts the mock on a free
port (and a second mock presenting the other certificate), runs the cases,
and fails if the API token appears anywhere in any byte a program wrote (stdout or stderr).
"""
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_api  # noqa: E402

TOKEN = "tgg_" + secrets.token_hex(24)
SKIP = 77
outputs = []  # every byte any program under test wrote, for the token search


def utc_seconds(text):
    """An RFC 3339 UTC time ("…Z", any number of fraction digits, or none) in whole epoch seconds."""
    import calendar
    return calendar.timegm(time.strptime(text.rstrip("Z").split(".")[0], "%Y-%m-%dT%H:%M:%S"))


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def make_cert(directory, name, names="IP:127.0.0.1,DNS:localhost"):
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=" + names],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def make_ca(directory, name):
    """A CA certificate and key, "topgg-webhook test CA <name>"."""
    cert, key = os.path.join(directory, f"ca-{name}.pem"), os.path.join(directory, f"ca-{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=topgg-webhook test CA {name}",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def make_signed(directory, name, ca, ca_key):
    """A server certificate for 127.0.0.1/localhost signed by `ca`."""
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    csr, ext = os.path.join(directory, name + ".csr"), os.path.join(directory, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-days", "2",
                    "-set_serial", "0x" + secrets.token_hex(8), "-extfile", ext, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy") and k != "TOPGG_TOKEN"}
    env.update(extra)
    return env


def run(argv, env, timeout=30):
    started = time.monotonic()
    p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    elapsed = time.monotonic() - started
    outputs.append((argv, p.stdout, p.stderr))
    return p, elapsed


# --- the doctest program ---------------------------------------------------------------------


def client_mode(exe, mock, ca, other_ca, other_mock):
    env = clean_env(TOPGG_API_TEST_TOKEN=TOKEN, TOPGG_API_MOCK=mock.url, TOPGG_API_CA=ca, TOPGG_API_OTHER_CA=other_ca,
                    TOPGG_API_OTHER_MOCK=other_mock.url)
    p, elapsed = run([exe, "--duration=true"], env, timeout=120)
    sys.stdout.write(p.stdout.decode(errors="replace"))
    sys.stdout.write(p.stderr.decode(errors="replace"))
    print(f"api-tests: exit {p.returncode} in {elapsed:.2f} s")
    check(p.returncode == 0, "the client tests pass")


# --- ca_file is the only trust ----------------------------------------------------------------


def ca_only_mode(exe, tmp):
    """CA "system" is trusted only through libcurl's CA directory (/etc/ssl/certs, replaced for the test
    program alone by a bind mount in its own mount namespace), and through $SSL_CERT_FILE/$SSL_CERT_DIR;
    ca_file is CA "other". A server signed by CA "system" must be refused, one signed by CA "other"
    accepted."""
    system_ca, system_key = make_ca(tmp, "system")
    other_ca, other_key = make_ca(tmp, "other")
    bundle_ca, _ = make_ca(tmp, "bundle")
    certs = os.path.join(tmp, "certs")  # what the test program sees as /etc/ssl/certs
    os.mkdir(certs)
    name = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", system_ca], check=True,
                          capture_output=True, text=True).stdout.strip()
    with open(system_ca) as src, open(os.path.join(certs, name + ".0"), "w") as dst:
        dst.write(src.read())  # OpenSSL's hashed name: how a CA directory is searched
    with open(bundle_ca) as src, open(os.path.join(certs, "ca-certificates.crt"), "w") as dst:
        dst.write(src.read())  # libcurl's default CA file there must exist, and not trust CA "system"

    # `unshare` makes the namespace (as root; else with a user namespace mapping us to root), then
    # the bind mount is made inside it: the real /etc/ssl/certs is never touched.
    mount = 'mount --bind "$0" /etc/ssl/certs && test -e "/etc/ssl/certs/$1" && shift && exec "$@"'
    prefixes = [["unshare", "--mount", "--propagation", "private", "--map-root-user"]]
    if os.geteuid() == 0:
        prefixes.insert(0, ["unshare", "--mount", "--propagation", "private"])
    prefix, tried = None, []
    for p in prefixes:
        r = subprocess.run([*p, "sh", "-c", mount, certs, name + ".0", "true"], capture_output=True, text=True)
        if r.returncode == 0:
            prefix = p
            break
        tried.append(f"{' '.join(p)}: {r.stderr.strip() or r.returncode}")
    if prefix is None:
        print("skip: cannot give the test its own /etc/ssl/certs (no mount namespace here): " + "; ".join(tried))
        return SKIP

    system_cert, system_cert_key = make_signed(tmp, "signed-by-system", system_ca, system_key)
    other_cert, other_cert_key = make_signed(tmp, "signed-by-other", other_ca, other_key)
    system_mock = mock_api.MockApi(TOKEN, system_cert, system_cert_key).start()
    other_mock = mock_api.MockApi(TOKEN, other_cert, other_cert_key).start()
    try:
        env = clean_env(TOPGG_API_TEST_TOKEN=TOKEN, TOPGG_API_MOCK=system_mock.url, TOPGG_API_CA=system_ca,
                        TOPGG_API_OTHER_CA=other_ca, TOPGG_API_OTHER_MOCK=other_mock.url,
                        SSL_CERT_FILE=system_ca, SSL_CERT_DIR=certs)
        p, _ = run([*prefix, "sh", "-c", mount, certs, name + ".0", exe, "--no-skip", "--duration=true",
                    "--test-case=TLS: a ca_file is the only trust*"], env, timeout=120)
        sys.stdout.write(p.stdout.decode(errors="replace"))
        sys.stdout.write(p.stderr.decode(errors="replace"))
        check(p.returncode == 0 and b"1 passed" in p.stdout,
              f"{' '.join(prefix)}: ca_file is the only trust (the case ran and passed)")
    finally:
        system_mock.stop()
        other_mock.stop()
    return 0


# --- the votes command -----------------------------------------------------------------------


def cli_mode(exe, mock, ca, other_ca, tool=False):
    if tool:
        p, _ = run([exe, "votes", "--help"], clean_env())
        if p.returncode != 0:
            print("skip: this topgg-webhook has no `votes` command yet")
            return SKIP
    env = clean_env(TOPGG_TOKEN=TOKEN)
    since = (mock.now - __import__("datetime").timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def votes(scenario, *args, env=env, run_name=None):
        run_name = run_name or f"{scenario}-{len(outputs)}"
        argv = [exe, "votes", "--since", since, "--api-base", f"{mock.url}/{scenario}/{run_name}",
                "--api-ca", ca, "--interval", "20", "--timeout", "2000", *args]
        p, elapsed = run(argv, env)
        return p, elapsed, mock.log_of(run_name)

    p, _ = run([exe, "votes", "--help"], clean_env())
    check(p.returncode == 0 and b"--since" in p.stdout and b"TOPGG_TOKEN" in p.stdout, "votes --help: exit 0, usage")

    p, elapsed, log = votes("pages")
    lines = [json.loads(line) for line in p.stdout.decode().splitlines()]
    expected = [{k: v for k, v in vote.items() if not k.startswith("_")} for vote in mock.votes]
    check(p.returncode == 0, f"pages: exit 0 (stderr {p.stderr!r})")
    check([line["user_id"] for line in lines] == [v["user_id"] for v in expected],
          "pages: every vote once, oldest first")
    check(all(line["event"] == "vote" and line["source"] == "api" for line in lines), "pages: event vote, source api")
    first = lines[0]
    check(list(first) == ["event", "source", "user_id", "platform_id", "weight", "created_at", "expires_at"],
          "pages: fields in the documented order")
    check(first["platform_id"] == expected[0]["platform_id"] and first["weight"] == expected[0]["weight"] == 2,
          "pages: platform_id and weight as sent")
    check(first["created_at"] == expected[0]["created_at"][:26] + "Z", "pages: created_at in microseconds, UTC")
    check(len(log) == 4 and all(e["auth_ok"] for e in log), "pages: 3 pages + the empty one, Bearer token each time")
    check(log[0]["query"] == {"startDate": since} and all(list(e["query"]) == ["cursor"] for e in log[1:]),
          "pages: startDate first, then the cursor alone")
    check(all(not e["problems"] for e in log), "pages: the mock found no problem in any request")
    check(p.stderr == b"", "pages: nothing on stderr")

    cut = expected[4]["created_at"]
    p, _, log = votes("pages", "--until", cut)
    got = [json.loads(line)["user_id"] for line in p.stdout.decode().splitlines()]
    check(p.returncode == 0 and got == [v["user_id"] for v in expected[:4]], "--until: votes before it only")
    check(len(log) == 2, "--until: stops paging once past it")

    p, _, _ = votes("empty")
    check(p.returncode == 0 and p.stdout == b"", "no votes: exit 0, no output")

    p, _, log = votes("pages", env=clean_env(TOPGG_TOKEN="wrong-" + TOKEN[6:]))
    err = p.stderr.decode()
    check(p.returncode == 1 and err == "topgg-webhook: token refused (401): check TOPGG_TOKEN\n",
          f"401: exit 1, one clear line (got {err!r})")
    check(len(log) == 1, "401: not retried")

    p, elapsed, log = votes("rate")
    check(p.returncode == 0 and len(p.stdout.splitlines()) == len(expected), "429: votes printed after the wait")
    check(len(log) == 5 and log[1]["t"] - log[0]["t"] >= 1.0, "429: Retry-After: 1 honoured")

    p, elapsed, log = votes("slow", "--timeout", "300", "--max-retries", "0")
    check(p.returncode == 1 and b"timeout" in p.stderr and len(p.stderr.splitlines()) == 1,
          f"slow answer: exit 1, one timeout line (got {p.stderr!r})")
    check(elapsed < 10, f"slow answer: gives up long before it comes (30 s), however busy the machine ({elapsed:.2f} s)")

    p, _, log = votes("pages", "--api-ca", other_ca)
    check(p.returncode == 1 and b"tls" in p.stderr and not log, "wrong CA: exit 1, tls, nothing reached the server")

    p, _, log = votes("flaky", "--max-retries", "0")
    check(p.returncode == 1 and b"500" in p.stderr and len(log) == 1, "500 without retries: exit 1, the status said")

    p, _, log = votes("pages", "--api-base", mock.url.replace("https:", "http:"))
    check(p.returncode == 2 and b"https" in p.stderr, "http:// base: refused as a usage error (exit 2)")

    for argv, what in [(["votes"], "no --since"),
                       (["votes", "--since", "yesterday"], "--since not a date"),
                       (["votes", "--since", "1h", "--token", TOKEN], "--token refused"),
                       (["votes", "--since", "1h", "--bogus"], "unknown option"),
                       (["votes", "--since", "1h", "extra"], "stray argument")]:
        p, _ = run([exe, *argv], env)
        check(p.returncode == 2 and len(p.stderr.splitlines()) >= 1, f"usage error: {what} (exit 2)")
    p, _ = run([exe, "votes", "--since", "1h"], clean_env())
    check(p.returncode == 2 and b"TOPGG_TOKEN" in p.stderr, "no $TOPGG_TOKEN: exit 2, says which variable")

    p, _, log = votes("pages", "--since", "2h")
    check(p.returncode == 0 and log and log[0]["query"]["startDate"].endswith("Z"), "--since 2h: relative time works")
    return 0


# --- listen --catch-up ------------------------------------------------------------------------

class Listener:
    """`topgg-webhook listen --v1 /topgg --catch-up ...` on a free port; stdout lines and stderr kept."""

    def __init__(self, exe, args, env):
        import subprocess as sp
        self.proc = sp.Popen([exe, "listen", "--host", "127.0.0.1", "--port", "0", "--v1", "/topgg", *args],
                             env=env, stdin=sp.DEVNULL, stdout=sp.PIPE, stderr=sp.PIPE)
        self.out, self.err = b"", b""
        self.argv = [exe, "listen", *args]
        import re
        import threading
        self._lock = threading.Lock()
        line = self.proc.stderr.readline()
        self.err += line
        while line.startswith(b"topgg-webhook: warning:"):  # said at start, before listening
            line = self.proc.stderr.readline()
            self.err += line
        m = re.search(rb":(\d+)\s*$", line)
        if not m:
            self.stop()
            raise AssertionError(f"listen did not start: {self.err!r}")
        self.port = int(m.group(1))
        # One reader thread per pipe: the child never blocks on a full pipe, and nothing here
        # depends on how a buffered reader behaves in non-blocking mode.
        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, "out"), daemon=True),
                         threading.Thread(target=self._drain, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self._threads:
            t.start()

    def _drain(self, stream, name):
        for chunk in iter(lambda: stream.readline(), b""):
            with self._lock:
                setattr(self, name, getattr(self, name) + chunk)

    def pump(self):
        pass

    def lines(self):
        self.pump()
        return [json.loads(l) for l in self.out.decode().splitlines() if l.strip()]

    def wait_lines(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.lines()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.lines()

    def wait_err(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while needle.encode() not in self.err and time.monotonic() < deadline:
            self.pump()
            time.sleep(0.05)
        return needle.encode() in self.err

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in getattr(self, "_threads", []):
            t.join(timeout=5)
        outputs.append((self.argv, self.out, self.err))
        return self.proc.returncode


def signed_vote(exe, port, vote, secret, project="803190510032756736", path="/topgg"):
    """A v1 vote.create for mock `vote`, signed now, sent the way Top.gg would (a Python client)."""
    import hashlib
    import hmac
    import http.client
    body = json.dumps({"type": "vote.create", "data": {
        "id": "webhook-" + vote["user_id"], "weight": vote["weight"], "created_at": vote["created_at"],
        "expires_at": vote["expires_at"],
        "project": {"id": project, "type": "bot", "platform": "discord",
                    "platform_id": "264811613708746752"},
        "user": {"id": vote["user_id"], "platform_id": vote["platform_id"], "name": "voter", "avatar_url": None}}})
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), (t + "." + body).encode(), hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body, {"x-topgg-signature": f"t={t},v1={mac}", "Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def listen_mode(exe, mock, ca, tmp):
    p, _ = run([exe, "listen", "--help"], clean_env())
    if b"--catch-up" not in p.stdout:
        print("skip: this topgg-webhook has no --catch-up")
        return SKIP
    secret = "whs_listen_test"
    env = clean_env(TOPGG_TOKEN=TOKEN, TOPGG_V1_SECRET=secret)
    votes = [{k: v for k, v in vote.items() if not k.startswith("_")} for vote in mock.votes]
    db = os.path.join(tmp, "dedup.db")

    def walked(run_name, timeout=30):
        """Waits until the run's walk asked for the page after the last vote (the empty one): every
        record before it went through the receiver's pipeline. False if that took over `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cursors = mock.run(run_name).cursors
            if any(cursors.get(e["query"].get("cursor")) == len(votes) for e in mock.log_of(run_name)):
                return True
            time.sleep(0.05)
        return False

    def base(scenario, run_name):
        return ["--catch-up", "--catch-up-since", "3h", "--api-base", f"{mock.url}/{scenario}/{run_name}",
                "--api-ca", ca]

    # A receiver started after the votes were cast: each delivered once, in order, as caught up.
    first_vote = votes[0]
    s = Listener(exe, [*base("pages", "listen-1"), "--dedup", f"sqlite:{db}"], env)
    try:
        lines = s.wait_lines(len(votes))
        check([l["user"]["id"] for l in lines] == [v["user_id"] for v in votes],
              f"listen --catch-up: every vote cast while it was down, once, in order: {lines} {s.err!r}")
        check(all(l["event"] == "vote.create" and l["source"] == "catch-up" and l["id"] == "" for l in lines),
              "listen --catch-up: vote.create lines with \"source\":\"catch-up\" and no vote id")
        # Top.gg's webhook delivers one of them late: the same vote, not a second line.
        check(signed_vote(exe, s.port, first_vote, secret) == 204, "a caught-up vote delivered by webhook: 204")
        time.sleep(0.3)
        check(len(s.lines()) == len(votes), "and no second line for it")
    finally:
        s.stop()

    # Restarted on the same store: resumes from its mark, no vote twice.
    s = Listener(exe, [*base("pages", "listen-2"), "--dedup", f"sqlite:{db}"], env)
    try:
        check(walked("listen-2"), "restarted on its store: it walked the history again")
        check(s.lines() == [], "restarted on its store: nothing delivered twice")
        log = mock.log_of("listen-2")
        since = [e["query"].get("startDate") for e in log if e["endpoint"] == "votes" and "startDate" in e["query"]]
        newest = utc_seconds(votes[-1]["created_at"])
        check(since and newest - 3660 <= utc_seconds(since[0]) <= newest,
              f"and it read from its mark (an hour before the newest vote, {votes[-1]['created_at']}), not 3 h "
              f"back: {since}")
    finally:
        s.stop()

    # A vote delivered live first, then returned by the API: one line.
    s = Listener(exe, ["--catch-up", "--catch-up-since", "3h", "--catch-up-every", "10s",
                       "--api-base", f"{mock.url}/pages/listen-3", "--api-ca", ca], env)
    try:
        lines = s.wait_lines(len(votes))
        check(len(lines) == len(votes), "memory store: each vote once on the first round")
        # Issue 24: with the memory store a restart replays up to --catch-up-since of votes; said at start.
        check(b"--catch-up with the memory store: a restart forgets" in s.err and b"(3h) of votes again" in s.err,
              f"memory store: a warning at start says a restart delivers the last 3h again ({s.err[:600]!r})")
    finally:
        s.stop()

    # 401: one clear line; the live receiver goes on serving.
    s = Listener(exe, base("pages", "listen-401"), clean_env(TOPGG_TOKEN="wrong-token-x", TOPGG_V1_SECRET=secret))
    try:
        check(s.wait_err("token refused (401)"), "a wrong token: one clear line on stderr")
        check(signed_vote(exe, s.port, votes[2], secret) == 204, "and live deliveries are still handled")
        lines = s.wait_lines(1)
        check(len(lines) == 1 and lines[0]["source"] == "webhook", "as webhook lines")
    finally:
        s.stop()

    # 429 with Retry-After: honoured, then every vote.
    s = Listener(exe, base("rate", "listen-429"), env)
    try:
        lines = s.wait_lines(len(votes))
        check(len(lines) == len(votes), "429 then votes: all delivered")
        log = mock.log_of("listen-429")
        votes_log = [e for e in log if e["endpoint"] == "votes"]
        check(len(votes_log) >= 2 and votes_log[1]["t"] - votes_log[0]["t"] >= 1.0, "Retry-After: 1 honoured")
    finally:
        s.stop()

    # A first round that fails is tried again with back-off, also without --catch-up-every (issue 24:
    # the line said "the next round retries", and none came).
    s = Listener(exe, base("badfirst", "listen-retry"), env)
    try:
        check(s.wait_err("the round is tried again in 5 s", 60), "a failed first round says when it is tried again")
        lines = s.wait_lines(len(votes), 60)
        check(len(lines) == len(votes), f"and the second try delivers every vote ({len(lines)} of {len(votes)})")
    finally:
        s.stop()

    # Checked before listening: an http:// API base, an unreadable CA file (issue 24).
    for bad, why in ((["--api-base", "http://127.0.0.1:9/x"], b"https://"),
                     (["--api-ca", os.path.join(tmp, "no-such-ca.pem")], b"CA file")):
        p, _ = run([exe, "listen", "--port", "0", "--v1", "/topgg", "--catch-up", *bad], env)
        check(p.returncode == 2 and why in p.stderr and b"listening" not in p.stderr,
              f"listen --catch-up {bad[0]} {bad[1]}: exit 2 before listening ({p.stderr!r})")

    # Several v1 routes: --catch-up-route names the one votes go through; --only-for ...=@me
    # makes it refuse another project's votes once the token's project is known.
    env2 = dict(env, SECOND_SECRET="whs_second")
    p, _ = run([exe, "listen", "--port", "0", "--v1", "/topgg", "--v1", "/second=SECOND_SECRET", "--catch-up"], env2)
    check(p.returncode == 2 and b"--catch-up-route" in p.stderr, "two v1 routes without --catch-up-route: exit 2")
    s = Listener(exe, [*base("pages", "listen-route"), "--v1", "/second=SECOND_SECRET", "--catch-up-route", "/second",
                       "--only-for", "/second=@me"], env2)
    try:
        lines = s.wait_lines(len(votes))
        check(len(lines) == len(votes) and all(l["route"] == "/second" for l in lines),
              "caught-up votes come through the --catch-up-route route")
        check(signed_vote(exe, s.port, votes[0], "whs_second", path="/second") == 204,
              "the token's project on /second: its webhook twin is answered 204 (the same key)")
        check(signed_vote(exe, s.port, votes[1], "whs_second", project="42", path="/second") == 403,
              "another project's vote on /second: 403 (@me learned from the token)")
        check(signed_vote(exe, s.port, votes[1], secret, project="42") == 204, "/topgg still takes any project")
        lines = s.wait_lines(len(votes) + 1)
        check(len(lines) == len(votes) + 1 and lines[-1]["route"] == "/topgg", "only that last vote added a line")
    finally:
        s.stop()

    # The vote book (--track-votes, issue 18): a vote caught up and delivered by webhook is one vote.
    p, _ = run([exe, "listen", "--help"], clean_env())
    if b"--track-votes" not in p.stdout:
        return 0
    import http.client
    env3 = dict(env, VOTES_KEY="votes-key-api")
    s = Listener(exe, [*base("pages", "listen-book"), "--dedup", f"sqlite:{os.path.join(tmp, 'book.db')}",
                       "--track-votes", "--votes-route", "/votes", "--votes-key", "VOTES_KEY"], env3)
    try:
        lines = s.wait_lines(len(votes))
        check(len(lines) == len(votes), "--track-votes: the caught-up votes, each once")
        check(signed_vote(exe, s.port, votes[0], secret) == 204, "the first one's webhook twin: 204")

        def status(user):
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            conn.request("GET", f"/votes/{user}", headers={"Authorization": "Bearer votes-key-api"})
            r = conn.getresponse()
            body = json.loads(r.read())
            conn.close()
            return r.status, body
        st, body = status(votes[0]["platform_id"])
        check(st == 200 and body["voted"] is True and body["count"] == 1 and body["streak"] == 1
              and body["expires_at"][:19] == votes[0]["expires_at"][:19],
              f"caught up and delivered by webhook: count 1, streak 1 ({body})")
        check(len(s.lines()) == len(votes), "and one line")
    finally:
        s.stop()
    return 0


def main():
    mode, exe = sys.argv[1], sys.argv[2]
    if mode == "ca-only":
        with tempfile.TemporaryDirectory(prefix="topgg-api-") as tmp:
            rc = ca_only_mode(exe, tmp)
        leaked = [argv[0] for argv, out, err in outputs if TOKEN.encode() in out or TOKEN.encode() in err]
        check(not leaked, f"the token appears in no output of {len(outputs)} runs")
        sys.exit(rc)
    with tempfile.TemporaryDirectory(prefix="topgg-api-") as tmp:
        cert, key = make_cert(tmp, "server")
        # Another self-signed certificate, for a name that is not 127.0.0.1: trusted as a CA by
        # some cases (host name check), used as the wrong CA by others.
        other_ca, other_key = make_cert(tmp, "other", "DNS:wrong-host.invalid")
        mock = mock_api.MockApi(TOKEN, cert, key).start()
        other_mock = mock_api.MockApi(TOKEN, other_ca, other_key).start()
        try:
            if mode in ("client", "catchup"):
                rc = client_mode(exe, mock, cert, other_ca, other_mock) or 0
            elif mode == "listen":
                rc = listen_mode(exe, mock, cert, tmp)
            else:
                rc = cli_mode(exe, mock, cert, other_ca, tool=(mode == "tool"))
        finally:
            mock.stop()
            other_mock.stop()
    leaked = [argv[0] for argv, out, err in outputs if TOKEN.encode() in out or TOKEN.encode() in err]
    check(not leaked, f"the token appears in no output of {len(outputs)} runs")
    sys.exit(rc)


if __name__ == "__main__":
    main()
