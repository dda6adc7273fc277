#!/usr/bin/env python3
"""`topgg-webhook listen --redis-stream` against a real redis-server on a free
loopback port, and examples/redis_stream_consumer reading it in consumer groups
(issue 21, the Redis Streams half). Python 3 standard library and redis-cli.

  test_streams.py TOOL LOOP CONSUMER [REDIS_SERVER]

Checks, in one run:
- N votes, some delivered twice to one listener, some to two listeners sharing
  Redis (de-duplication in Redis): exactly N stream entries, each one event;
- Redis stopped: the stream's listener answers 503 (never 2xx), one line per
  outage; Redis back: Top.gg's retries land, each once;
- two consumers in one group: each entry handled by exactly one;
- a consumer killed before XACK: another takes its entries after the timeout.
Waits use generous deadlines; nothing asserts how fast. Exit 77 (skipped)
without redis-server.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dedup"))
from test_dedup import (SUCCESS, PATIENCE, Child, RedisServer, at_once, check, deliver,  # noqa: E402
                        listen, until_2xx)

STREAM = "topgg:events"
CLAIM_IDLE_MS = 1000


def voter(kind, n, tag):
    return (kind, str(tag * 100_000 + n) if kind == "dbl" else f"s{tag}-{n}")


def entries(redis):
    """[(id, event, json)] of the stream, read with redis-cli."""
    cli = shutil.which("redis-cli")
    out = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(redis.port), "--raw", "XRANGE", STREAM, "-", "+"],
                         check=True, capture_output=True, text=True, timeout=PATIENCE).stdout.splitlines()
    got = []
    for i in range(0, len(out) - 4, 5):
        fields = dict(zip(out[i + 1:i + 5:2], out[i + 2:i + 5:2]))
        got.append((out[i], fields.get("event"), fields.get("json")))
    return got


def key_of(event, line):
    e = json.loads(line)
    check(e["event"] == event, f"an entry's \"event\" field names its line's event ({event})")
    return ("dbl", e["user"]) if event == "dbl_vote" else ("v1", e["user"]["id"])


def stream_keys(redis):
    return [key_of(ev, line) for _, ev, line in entries(redis)]


def outage_lines(child):
    err = child.err.decode(errors="replace")
    begin = [ln for ln in err.splitlines() if f"redis stream {STREAM} at" in ln and "answered 503 until it is back" in ln]
    end = [ln for ln in err.splitlines() if f"redis stream {STREAM} at" in ln and "adding again after" in ln]
    return begin, end


def consumer(program, redis, group, name, *extra):
    c = Child([program, f"redis://127.0.0.1:{redis.port}", STREAM, group, name, str(CLAIM_IDLE_MS), *extra],
              listening=None)
    c.wait_for("err", rf"{name} reading")
    return c


def handled(c):
    """{entry id: event} of the lines a consumer printed (not "holding" lines)."""
    got = []
    for line in c.stdout_now().splitlines():
        parts = line.split()
        if len(parts) == 4:
            got.append(parts[1])
    return got


def wait_until(what, cond, seconds=3 * PATIENCE):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def main(tool, loop, consumer_program, program=None):
    program = program or shutil.which("redis-server")
    if not program or not os.access(program, os.X_OK) or not shutil.which("redis-cli"):
        print("SKIP: redis-server or redis-cli is not installed (tools/setup installs the Debian package redis-server)")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        # Kept across its restart (an append-only file written at each command), as a Redis in production.
        redis = RedisServer(program, tmp, "--appendonly", "yes", "--appendfsync", "always")
        url = f"redis://127.0.0.1:{redis.port}"
        children = []
        try:
            a = listen(tool, loop, "--dedup", url, "--redis-stream", STREAM)
            b = listen(tool, loop, "--dedup", url, "--redis-stream", STREAM)
            children += [a, b]

            # 1. N votes: each delivered to a; every third again to a (a retry), every fourth to b
            #    too (a second listener on the same Redis), a few to both at once.
            voters = [voter(kind, n, 1) for n in range(10) for kind in ("dbl", "v1")]
            for i, (kind, user) in enumerate(voters):
                if i % 5 == 4:
                    got = at_once([a.port, b.port], kind, user)
                    check(SUCCESS[kind] in got and all(s in (SUCCESS[kind], 503) for s in got),
                          f"{kind} {user} to both listeners at once: {got}")
                    until_2xx([a.port, b.port], kind, user)  # a 503 (in progress) is delivered again
                    continue
                st = deliver(a.port, kind, user)
                check(st == SUCCESS[kind], f"{kind} {user}: answered {st}")
                if i % 3 == 0:
                    check(deliver(a.port, kind, user, "trace-retry") == SUCCESS[kind], "a retry: 2xx")
                if i % 4 == 0:
                    check(deliver(b.port, kind, user, "trace-other") == SUCCESS[kind], "to the other listener: 2xx")
            keys = stream_keys(redis)
            check(len(keys) == len(voters) and sorted(keys) == sorted(voters),
                  f"{len(voters)} votes, some delivered twice or to both listeners: exactly {len(voters)} stream "
                  f"entries, one per vote ({len(keys)})")

            # 2. Redis stopped: a listener whose de-duplication is its own (memory) reaches the
            #    stream and answers 503, never 2xx; one line per outage; back: the retries land.
            c = listen(tool, loop, "--redis-stream", STREAM, "--redis-stream-url", url)
            children.append(c)
            check(deliver(c.port, "dbl", "300001") == 200, "the third listener adds while Redis answers")
            first = [("dbl", "300001")]
            redis.stop()
            down = [voter(kind, n, 2) for n in range(4) for kind in ("dbl", "v1")]
            statuses = [deliver(c.port, kind, user, "trace-down") for kind, user in down for _ in range(3)]
            check(all(s == 503 for s in statuses), f"{len(statuses)} deliveries while Redis is stopped: all 503 "
                  f"({sorted(set(statuses))})")
            c.wait_for("err", r"answered 503 until it is back")
            time.sleep(1.0)  # reconnection attempts go on meanwhile: still one line
            c.stdout_now()
            begin, end = outage_lines(c)
            check(len(begin) == 1 and not end, f"one line for the outage, not one per delivery ({begin})")
            check(not any(json.loads(ln)["user"] in [u for _, u in down] if "user" in ln else False
                          for ln in c.out.decode().splitlines() if '"dbl_vote"' in ln),
                  "no event line printed for a refused delivery")
            redis.restart()
            for kind, user in down:
                until_2xx([c.port], kind, user, 3 * PATIENCE)
            c.wait_for("err", r"adding again after")
            begin, end = outage_lines(c)
            check(len(begin) == 1 and len(end) == 1, "one line when Redis is back")
            for kind, user in down:  # Top.gg delivers a retry late: handled already, not added again
                check(deliver(c.port, kind, user, "trace-late") == SUCCESS[kind], "a late retry: 2xx")
            want = voters + first + down
            keys = stream_keys(redis)
            check(len(keys) == len(want) and sorted(keys) == sorted(want),
                  f"after the outage every refused delivery landed once: {len(keys)} entries for {len(want)} votes")
            for ch in (a, b):
                ch.stop()
            children.remove(a)
            children.remove(b)

            # 3. Two consumers in one group: each entry once — those already in the stream, and
            #    new ones added one at a time while both wait for them.
            x = consumer(consumer_program, redis, "g1", "x")
            y = consumer(consumer_program, redis, "g1", "y")
            children += [x, y]
            wait_until("the consumers handled what was in the stream", lambda: len(handled(x)) + len(handled(y)) >= len(want))
            for n in range(20):
                kind, user = voter("dbl", n, 4)
                check(deliver(c.port, kind, user) == 200, f"vote {user} added")
                want.append((kind, user))
                wait_until("a consumer handled the new entry", lambda: len(handled(x)) + len(handled(y)) >= len(want))
            c.stop()
            children.remove(c)
            ids = [i for i, _, _ in entries(redis)]
            check(len(ids) == len(want), f"{len(want)} entries in the stream")
            time.sleep(1.0)  # anything handled twice would show meanwhile
            got = handled(x) + handled(y)
            check(sorted(got) == sorted(ids) and handled(x) and handled(y),
                  f"two consumers in one group: each of {len(ids)} entries handled by exactly one of them "
                  f"({len(handled(x))} by x, {len(handled(y))} by y, {len(got)} in all)")

            # 4. A consumer killed before XACK: another takes its entries after the timeout.
            h = consumer(consumer_program, redis, "g2", "h", "hold")
            children.append(h)
            h.wait_for("out", r"h holding ")
            z = consumer(consumer_program, redis, "g2", "z")
            children.append(z)
            h.proc.send_signal(signal.SIGKILL)
            h.proc.wait()
            wait_until("the second consumer took over every entry", lambda: len(handled(z)) >= len(ids))
            time.sleep(1.0)
            check(sorted(handled(z)) == sorted(ids), f"a consumer killed before XACK: the other handled its "
                  f"{len(ids)} entries after {CLAIM_IDLE_MS} ms idle, each once ({len(handled(z))})")
            # The line comes before its XACK: waited for, not assumed within the second above.
            wait_until("nothing left pending in the group",
                       lambda: redis.command("XPENDING", STREAM, "g2").startswith("*4\r\n:0\r\n"))
            for ch in (x, y, z):
                check(ch.end() == 0, "a consumer exits 0 on SIGTERM")
            children.clear()
        finally:
            for ch in children:
                ch.kill()
            redis.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
