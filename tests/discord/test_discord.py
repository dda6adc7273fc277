#!/usr/bin/env python3
"""`topgg-webhook listen --discord-webhook VAR` against a mock Discord over HTTPS, end to end.

    test_discord.py CASE TOOL [LOOP]

order    a 429 (retry_after), then three 500s, then posts with rate-limit headers that run the bucket
         dry: every vote (v1 and legacy) posted once, in order, with allowed_mentions naming only its
         voter and the streak from --track-votes; Top.gg's retries of handled votes post nothing;
         the mock checks that no request came before a 429's retry_after or a bucket's reset
outage   the mock down (its port closed) for a few seconds while votes arrive: each delivery is still
         answered 2xx, and once the mock is back every vote is posted once, in order
restart  --dedup sqlite: votes arrive while the mock answers 503; the listener stops with them
         queued, starts again on the same file: they are posted once, in order, before newer votes;
         Top.gg's retries of the old votes (after the restart) post nothing
redis-restart  the restart case with --dedup redis://: the queue is kept in Redis
redis-replicas two listeners on one Redis, each receiving votes: one queue, one poster at a time;
         every vote posted exactly once, those queued during an outage in the order they were queued;
         the two listeners' stop lines count every message once between them
stop-in-wait  --dedup sqlite: a 2xx that empties the bucket for 30 s, SIGTERM during that wait,
         restart on the same file: the posted message is not posted again, the others once, in order
options  --no-dedup with --discord-webhook or --redis-stream: exit 2, one line; a URL file with a fragment
         or a second line, or the URL given instead of a variable's name: exit 2, the URL not repeated
gone     404 from Discord: one line saying so, no further attempt, deliveries go on (2xx); then a new
         URL in $DISCORD_URL_FILE and SIGHUP: the queued message and the next vote are posted there
secret   the webhook URL (and its token) appears in no stdout, stderr line (errors included) or
         --exec child's environment, and the variable is not handed to the child, even when the URL
         came from $DISCORD_URL_FILE (which wins) and $DISCORD_URL holds another

The mock's certificate is made with `openssl req` at run time; loopback only. Deadlines are generous
(a busy machine): the tests assert order, counts and contents, never speed.
"""
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, os.path.join(HERE, "..", "api"))
sys.path.insert(0, os.path.join(HERE, "..", "votes"))
sys.path.insert(0, os.path.join(HERE, "..", "metrics"))
sys.path.insert(0, os.path.join(HERE, "..", "dedup"))
from test_examples import BOT, DBL_AUTH, ENV, TIMEOUT_MULTIPLIER, V1_SECRET, Child, check  # noqa: E402
from test_votes import iso, post  # noqa: E402
from run_api_tests import make_cert  # noqa: E402
from test_metrics_cli import get, metrics_port  # noqa: E402
from test_dedup import RedisServer  # noqa: E402

PROJECT = "803190510032756736"
TOKEN = "tok-SECRET-9d8f7e6a5b4c3d2e1f0a"
WAIT = 60 * TIMEOUT_MULTIPLIER  # seconds: for something that must come, on a busy machine


class MockDiscord:
    """POST /api/webhooks/1/<TOKEN>?wait=true. `script` holds the answers for the next requests
    ("429", "500", "404", "503"); then 200. Every accepted message is kept in order of acceptance."""

    def __init__(self, cert, key, port=0):
        self.cert, self.key = cert, key
        self.lock = threading.Lock()
        self.script = []
        self.accepted = []  # the JSON bodies answered 200, in order
        self.attempts = 0
        self.answered = 0  # answers written whole
        self.problems = []  # requests that broke a rule (a rate limit, the URL, the body)
        self.not_before = 0.0  # monotonic: no request before this (a 429's or a bucket's reset)
        self.fail_always = None  # a status answered to every request while set
        self.dry_for = None  # seconds: while set, every 2xx empties the bucket for this long
        self.sent = 0
        self.refusing = False
        self.hook = f"/api/webhooks/1/{TOKEN}"  # the webhook's path
        self.deleted = set()  # paths of webhooks deleted: 404
        self.server = None
        self.start(port)

    def start(self, port=0):
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                try:
                    mock.handle(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}{self.hook}"

    def down(self):
        """Refuses connections, and drops those open (a request on one gets no answer)."""
        self.refusing = True
        self.server.shutdown()
        self.server.server_close()

    def up(self):
        self.refusing = False
        self.start(self.port)

    def handle(self, h):
        arrived = time.monotonic()
        body = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        if self.refusing:
            h.close_connection = True
            return
        with self.lock:
            self.attempts += 1
            if arrived < self.not_before:
                self.problems.append(f"a request {self.not_before - arrived:.3f} s before the rate limit's reset")
            deleted = h.path.split("?")[0] in self.deleted
            if h.path != self.hook + "?wait=true" and not deleted:
                self.problems.append("path " + h.path)
            if h.headers.get("Content-Type") != "application/json":
                self.problems.append("content type " + str(h.headers.get("Content-Type")))
            step = "404" if deleted else self.fail_always or (self.script.pop(0) if self.script else "200")
        if step == "429":
            out = json.dumps({"message": "You are being rate limited.", "retry_after": 1.2, "global": False})
            headers = {"Retry-After": "2", "X-RateLimit-Bucket": "b1", "X-RateLimit-Scope": "user"}
            self.answer(h, 429, out, headers, wait=1.2)
            return
        if step != "200":
            self.answer(h, int(step), json.dumps({"message": "no", "code": 0}), {})
            return
        try:
            message = json.loads(body)
        except ValueError:
            with self.lock:
                self.problems.append("a body that is not JSON")
            self.answer(h, 400, "{}", {})
            return
        with self.lock:
            self.accepted.append(message)
            self.sent += 1
            # Every third message empties the bucket for half a second.
            dry = self.sent % 3 == 0 or self.dry_for is not None
            reset = self.dry_for if self.dry_for is not None else 0.5
        headers = {"X-RateLimit-Bucket": "b1", "X-RateLimit-Limit": "3",
                   "X-RateLimit-Remaining": "0" if dry else "2", "X-RateLimit-Reset-After": str(reset)}
        self.answer(h, 200, json.dumps({"id": "1", "content": message.get("content")}), headers,
                    wait=reset if dry else 0)

    def answer(self, h, status, body, headers, wait=0):
        data = body.encode()
        with self.lock:  # counted from before the answer leaves: the client can only see it later
            self.not_before = max(self.not_before, time.monotonic() + wait)
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        with self.lock:
            self.answered += 1

    def contents(self):
        with self.lock:
            return [m["content"] for m in self.accepted]

    def wait_for(self, n, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if len(self.contents()) >= n:
                break
            time.sleep(0.1)
        got = self.contents()
        check(len(got) >= n, f"{what}: {n} messages posted (got {len(got)}: {got})")
        return got


def v1_body(user, created):
    return json.dumps({"type": "vote.create", "data": {
        "id": f"v-{user}-{created}", "weight": 1, "created_at": iso(created), "expires_at": iso(created + 43200),
        "project": {"id": PROJECT, "type": "bot", "platform": "discord", "platform_id": BOT},
        "user": {"id": "tg-" + user, "platform_id": user, "name": "name-" + user, "avatar_url": None}}}).encode()


def send_v1(port, body):
    t = str(int(time.time()))
    mac = hmac.new(V1_SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return post(port, "/topgg", body, {"Content-Type": "application/json", "x-topgg-signature": f"t={t},v1={mac}"})


def send_bot(port, user):
    body = json.dumps({"bot": BOT, "user": user, "type": "upvote", "isWeekend": False}).encode()
    return post(port, "/dbl", body, {"Content-Type": "application/json", "Authorization": DBL_AUTH})


LOOP = ["--loop", sys.argv[3]] if len(sys.argv) > 3 else []  # else the tool's default


def listen(tool, mock, ca, *extra, env_extra=None):
    env = dict(ENV, DISCORD_URL=mock.url)
    env.update(env_extra or {})
    return Child([tool, "listen", "--host", "127.0.0.1", "--port", "0", *LOOP, "--dbl", "/dbl", "--v1", "/topgg",
                  "--discord-webhook", "DISCORD_URL", "--discord-ca", ca, *extra], env=env)


def user(i):
    return str(661200758510977000 + i)


def case_order(tool, mock, ca, tmp):
    mock.script = ["429", "500", "500", "500"]
    child = listen(tool, mock, ca, "--track-votes", "--discord-template", "{user_name}|{user_id}|{event}|{streak}",
                   "--metrics", "127.0.0.1:0")
    scrape_at = metrics_port(child)
    expected = []
    now = time.time()
    bodies = []
    for i in range(8):
        if i % 3 == 2:
            check(send_bot(child.port, user(i)) == 200, f"bot vote {i} answered 200")
            expected.append(f"<@{user(i)}>|{user(i)}|dbl_vote|1")
        else:
            b = v1_body(user(i), now - 100 + i)
            bodies.append(b)
            check(send_v1(child.port, b) == 204, f"vote.create {i} answered 204")
            expected.append(f"name-{user(i)}|{user(i)}|vote.create|1")
    # Top.gg's retries of handled votes: answered, never posted again.
    for b in bodies[:3]:
        check(send_v1(child.port, b) == 204, "a retry of a handled vote.create answered 204")
    check(send_bot(child.port, user(2)) == 200, "a retry of a handled bot vote answered 200")
    # The same voter again, later: streak 2. Sent once the first vote's message was made (its first
    # attempt came): {streak} is the record's when the message is made, and a voter's next vote
    # comes 12 h later, not milliseconds.
    deadline = time.monotonic() + WAIT
    while mock.attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(send_v1(child.port, v1_body(user(0), now - 10)) == 204, "a second vote by the first voter")
    expected.append(f"name-{user(0)}|{user(0)}|vote.create|2")
    got = mock.wait_for(len(expected), "order")
    time.sleep(2)  # a second copy would come within the waits the mock imposes
    got = mock.contents()
    check(got == expected, f"each vote posted once, in order: {got}")
    with mock.lock:
        mentions = [m.get("allowed_mentions") for m in mock.accepted]
        problems = list(mock.problems)
        attempts = mock.attempts
    check(all(m == {"parse": [], "users": [e.split("|")[1]]} for m, e in zip(mentions, expected)),
          f"allowed_mentions names only the voter: {mentions}")
    check(problems == [], f"no request broke a rate limit or the protocol: {problems}")
    check(attempts == len(expected) + 4, f"one attempt per message plus the 429 and the three 500s ({attempts})")
    page = get(scrape_at, "/metrics")[2]
    for series in (f"topgg_webhook_discord_posts_total {len(expected)}\n",
                   'topgg_webhook_discord_retries_total{reason="rate_limited"} 1\n',
                   'topgg_webhook_discord_retries_total{reason="failed"} 3\n',
                   "topgg_webhook_discord_queued 0\n", "topgg_webhook_discord_stopped 0\n"):
        check(series in page, f"/metrics says {series.strip()}")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")
    check(f"{len(expected)} messages posted, 0 still queued" in child.err.decode(),
          "the stop line counts the messages posted")


def case_outage(tool, mock, ca, tmp):
    child = listen(tool, mock, ca)
    check(send_bot(child.port, user(0)) == 200, "a vote before the outage")
    mock.wait_for(1, "before the outage")
    mock.down()
    for i in range(1, 6):
        check(send_bot(child.port, user(i)) == 200, f"vote {i} answered 200 while Discord is down")
    time.sleep(3)
    check(len(mock.contents()) == 1, "nothing posted while down")
    mock.up()
    got = mock.wait_for(6, "after the outage")
    time.sleep(1)
    check(mock.contents() == [f"Thank you for voting, <@{user(i)}>!" for i in range(6)],
          f"every vote posted once, in order, with the default message: {mock.contents()}")
    child.wait_for("err", r"Discord: cannot post")
    child.wait_for("err", r"Discord: posting again")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")


def case_restart(tool, mock, ca, tmp, store=None):
    store = store or "sqlite:" + os.path.join(tmp, "store.db")
    mock.fail_always = "503"
    child = listen(tool, mock, ca, "--dedup", store)
    now = time.time()
    bodies = [v1_body(user(i), now - 50 + i) for i in range(5)]
    for i, b in enumerate(bodies):
        check(send_v1(child.port, b) == 204, f"vote {i} answered 204 while Discord answers 503")
    deadline = time.monotonic() + WAIT
    while mock.attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    check(mock.attempts > 0, "the poster tried")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")
    check("0 messages posted, 5 still queued" in child.err.decode(), "stopped with 5 messages queued")
    check(mock.contents() == [], "nothing accepted before the restart")
    mock.fail_always = None
    child = listen(tool, mock, ca, "--dedup", store)
    for b in bodies[:2]:
        check(send_v1(child.port, b) == 204, "Top.gg's retry of a vote handled before the restart: 204")
    check(send_v1(child.port, v1_body(user(7), now)) == 204, "a new vote after the restart")
    got = mock.wait_for(6, "after the restart")
    time.sleep(2)
    want = [f"Thank you for voting, <@{user(i)}>!" for i in (0, 1, 2, 3, 4, 7)]
    check(mock.contents() == want, f"queued messages first, each once, then the new one: {mock.contents()}")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")


def case_stop_in_wait(tool, mock, ca, tmp):
    """Discord accepts a message and empties the bucket for several seconds; the listener is
    stopped during that wait and started again on the same file: that message is not posted
    again (it was removed right after the 2xx), the others are posted once, in order."""
    store = "sqlite:" + os.path.join(tmp, "store.db")
    mock.dry_for = 30
    child = listen(tool, mock, ca, "--dedup", store)
    for i in range(3):
        check(send_bot(child.port, user(i)) == 200, f"vote {i} answered 200")
    mock.wait_for(1, "the first message")
    deadline = time.monotonic() + WAIT
    while mock.answered == 0 and time.monotonic() < deadline:  # the 2xx has left: the stop needs not cancel
        time.sleep(0.05)
    time.sleep(1)  # inside the bucket's 30 s wait
    check(child.end() == 0, "the listener exits 0 on SIGTERM during the rate limit's wait")
    check("1 messages posted, 2 still queued" in child.err.decode(),
          f"stopped with the posted message removed: {child.err.decode()}")
    check(len(mock.contents()) == 1, "one message posted before the restart")
    mock.dry_for = None
    with mock.lock:
        mock.not_before = 0.0  # the new process has not seen the bucket: it posts at once
    child = listen(tool, mock, ca, "--dedup", store)
    mock.wait_for(3, "after the restart")
    time.sleep(2)  # a second copy of the first would come now
    want = [f"Thank you for voting, <@{user(i)}>!" for i in range(3)]
    check(mock.contents() == want, f"each message posted once, in order: {mock.contents()}")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")


def case_options(tool, mock, ca, tmp):
    """--no-dedup with a sink that promises each vote once: refused (exit 2, one line)."""
    import subprocess
    env = dict(ENV, DISCORD_URL=mock.url)
    cases = [["--discord-webhook", "DISCORD_URL", "--discord-ca", ca]]
    if "--redis-stream" in subprocess.run([tool, "listen", "--help"], capture_output=True, text=True,
                                          timeout=30).stdout:
        cases.append(["--redis-stream", "votes", "--redis-stream-url", "redis://127.0.0.1:1"])
    for extra in cases:
        p = subprocess.run([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--dbl", "/dbl", *extra,
                            "--no-dedup"], env=env, capture_output=True, text=True, timeout=30)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and "--no-dedup" in lines[0] and extra[0] in lines[0],
              f"{extra[0]} with --no-dedup: exit 2, one line ({p.returncode}, {p.stderr.strip()!r})")
    # A URL the poster would refuse is refused at the check, before anything listens; a URL given
    # where the variable's name goes is never repeated (it is the secret).
    bad = os.path.join(tmp, "bad-url")
    for content, what in ((mock.url + "#x\n", "a fragment"), (mock.url + "\n\n", "a second line")):
        with open(bad, "w") as f:
            f.write(content)
        p = subprocess.run([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--dbl", "/dbl",
                            "--discord-webhook", "@" + bad], env=env, capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and "--discord-webhook" in p.stderr and "listening" not in p.stderr
              and TOKEN not in p.stderr, f"a URL file with {what}: exit 2 before listening ({p.stderr.strip()!r})")
    p = subprocess.run([tool, "listen", "--host", "127.0.0.1", "--port", "0", "--dbl", "/dbl",
                        "--discord-webhook", mock.url], env=env, capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "environment variable" in p.stderr and TOKEN not in p.stderr,
          f"the URL itself given to --discord-webhook: exit 2, and it is not repeated ({p.stderr.strip()!r})")
    check(mock.attempts == 0, "nothing posted")


def redis_server(tmp):
    """redis-server for a case, or exit 77 (skipped) without one."""
    program = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not program:
        print("SKIP: redis-server is not installed (tools/setup installs it)")
        sys.exit(77)
    return RedisServer(program, tmp)


def case_redis_restart(tool, mock, ca, tmp):
    redis = redis_server(tmp)
    try:
        case_restart(tool, mock, ca, tmp, store=f"redis://127.0.0.1:{redis.port}")
        check(redis.command("ZCARD", "topgg:discord-posts") == ":0\r\n", "the queue in Redis is empty at the end")
    finally:
        redis.stop()


def case_redis_replicas(tool, mock, ca, tmp):
    redis = redis_server(tmp)
    children = []
    try:
        store = f"redis://127.0.0.1:{redis.port}"
        children = [listen(tool, mock, ca, "--dedup", store) for _ in range(2)]
        now = time.time()

        def queued():
            return int(redis.command("ZCARD", "topgg:discord-posts")[1:].strip())

        # Discord down: each vote is queued (by the listener that got it) before the next is sent, so
        # the order of enqueueing is the order of sending, alternating between the listeners.
        mock.fail_always = "503"
        for i in range(6):
            check(send_v1(children[i % 2].port, v1_body(user(i), now - 100 + i)) == 204, f"vote {i} answered 204")
            deadline = time.monotonic() + WAIT
            while queued() < i + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            check(queued() == i + 1, f"vote {i} queued in Redis")
        mock.fail_always = None
        want = [f"Thank you for voting, <@{user(i)}>!" for i in range(6)]
        mock.wait_for(6, "after the outage")
        # Then votes to both at once: each posted once, whichever listener queued it first.
        for i in range(6, 12):
            check(send_v1(children[i % 2].port, v1_body(user(i), now - 100 + i)) == 204, f"vote {i} answered 204")
        mock.wait_for(12, "votes to both listeners")
        time.sleep(3)  # a second copy (the other listener's poster) would come within its poll interval
        got = mock.contents()
        check(got[:6] == want, f"the queued votes posted once each, in the order they were queued: {got[:6]}")
        later = sorted(got[6:])
        check(later == sorted(f"Thank you for voting, <@{user(i)}>!" for i in range(6, 12)),
              f"the later votes posted once each: {got[6:]}")
        # One vote to each listener alone, once all is posted: the one that does not post must still get
        # its vote posted (by the other, which sees it only by asking Redis again).
        for i in (12, 13):
            check(send_v1(children[i % 2].port, v1_body(user(i), now - 100 + i)) == 204, f"vote {i} answered 204")
            got = mock.wait_for(i + 1, f"vote {i}, alone")
        time.sleep(3)
        check(mock.contents()[12:] == [f"Thank you for voting, <@{user(i)}>!" for i in (12, 13)],
              f"each posted once: {mock.contents()[12:]}")
        check(queued() == 0, "nothing left in the queue")
        posted = 0
        for child in children:
            check(child.end() == 0, "the listener exits 0 on SIGTERM")
            err = child.err.decode()
            check("messages wait in memory" not in err, "no warning about a queue in memory")
            found = re.search(r"Discord: (\d+) messages posted", err)
            check(found is not None, "a stop line")
            posted += int(found.group(1))
        children = []
        check(posted == 14, f"the two listeners' stop lines count each message once ({posted})")
    finally:
        for child in children:
            child.kill()
        redis.stop()


def case_gone(tool, mock, ca, tmp):
    url_file = os.path.join(tmp, "discord-url")  # $DISCORD_URL_FILE: read again on SIGHUP
    with open(url_file, "w") as f:
        f.write(mock.url + "\n")
    first_url = mock.url
    mock.deleted.add(mock.hook)
    child = listen(tool, mock, ca, "--metrics", "127.0.0.1:0",
                   env_extra={"DISCORD_URL": "", "DISCORD_URL_FILE": url_file})
    scrape_at = metrics_port(child)
    check(send_bot(child.port, user(0)) == 200, "a vote answered 200")
    child.wait_for("err", r"Discord answered 404 to the webhook: it was deleted")
    for i in range(1, 4):
        check(send_bot(child.port, user(i)) == 200, f"vote {i} answered 200 after the webhook is gone")
    time.sleep(2)
    check(mock.attempts == 1, f"no attempt after the 404 ({mock.attempts})")
    deadline = time.monotonic() + WAIT  # each event reaches the poster just after its answer
    while "topgg_webhook_discord_dropped_total 3\n" not in get(scrape_at, "/metrics")[2] and time.monotonic() < deadline:
        time.sleep(0.1)
    page = get(scrape_at, "/metrics")[2]
    for series in ("topgg_webhook_discord_stopped 1\n", "topgg_webhook_discord_dropped_total 3\n",
                   "topgg_webhook_discord_posts_total 0\n"):
        check(series in page, f"/metrics says {series.strip()}")

    # A new webhook: its URL in the file, SIGHUP. Posting starts again, the message
    # queued before the 404 first; the new URL is as secret as the old one.
    mock.hook = "/api/webhooks/2/" + TOKEN + "-new"
    with open(url_file, "w") as f:
        f.write(mock.url + "\n")
    child.proc.send_signal(signal.SIGHUP)
    child.wait_for("err", r"reloaded the --discord-webhook from \S+ \(\$DISCORD_URL_FILE\)")
    child.wait_for("err", r"SIGHUP: done \(1 changed, 0 kept")
    child.wait_for("err", r"Discord: a new webhook URL is used from now on; posting again \(1 messages wait\)")
    check(send_bot(child.port, user(4)) == 200, "a vote after the new URL: 200")
    got = mock.wait_for(2, "after the new URL")
    check(len(got) == 2 and user(0) in got[0] and user(4) in got[1],
          f"the message queued before the 404, then the new vote, once each ({got})")
    deadline = time.monotonic() + WAIT  # counted once the poster has read Discord's answer
    while "topgg_webhook_discord_posts_total 2\n" not in get(scrape_at, "/metrics")[2] and time.monotonic() < deadline:
        time.sleep(0.1)
    page = get(scrape_at, "/metrics")[2]
    for series in ("topgg_webhook_discord_stopped 0\n", "topgg_webhook_discord_posts_total 2\n"):
        check(series in page, f"/metrics says {series.strip()}")
    check(not mock.problems, f"every request went to the URL in use ({mock.problems})")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")
    check(child.err.decode().count("Discord answered 404") == 1, "one line says so")
    for secret in (first_url, mock.url, TOKEN):
        check(secret.encode() not in child.out + child.err, f"stdout and stderr do not show {secret[:12]}…")


def case_secret(tool, mock, ca, tmp):
    mock.down()  # errors first: their lines must not show the URL either
    out = os.path.join(tmp, "env.txt")
    url_file = os.path.join(tmp, "discord-url")
    with open(url_file, "w") as f:
        f.write(mock.url + "\n")
    # The file wins over $DISCORD_URL, which still holds a secret the command must not get.
    decoy = "https://127.0.0.1:1/api/webhooks/9/DECOY-decoy-DECOY-decoy"
    child = listen(tool, mock, ca, "--exec", f"env > {out}",
                   env_extra={"DISCORD_URL": decoy, "DISCORD_URL_FILE": url_file})
    check(send_bot(child.port, user(0)) == 200, "a vote answered 200 (its command ran)")
    child.wait_for("err", r"Discord: cannot post")
    mock.up()
    mock.wait_for(1, "after the mock came up")
    check(child.end() == 0, "the listener exits 0 on SIGTERM")
    with open(out) as f:
        env_text = f.read()
    everything = child.out + child.err
    for secret in (mock.url, TOKEN, mock.url.split("//", 1)[1], decoy):
        check(secret.encode() not in everything, f"stdout and stderr do not show {secret[:12]}…")
        check(secret not in env_text, f"the command's environment does not hold {secret[:12]}…")
    check("DISCORD_URL=" not in env_text, "the variable is not handed to the command")
    check("TOPGG_V1_SECRET=" not in env_text, "(as the other secrets)")


def main():
    case, tool = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="topgg-discord-")
    try:
        cert, key = make_cert(tmp, "discord")
        mock = MockDiscord(cert, key)
        try:
            globals()["case_" + case.replace("-", "_")](tool, mock, cert, tmp)
        finally:
            try:
                mock.down()
            except Exception:
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("passed:", case)


if __name__ == "__main__":
    main()
