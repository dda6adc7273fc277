#!/usr/bin/env python3
"""The README's Python (redis-py) and Node (node-redis) stream consumers, run
as written against a real redis-server: each handles every entry once,
acknowledges it, and takes over what a dead consumer left pending. Only the
endless loop becomes two rounds and the waits shorter. Exit 77 (skipped) when
redis-server, or both redis-py and node-redis, are missing (Debian packages
redis-server, python3-redis, node-redis).

  test_recipes.py README [REDIS_SERVER]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dedup"))
from test_dedup import PATIENCE, RedisServer, check  # noqa: E402

STREAM, GROUP = "topgg:events", "bot"


def block(readme, heading, lang):
    return readme.split(heading + "\n\n```" + lang + "\n")[1].split("```")[0]


def shortened(code, loop, claim):
    for old, new in [loop, claim]:
        check(old in code, f"the recipe still has {old!r}")
        code = code.replace(old, new)
    return code.replace("5000", "200")  # the blocking read's wait


def python_with_redis():
    for p in (sys.executable, "/usr/bin/python3"):
        if p and os.path.exists(p) and subprocess.run([p, "-c", "import redis"], capture_output=True).returncode == 0:
            return p
    return None


def fill(redis, users):
    """Entries for `users`; the first half read by a consumer that then died (never acknowledged)."""
    for u in users:
        redis.command("XADD", STREAM, "*", "event", "dbl_vote",
                      "json", f'{{"event":"dbl_vote","route":"/dbl","user":"{u}","is_weekend":false}}')
    redis.command("XREADGROUP", "GROUP", GROUP, "dead", "COUNT", str(len(users) // 2), "STREAMS", STREAM, ">")
    time.sleep(0.3)  # idle longer than the recipes' shortened claim time


def rewarded(out):
    return sorted(line.split()[1] for line in out.splitlines() if line.startswith("reward "))


def main(readme_path, program=None):
    program = program or shutil.which("redis-server")
    py = python_with_redis()
    node = shutil.which("node")
    node_redis = "/usr/share/nodejs/redis"
    node_ok = node and os.path.isdir(node_redis)
    if not program or not os.access(program, os.X_OK) or not (py or node_ok):
        print("SKIP: needs redis-server and redis-py (python3-redis) or node-redis (node-redis)")
        sys.exit(77)
    readme = open(readme_path, encoding="utf-8").read()
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisServer(program, tmp)
        env = dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{redis.port}")
        try:
            redis.command("XGROUP", "CREATE", STREAM, GROUP, "0", "MKSTREAM")
            if py:
                users = [str(100 + i) for i in range(6)]
                fill(redis, users)
                code = "def reward(user, weight):\n    print('reward', user, weight, flush=True)\n\n" + shortened(
                    block(readme, "**Python** (`pip install redis`):", "python"),
                    ("while True:", "for _round in range(2):"), ("min_idle_time=60_000", "min_idle_time=100"))
                path = os.path.join(tmp, "consumer.py")
                open(path, "w").write(code)
                r = subprocess.run([py, path], env=env, capture_output=True, text=True, timeout=3 * PATIENCE)
                check(r.returncode == 0 and rewarded(r.stdout) == users,
                      f"the Python recipe handles every entry once, the dead consumer's included ({r.stdout!r} "
                      f"{r.stderr[-300:]!r})")
            else:
                print("note: redis-py not installed: the Python recipe is not run")
            if node_ok:
                users = [str(200 + i) for i in range(6)]
                fill(redis, users)
                code = shortened(block(readme, "**Node** (`npm install redis`, node-redis 4):", "js"),
                                 ("for (;;) {", "for (let round = 0; round < 2; round++) {"),
                                 ('60000, "0-0"', '100, "0-0"'))
                code = code.replace('import os from "node:os";',
                                    'import os from "node:os";\nconst reward = async (u, w) => console.log("reward", u, w);')
                code += "await r.quit();\n"
                os.symlink(os.path.dirname(node_redis), os.path.join(tmp, "node_modules"))
                path = os.path.join(tmp, "consumer.mjs")
                open(path, "w").write(code)
                r = subprocess.run([node, path], env=dict(env, NODE_PATH=os.path.dirname(node_redis)),
                                   capture_output=True, text=True, timeout=3 * PATIENCE)
                check(r.returncode == 0 and rewarded(r.stdout) == users,
                      f"the Node recipe handles every entry once, the dead consumer's included ({r.stdout!r} "
                      f"{r.stderr[-300:]!r})")
            else:
                print("note: node or node-redis not installed: the Node recipe is not run")
            pending = redis.command("XPENDING", STREAM, GROUP)
            check(pending.startswith("*4\r\n:0\r\n"), f"nothing left pending ({pending[:30]!r})")
        finally:
            redis.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
