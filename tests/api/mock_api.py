"""A mock of Top.gg's v1 API over HTTPS, for the API client's tests. Standard library only.

Paths name a scenario and a run, so each test gets fresh state without a control call:

    GET /<scenario>/<run>/projects/@me/votes?startDate=...|cursor=...
    GET /<scenario>/<run>/projects/@me
    GET /_log/<run>        -> JSON list of every request of that run, in arrival order
    GET /_votes            -> every vote the mock holds, oldest first, as the API sends them

Every request is checked (Authorization must be "Bearer <token>"; startDate must be ISO 8601 UTC
and at most one year back; a cursor must be one this mock issued) and recorded: arrival time
(time.monotonic()) and the time its answer started to be sent ("answered"), endpoint, query,
whether the token matched (never the header itself), user agent and the status answered, plus
"problems" found in the request.

Scenarios (the votes endpoint; /projects/@me answers normally unless said):
    pages      8 votes, 3 per page, linked by cursors (with '+', '/', '='), then an empty page
    empty      no votes at all
    rate       first votes request: 429 with "Retry-After: 1"; then as pages
    ratedate   first votes request: 429 with Retry-After as an HTTP-date 2 s ahead; then as pages
    ratelong   always 429 with "Retry-After: 3600"
    flaky      first votes request: 500; then as pages
    down       always 503 (no Retry-After)
    slow       every request waits 30 s before answering as pages (a client that gives up or is
               cancelled is told apart from one that waited, however slow the machine)
    notjson    200 with an HTML body
    badshape   200 with "data" an object
    badrecord  200 with a record whose created_at is not a date
    stuck      a page of votes whose cursor is the one just sent (a server bug)
    cycle      as pages, but the last page of votes links back to the run's first cursor: A -> B -> A
    extra      as pages, with unknown fields and enum values everywhere
    notfound   404 on both endpoints
    echo400    400 whose body quotes the Authorization header back
"""
import datetime
import email.utils
import http.server
import json
import re
import ssl
import threading
import time
import urllib.parse

PAGE_SIZE = 3
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def rfc3339(dt, digits):
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return base + "Z"
    frac = f"{dt.microsecond:06d}" + "1"  # Top.gg sends up to 7 digits
    return base + "." + frac[:digits] + "Z"


def make_votes(now, count=8):
    """`count` votes cast over the last two hours, oldest first, with 7, 6 or no fraction digits.
    Each is cast 0.145733 s (+ i µs) into its second, so a test may add up to 0.8 s and stay in it."""
    votes = []
    start = now.replace(microsecond=0) - datetime.timedelta(hours=2)
    for i in range(count):
        created = start + datetime.timedelta(minutes=7 * i, microseconds=145733 + i)
        votes.append({
            "user_id": str(822692447163849100 + i),
            "platform_id": str(661200758510977000 + i),
            "weight": 2 if i % 4 == 0 else 1,
            "created_at": rfc3339(created, (7, 6, 0)[i % 3]),
            "expires_at": rfc3339(created + datetime.timedelta(hours=12), (7, 6, 0)[i % 3]),
            "_created": created,
        })
    return votes


class Run:
    def __init__(self):
        self.lock = threading.Lock()
        self.log = []
        self.votes_requests = 0
        self.cursors = {}  # issued cursor -> index of the first vote it stands for


class MockApi:
    def __init__(self, token, certfile, keyfile):
        self.token = token
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.votes = make_votes(self.now)
        self.runs = {}
        self.runs_lock = threading.Lock()
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the test reads the JSON log instead
                pass

            def do_GET(self):
                try:
                    mock.handle(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up (timeout or cancel): expected in some scenarios

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def run(self, name):
        with self.runs_lock:
            return self.runs.setdefault(name, Run())

    def log_of(self, name):
        r = self.run(name)
        with r.lock:
            return list(r.log)

    # --- answers -------------------------------------------------------------------------------

    @staticmethod
    def send(h, status, body, headers=()):
        data = body.encode() if isinstance(body, str) else body
        h.send_response(status)
        h.send_header("Content-Type", "application/json" if body[:1] in ("{", "[") else "text/html")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def handle(self, h):
        arrived = time.monotonic()
        url = urllib.parse.urlsplit(h.path)
        parts = url.path.split("/")
        if len(parts) == 3 and parts[1] == "_log":
            return self.send(h, 200, json.dumps(self.log_of(parts[2])))
        if url.path == "/_votes":
            return self.send(h, 200, json.dumps([self.public(v) for v in self.votes]))
        # /<scenario>/<run>/projects/@me[/votes]
        if len(parts) < 5 or parts[3] != "projects" or parts[4] != "@me" or len(parts) > 6:
            return self.send(h, 404, '{"error":"no such path"}')
        scenario, run_name = parts[1], parts[2]
        endpoint = "votes" if len(parts) == 6 and parts[5] == "votes" else "project" if len(parts) == 5 else None
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        entry = {
            "t": arrived,
            "endpoint": endpoint or url.path,
            "query": {k: v[0] for k, v in query.items()},
            "repeated": sorted(k for k, v in query.items() if len(v) > 1),
            "auth_ok": h.headers.get("Authorization") == "Bearer " + self.token,
            "user_agent": h.headers.get("User-Agent", ""),
            "accept": h.headers.get("Accept", ""),
            "problems": [],
            "status": None,  # set before the answer, in place: the log may be read meanwhile
            "answered": None,
        }
        run = self.run(run_name)
        with run.lock:
            run.log.append(entry)
            if endpoint == "votes":
                run.votes_requests += 1
            nth = run.votes_requests
        status, body, headers = self.answer(scenario, run, endpoint, query, entry, nth)
        entry["status"] = status
        if scenario == "slow":
            time.sleep(30)
        entry["answered"] = time.monotonic()
        self.send(h, status, body, headers)

    def answer(self, scenario, run, endpoint, query, entry, nth):
        if endpoint is None:
            return 404, '{"error":"no such path"}', ()
        if scenario == "echo400":
            return 400, json.dumps({"error": "bad request", "you_sent": "Bearer " + self.token}), ()
        if not entry["auth_ok"]:
            return 401, '{"message":"Unauthorized"}', ()
        if scenario == "notfound":
            return 404, '{"message":"Not Found"}', ()
        if endpoint == "project":
            return 200, json.dumps(self.project(scenario)), ()
        if scenario == "ratelong":
            return 429, '{"message":"slow down"}', (("Retry-After", "3600"),)
        if scenario == "rate" and nth == 1:
            return 429, '{"message":"slow down"}', (("Retry-After", "1"),)
        if scenario == "ratedate" and nth == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return 429, '{"message":"slow down"}', (("Retry-After", when),)
        if scenario == "flaky" and nth == 1:
            return 500, '{"message":"internal error"}', ()
        if scenario == "badfirst" and nth == 1:  # not retried by the client: the whole round fails
            return 400, '{"message":"bad request"}', ()
        if scenario == "down":
            return 503, '{"message":"maintenance"}', ()
        if scenario == "notjson":
            return 200, "<html><body>Bad gateway</body></html>", ()
        if scenario == "badshape":
            return 200, '{"cursor":"x","data":{"user_id":"1"}}', ()

        start = self.start_index(run, query, entry)
        if start is None:
            return 400, json.dumps({"message": "; ".join(entry["problems"])}), ()
        votes = [] if scenario == "empty" else self.votes
        page = votes[start:start + PAGE_SIZE]
        records = [self.public(vote) for vote in page]
        if scenario == "badrecord" and records:
            records[0]["created_at"] = "yesterday"
        if scenario == "extra":
            for r in records:
                r.update({"source": "web", "kind": "a-new-kind", "meta": {"nested": [1, {"x": None}]}})
        if scenario == "stuck" and records and "cursor" in query:
            cursor = query["cursor"][0]  # the bug: the same cursor again
        elif scenario == "cycle" and records and start + len(page) >= len(votes) and run.cursors:
            with run.lock:
                cursor = next(iter(run.cursors))  # the bug: back to the second page, never to an empty one
        else:
            cursor = f"pg/{start + len(page)}+{len(run.cursors)}="
            with run.lock:
                run.cursors[cursor] = start + len(page)
        doc = {"cursor": cursor, "data": records}
        if scenario == "extra":
            doc["has_more"] = bool(records)
            doc["links"] = {"next": None}
        return 200, json.dumps(doc), ()

    @staticmethod
    def public(vote):
        return {k: v for k, v in vote.items() if not k.startswith("_")}

    def start_index(self, run, query, entry):
        """Where a page starts: the cursor's position, else the first vote at or after startDate."""
        problems = entry["problems"]
        if entry["repeated"]:
            problems.append("repeated query parameters: " + ",".join(entry["repeated"]))
        if "cursor" in query:
            if "startDate" in query:
                problems.append("both cursor and startDate sent (cursor wins)")
            with run.lock:
                index = run.cursors.get(query["cursor"][0])
            if index is None:
                problems.append("unknown cursor")
            return index
        if "startDate" not in query:
            problems.append("neither startDate nor cursor")
            return None
        text = query["startDate"][0]
        if not ISO_UTC.match(text):
            problems.append("startDate not ISO 8601 UTC: " + text)
            return None
        since = datetime.datetime.fromisoformat(text[:19]).replace(tzinfo=datetime.timezone.utc)
        if since < self.now - datetime.timedelta(days=365):
            problems.append("startDate more than one year back")
            return None
        return next((i for i, v in enumerate(self.votes) if v["_created"] >= since), len(self.votes))

    def project(self, scenario):
        p = {"id": "803190510032756736", "name": "Test Bot", "type": "bot", "platform": "discord",
             "platform_id": "264811613708746752", "headline": "A bot", "tags": ["fun"],
             "votes": {"current": 8, "total": 1234}}
        if scenario == "extra":
            p.update({"type": "a-new-type", "platform": "a-new-platform", "review": {"score": 4.5}})
            del p["platform_id"]
        return p
