#!/usr/bin/env python3
"""The vote book through `topgg-webhook listen --track-votes`, end to end.

    test_votes.py CASE TOOL LOOP [REDIS_SERVER]

v1_expiry        a vote.create whose expires_at is 2 s ahead: one vote.expired line, not before it;
                 a second vote before then moves it (one line, at the new expiry, streak 2)
legacy_duration  --vote-duration 3s: a bot vote's line comes 3 s after it was handled
exec_failure     --exec failing for vote.expired: it comes again (with back-off) until the command
                 exits 0, then never again
endpoint         --votes-route /votes --votes-key VAR (SQLite): 401, 400, voted true with the right
                 expiry and streak before, false after, nothing about another user; `status` prints
                 the same JSON from the store; the key from $VOTES_KEY_FILE, swapped by SIGHUP on a
                 keep-alive connection (new 200, old 401), kept when its file is gone
endpoint_redis   the endpoint answers 503 while Redis is stopped, 200 once it is back; its key from
                 the systemd credential votes-key
restart_sqlite   stopped before the expiry, started after it: the line comes once, soon after start
restart_redis    the same with Redis
redis_two        two listeners on one Redis: each expiry printed once between them
json_log         --log-format json: the vote book's stderr lines (the memory store's warning, an
                 --exec failure for vote.expired) are JSON objects like every other line
options          refusals (exit 2) and --help

Deadlines are generous (a busy machine): the tests assert order, counts and contents, never speed.
Standard library only; the helpers are tests/examples/test_examples.py's and tests/dedup/test_dedup.py's.
"""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, os.path.join(HERE, "..", "dedup"))
from test_examples import BOT, DBL_AUTH, ENV, PATIENCE, TIMEOUT_MULTIPLIER, V1_SECRET, Child, check  # noqa: E402
from test_dedup import RedisServer, kill_all  # noqa: E402

PROJECT = "803190510032756736"
VOTES_KEY = "votes-key-9f2c"
VENV = dict(ENV, VOTES_KEY=VOTES_KEY)
WAIT = 30 * TIMEOUT_MULTIPLIER  # seconds: for something that must come, on a busy machine


def iso(t):
    """Epoch seconds → RFC 3339 UTC with six fraction digits, as the tool writes times."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def post(port, path, body, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def v1_vote(port, discord, created, expires, path="/topgg", project=PROJECT):
    """A vote.create by `discord` (its Top.gg user ID derived from it), signed now."""
    created, expires = round(created, 6), round(expires, 6)
    body = json.dumps({"type": "vote.create", "data": {
        "id": f"v-{discord}-{created}", "weight": 1, "created_at": iso(created), "expires_at": iso(expires),
        "project": {"id": project, "type": "bot", "platform": "discord", "platform_id": BOT},
        "user": {"id": "tg-" + discord, "platform_id": discord, "name": "voter", "avatar_url": None}}}).encode()
    t = str(int(time.time()))
    mac = hmac.new(V1_SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return post(port, path, body, {"Content-Type": "application/json", "x-topgg-signature": f"t={t},v1={mac}"})


def bot_vote(port, user):
    body = json.dumps({"bot": BOT, "user": user, "type": "upvote", "isWeekend": False}).encode()
    return post(port, "/dbl", body, {"Content-Type": "application/json", "Authorization": DBL_AUTH})


def get(port, target, key=VOTES_KEY, auth=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {} if key is None else {"Authorization": auth or f"Bearer {key}"}
        c.request("GET", target, headers=headers)
        r = c.getresponse()
        body = r.read().decode()
        is_json = r.getheader("Content-Type", "") == "application/json"
        return r.status, (json.loads(body) if is_json else body), dict(r.getheaders())
    finally:
        c.close()


def listen(tool, loop, *extra, env=VENV):
    return Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl",
                  "--v1", "/topgg", "--track-votes", *extra], env=env)


class Expired:
    """The vote.expired lines of some listeners, each with the (wall) time it was first seen."""

    def __init__(self, *children):
        self.children = children
        self.seen = {}  # (child index, line number) -> (line dict, seen at)

    def poll(self):
        now = time.time()
        for i, c in enumerate(self.children):
            for n, line in enumerate(c.stdout_now().splitlines()):
                e = json.loads(line)
                if e["event"] == "vote.expired" and (i, n) not in self.seen:
                    self.seen[(i, n)] = (e, now)
        return [v for _, v in sorted(self.seen.items())]

    def of(self, user):
        return [v for v in self.poll() if v[0]["user"] == user]

    def wait(self, user, count=1, within=WAIT):
        deadline = time.monotonic() + within
        while len(self.of(user)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} vote.expired line(s) for {user} within {within} s: {self.poll()} "
                                     f"stderr={[c.err[-600:] for c in self.children]}")
            time.sleep(0.05)
        return self.of(user)


def skip_without(program):
    program = program or shutil.which("redis-server")
    if not program or not os.access(program, os.X_OK):
        print("SKIP: redis-server is not installed (tools/setup installs it)")
        sys.exit(77)
    return program


# ---- cases -----------------------------------------------------------------------------

def v1_expiry(tool, loop, _=None):
    s = listen(tool, loop)
    try:
        check("vote book is lost on restart" in s.err.decode(), "--track-votes with the memory store says so")
        lines = Expired(s)
        t = time.time()
        check(v1_vote(s.port, "1001", t, t + 2) == 204, "a vote.create running out in 2 s: 204")
        (e, seen), = lines.wait("1001")
        check(seen >= round(t + 2, 6), f"its vote.expired came after its expiry ({seen - t:.3f} s after the vote)")
        check(list(e) == ["event", "route", "user", "project", "voted_at", "expired_at", "streak"],
              f"the line's fields, in order: {list(e)}")
        check(e == {"event": "vote.expired", "route": "/topgg", "user": "1001", "project": PROJECT,
                    "voted_at": iso(round(t, 6)), "expired_at": iso(round(t + 2, 6)), "streak": 1},
              f"the line says who, what, when, and the streak: {e}")

        t1 = time.time()
        # Far enough ahead that the second vote comes before the first expiry, however busy the machine.
        check(v1_vote(s.port, "1002", t1, t1 + 6) == 204, "another user votes, running out in 6 s")
        time.sleep(1.1)  # another second: another vote (a vote's identity is its second)
        t2 = time.time()
        check(t2 < t1 + 6, "(the second vote is sent before the first ran out)")
        check(v1_vote(s.port, "1002", t2, t2 + 6) == 204, "and votes again before it ran out")
        (e, seen), = lines.wait("1002")
        check(e["expired_at"] == iso(round(t2 + 6, 6)) and seen >= round(t2 + 6, 6),
              f"one line, at the new expiry, not before it: {e}")
        check(e["streak"] == 2 and e["voted_at"] == iso(round(t2, 6)), "streak 2, the second vote's time")
        time.sleep(2.5)
        check(len(lines.of("1001")) == 1 and len(lines.of("1002")) == 1,
              f"and no second line for either: {lines.poll()}")
        s.stop()
    finally:
        s.kill()


def legacy_duration(tool, loop, _=None):
    s = listen(tool, loop, "--vote-duration", "3s")
    try:
        lines = Expired(s)
        before = time.time()
        check(bot_vote(s.port, "7001") == 200, "a bot vote: 200")
        after = time.time()
        (e, seen), = lines.wait("7001")
        voted, expired = parse(e["voted_at"]), parse(e["expired_at"])
        check(before - 0.001 <= voted <= after + 0.001, f"voted_at is when it was handled ({e['voted_at']})")
        check(abs((expired - voted) - 3) < 1e-6, f"expired_at is 3 s later ({e})")
        check(seen >= expired, "the line came after it")
        check(e["route"] == "/dbl" and e["bot"] == BOT and e["user"] == "7001" and "project" not in e,
              f"with the bot and the user as the legacy lines write them: {e}")
        time.sleep(1.5)
        check(len(lines.of("7001")) == 1, "once")
        s.stop()
    finally:
        s.kill()


def exec_failure(tool, loop, _=None):
    with tempfile.TemporaryDirectory() as tmp:
        count = os.path.join(tmp, "count")
        script = (f"line=$(cat); case \"$line\" in *'\"vote.expired\"'*) n=$(cat '{count}' 2>/dev/null || echo 0); "
                  f"n=$((n+1)); echo $n > '{count}'; [ $n -ge 3 ];; *) exit 0;; esac")
        s = listen(tool, loop, "--exec", script)
        try:
            lines = Expired(s)
            t = time.time()
            check(v1_vote(s.port, "8001", t, t + 1) == 204, "a vote running out in 1 s")
            lines.wait("8001")  # written only once the command exited 0
            with open(count) as f:
                check(f.read().strip() == "3", "the command failed twice and got it again each time")
            err = s.err.decode()
            check(err.count("--exec failed for vote.expired: exit status 1") == 2,
                  f"each failure is one stderr line: {err[-800:]}")
            time.sleep(4)
            with open(count) as f:
                check(f.read().strip() == "3", "once it exited 0, never again")
            check(len(lines.of("8001")) == 1, "and its line was written once")
            s.stop()
        finally:
            s.kill()


def endpoint(tool, loop, _=None):
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "votes.db")
        key_file = os.path.join(tmp, "votes-key")
        with open(key_file, "w") as f:
            f.write(VOTES_KEY + "\n")
        env = dict(ENV, VOTES_KEY_FILE=key_file)  # the key from a file, read again on SIGHUP
        s = listen(tool, loop, "--dedup", "sqlite:" + db, "--votes-route", "/votes", "--votes-key", "VOTES_KEY",
                   env=env)
        try:
            for headers, what in ((None, "without Authorization"), (f"Bearer {VOTES_KEY}x", "with a longer key"),
                                  ("Bearer wrong", "with a wrong key"), (VOTES_KEY, "without the Bearer scheme"),
                                  (f"Basic {VOTES_KEY}", "with another scheme")):
                st, body, h = get(s.port, "/votes/5551", key=None if headers is None else "", auth=headers)
                check(st == 401 and "voted" not in body and h.get("WWW-Authenticate") == "Bearer",
                      f"401 {what}, saying nothing of the user")
            st, body, _ = get(s.port, "/votes/5551")
            check(st == 200 and body == {"user": "5551", "voted": False, "voted_at": None, "expires_at": None,
                                         "weight": 0, "streak": 0, "count": 0}, f"a user who never voted: {body}")
            for target in ("/votes/abc", "/votes/12a", "/votes/1/2", "/votes/5551?bot=abc",
                           "/votes/5551?project=1&bot=2", "/votes/5551?project=a%20b"):
                st, body, _ = get(s.port, target)
                check(st == 400 and "error" in body, f"{target}: 400 ({body})")
            check(get(s.port, "/votes/")[0] == 404, "/votes/ alone: 404")

            t = time.time()
            check(v1_vote(s.port, "5551", t, t + 8) == 204, "a vote running out in 8 s")
            st, body, _ = get(s.port, "/votes/5551")
            check(st == 200 and body == {"user": "5551", "voted": True, "voted_at": iso(round(t, 6)),
                                         "expires_at": iso(round(t + 8, 6)), "weight": 1, "streak": 1, "count": 1},
                  f"before its expiry: voted, when, until when, streak 1: {body}")
            check(get(s.port, f"/votes/5551?project={PROJECT}")[1] == body, "?project= names the same")
            st, other, _ = get(s.port, "/votes/5552")
            check(st == 200 and other["voted"] is False and other["count"] == 0 and other["voted_at"] is None,
                  f"another user: nothing of the first leaks ({other})")
            st, other, _ = get(s.port, "/votes/5551?project=42")
            check(other["voted"] is False and other["count"] == 0, "another project: not voted")

            Expired(s).wait("5551")
            st, after, _ = get(s.port, "/votes/5551")
            check(st == 200 and after == dict(body, voted=False), f"after it: not voted, the rest kept ({after})")
            p = subprocess.run([tool, "status", "--dedup", "sqlite:" + db, "5551", "--project", PROJECT],
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 0 and json.loads(p.stdout) == after,
                  f"`topgg-webhook status` prints the same JSON from the store: {p.stdout!r} {p.stderr!r}")
            p = subprocess.run([tool, "status", "--dedup", "sqlite:" + db, "5551"], capture_output=True, text=True,
                               timeout=30)
            check(p.returncode == 0 and json.loads(p.stdout) == after, "without --project: the one project recorded")

            check(bot_vote(s.port, "5551") == 200, "the same user's bot vote (legacy): another subject")
            st, body, _ = get(s.port, "/votes/5551")
            check(st == 400 and "?project=" in body["error"], f"two subjects, none named: 400 ({body})")
            st, body, _ = get(s.port, f"/votes/5551?bot={BOT}")
            check(st == 200 and body["voted"] is True and body["count"] == 1, f"?bot= names the bot's ({body})")
            p = subprocess.run([tool, "status", "--dedup", "sqlite:" + db, "5551"], capture_output=True, text=True,
                               timeout=30)
            check(p.returncode == 2 and "--project" in p.stderr, "status without a subject, two recorded: exit 2")

            # SIGHUP: the key read again from its file and swapped, on a connection that stays open.
            kept = http.client.HTTPConnection("127.0.0.1", s.port, timeout=PATIENCE)
            kept.request("GET", f"/votes/5551?bot={BOT}", headers={"Authorization": f"Bearer {VOTES_KEY}"})
            r = kept.getresponse()
            r.read()
            check(r.status == 200, "a keep-alive connection asks with the first key")
            with open(key_file, "w") as f:
                f.write("votes-key-rotated\n")
            s.proc.send_signal(signal.SIGHUP)
            s.wait_for("err", r"reloaded the --votes-key from \S+ \(\$VOTES_KEY_FILE\)")
            s.wait_for("err", r"SIGHUP: done \(1 changed, 0 kept")
            for key, status in (("votes-key-rotated", 200), (VOTES_KEY, 401)):
                kept.request("GET", f"/votes/5551?bot={BOT}", headers={"Authorization": f"Bearer {key}"})
                r = kept.getresponse()
                r.read()
                check(r.status == status, f"after SIGHUP, on the same connection: {status} for the "
                      f"{'new' if status == 200 else 'old'} key")
            kept.close()
            os.unlink(key_file)
            s.proc.send_signal(signal.SIGHUP)
            s.wait_for("err", r"cannot read the --votes-key from \S+ \(\$VOTES_KEY_FILE\): No such file or "
                       r"directory: keeping the old value")
            s.wait_for("err", r"SIGHUP: done \(0 changed, 1 kept")
            check(get(s.port, f"/votes/5551?bot={BOT}", key="votes-key-rotated")[0] == 200,
                  "its file gone: the key in use is kept")
            check(VOTES_KEY.encode() not in s.err and b"votes-key-rotated" not in s.err, "no key on stderr")
            s.stop()
        finally:
            s.kill()
        p = subprocess.run([tool, "status", "--dedup", "sqlite:" + os.path.join(tmp, "none.db"), "1"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 1 and "no such file" in p.stderr and not os.path.exists(os.path.join(tmp, "none.db")),
              "status on a file that does not exist: exit 1, nothing created")
        p = subprocess.run([tool, "status", "--dedup", "memory", "1"], capture_output=True, text=True, timeout=30)
        check(p.returncode == 2, "status --dedup memory: exit 2")


def endpoint_redis(tool, loop, program=None):
    program = skip_without(program)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        s = None
        try:
            credentials = os.path.join(tmp, "credentials")  # the key as systemd's credential votes-key
            os.mkdir(credentials)
            with open(os.path.join(credentials, "votes-key"), "w") as f:
                f.write(VOTES_KEY + "\n")
            s = listen(tool, loop, "--dedup", f"redis://127.0.0.1:{redis.port}", "--votes-route", "/votes",
                       "--votes-key", "VOTES_KEY", env=dict(ENV, CREDENTIALS_DIRECTORY=credentials))
            t = time.time()
            check(v1_vote(s.port, "6001", t, t + 600) == 204, "a vote")
            st, body, _ = get(s.port, "/votes/6001")
            check(st == 200 and body["voted"] is True, "200 while Redis answers")
            redis.stop()
            st, body, _ = get(s.port, "/votes/6001")
            check(st == 503 and "voted" not in body, f"503 while it is stopped ({st} {body})")
            redis.restart()
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                st, body, _ = get(s.port, "/votes/6001")
                if st == 200:
                    break
                time.sleep(0.2)
            check(st == 200 and body["count"] == 0, "200 again once it is back (an empty Redis: no vote)")
            s.stop()
        finally:
            if s:
                s.kill()
            redis.stop()


def restart(tool, loop, store, wait_after_start=True):
    """Stopped before the expiry, started again after it: the line once, soon after start."""
    s = listen(tool, loop, "--dedup", store)
    try:
        t = time.time()
        check(v1_vote(s.port, "9001", t, t + 6) == 204, "a vote running out in 6 s")
        s.stop()
        check(not Expired(s).poll(), "stopped before it ran out: no line")
    finally:
        s.kill()
    time.sleep(max(0.0, t + 6.5 - time.time()))
    s = listen(tool, loop, "--dedup", store)
    try:
        lines = Expired(s)
        (e, _), = lines.wait("9001")
        check(e["expired_at"] == iso(round(t + 6, 6)), "started after the expiry: its line comes, late")
        time.sleep(2)
        check(len(lines.of("9001")) == 1, "once")
        s.stop()
    finally:
        s.kill()
    s = listen(tool, loop, "--dedup", store)
    try:
        time.sleep(2)
        check(not Expired(s).poll(), "and not again at the next start")
        s.stop()
    finally:
        s.kill()


def restart_sqlite(tool, loop, _=None):
    with tempfile.TemporaryDirectory() as tmp:
        restart(tool, loop, "sqlite:" + os.path.join(tmp, "votes.db"))


def restart_redis(tool, loop, program=None):
    program = skip_without(program)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        try:
            restart(tool, loop, f"redis://127.0.0.1:{redis.port}")
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
            lines = Expired(a, b)
            users = [str(9100 + i) for i in range(10)]
            t = time.time()
            for i, u in enumerate(users):  # half recorded by each; all run out within a second
                check(v1_vote((a, b)[i % 2].port, u, t, t + 2 + i / 10) == 204, f"vote {u}")
            for u in users:
                lines.wait(u)
            time.sleep(3)  # both poll the shared index meanwhile
            got = lines.poll()
            per_user = {u: len([1 for e, _ in got if e["user"] == u]) for u in users}
            check(all(n == 1 for n in per_user.values()) and len(got) == len(users),
                  f"each expiry printed once between the two listeners: {per_user}")
            a.stop()
            b.stop()
        finally:
            kill_all((a, b), redis)


def options(tool, loop, _=None):
    base = [tool, "listen", "--port", "0", "--loop", loop, "--dbl", "/dbl"]
    cases = [
        (["--track-votes", "--no-dedup"], "--no-dedup", "--track-votes with --no-dedup"),
        (["--vote-duration", "3s"], "--track-votes", "--vote-duration without --track-votes"),
        (["--track-votes", "--votes-route", "/votes"], "--votes-key", "--votes-route without --votes-key"),
        (["--track-votes", "--votes-key", "VOTES_KEY"], "--votes-route", "--votes-key without --votes-route"),
        (["--track-votes", "--votes-route", "/votes", "--votes-key", "NOT_SET_ANYWHERE"], "unset",
         "--votes-key naming an unset variable"),
        (["--track-votes", "--votes-route", "/votes", "--votes-key", "@/nonexistent/votes-key"],
         "No such file", "--votes-key @FILE that cannot be read"),
        (["--track-votes", "--votes-route", "/votes", "--votes-key", VOTES_KEY + "!"], "environment variable",
         "--votes-key given the key itself"),
        (["--track-votes", "--votes-route", "/votes", "--votes-key", "abcKey123"], "unset",
         "--votes-key given a key that looks like a variable's name"),
        (["--track-votes", "--votes-route", "votes", "--votes-key", "VOTES_KEY"], "--votes-route", "a route without /"),
        (["--track-votes", "--vote-duration", "0s"], "--vote-duration", "a zero duration"),
        (["--track-votes", "--streak-grace", "12x"], "--streak-grace", "a malformed duration"),
    ]
    for extra, word, what in cases:
        p = subprocess.run(base + extra, env=VENV, capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and word in p.stderr and "listening" not in p.stderr,
              f"{what}: exit 2 before listening ({p.stderr.strip()!r})")
        check(VOTES_KEY not in p.stderr and "abcKey123" not in p.stderr, f"{what}: no key repeated on stderr")
    p = subprocess.run([tool, "listen", "--help"], capture_output=True, text=True, timeout=30)
    for word in ("--track-votes", "--vote-duration", "--streak-grace", "--votes-route", "--votes-key", "vote.expired"):
        check(word in p.stdout, f"listen --help says {word}")
    p = subprocess.run([tool, "status", "--help"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0 and "--project" in p.stdout, "status --help")
    # The key's variable is a secret: --exec commands do not get it.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "env")
        s = listen(tool, loop, "--votes-route", "/votes", "--votes-key", "VOTES_KEY", "--exec", f"env > '{out}'")
        try:
            check(bot_vote(s.port, "7101") == 200, "a vote runs the command")
            with open(out) as f:
                check("VOTES_KEY" not in f.read(), "--exec does not get $VOTES_KEY")
            s.stop()
        finally:
            s.kill()


class JsonChild(Child):
    """A listener started with --log-format json: its "listening on" line is a JSON object."""

    def wait_for(self, stream, pattern, timeout=PATIENCE):
        if pattern.startswith("listening on"):
            pattern = r'"listening on http://[^"\s]+:(\d+)"'
        return super().wait_for(stream, pattern, timeout)


def json_log(tool, loop, _=None):
    with tempfile.TemporaryDirectory() as tmp:
        count = os.path.join(tmp, "count")
        script = (f"line=$(cat); case \"$line\" in *'\"vote.expired\"'*) n=$(cat '{count}' 2>/dev/null || echo 0); "
                  f"n=$((n+1)); echo $n > '{count}'; [ $n -ge 2 ];; *) exit 0;; esac")
        s = JsonChild([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--loop", loop, "--dbl", "/dbl",
                       "--v1", "/topgg", "--track-votes", "--log-format", "json", "--exec", script], env=VENV)
        try:
            lines = Expired(s)
            t = time.time()
            check(v1_vote(s.port, "8101", t, t + 1) == 204, "a vote running out in 1 s")
            lines.wait("8101")  # once the command exited 0, its second time
            s.stop()
        finally:
            s.kill()
        err = [json.loads(line) for line in s.err.decode().splitlines() if line.strip()]  # raises if one is not
        check(all({"time", "level", "msg"} <= set(e) for e in err), f"every stderr line is a log object: {err}")
        warned = [e for e in err if "vote book is lost on restart" in e["msg"]]
        check(len(warned) == 1 and warned[0]["level"] == "warning", f"the memory store's warning: {warned}")
        failed = [e for e in err if "--exec failed for vote.expired" in e["msg"]]
        check(len(failed) == 1 and failed[0]["level"] == "error" and failed[0].get("event") == "vote.expired"
              and "given again later" in failed[0]["msg"], f"the --exec failure, with its event: {failed}")


CASES = {f.__name__: f for f in (v1_expiry, legacy_duration, exec_failure, endpoint, endpoint_redis, restart_sqlite,
                                  restart_redis, redis_two, options, json_log)}


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CASES)} TOOL LOOP [REDIS_SERVER]")
    signal.alarm(170 * TIMEOUT_MULTIPLIER)  # a hung test fails rather than waiting for meson's timeout
    CASES[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
