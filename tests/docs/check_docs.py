#!/usr/bin/env python3
"""The API reference says what a user needs, and nothing of the internals.

    check_docs.py DOXYGEN DOXYFILE SOURCE_ROOT

Runs Doxygen (into a scratch directory) with the project's Doxyfile, warning
about undocumented entities, and checks that
- every public class and member of the headers below has a brief,
- every example program has its page (\\example, linked from the reference),
- internals (the detail namespace, Router::pipeline) have no page,
- public docs speak of "Top.gg's Python SDK `WebhookManager`", never "the seed".
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    doxygen, doxyfile, root = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as out:
        with open(doxyfile) as f:
            conf = f.read()
        conf += (f"\nOUTPUT_DIRECTORY = {out}\nWARN_IF_UNDOCUMENTED = YES\nEXTRACT_ALL = NO\n"
                 f"WARN_AS_ERROR = NO\nWARN_LOGFILE = {out}/warnings.txt\n")
        conf_path = os.path.join(out, "Doxyfile")
        with open(conf_path, "w") as f:
            f.write(conf)
        r = subprocess.run([doxygen, conf_path], capture_output=True, text=True)
        check(r.returncode == 0, f"doxygen runs ({r.stderr[-300:]!r})")
        with open(os.path.join(out, "warnings.txt")) as f:
            warnings = sorted(set(l.strip() for l in f if "warning:" in l))
        for w in warnings:
            print("  " + w)
        check(not warnings, f"every public class and member has a brief ({len(warnings)} missing)")

        html = os.path.join(out, "html")
        with open(os.path.join(html, "examples.html")) as f:
            listing = f.read()
        for path in sorted(glob.glob(os.path.join(root, "examples", "*.cpp"))):
            name = os.path.basename(path)
            pages = {name.replace(".cpp", "_8cpp-example.html"),  # Doxygen's file name, either spelling
                     name.replace("_", "__").replace(".cpp", "_8cpp-example.html")}
            check(name in listing and any(os.path.exists(os.path.join(html, p)) for p in pages),
                  f"{name} has an example page listed in examples.html")
        internals = [p for p in os.listdir(html) if "_1_1detail" in p]
        check(not internals, f"no page for topgg::detail ({internals[:5]})")
        def page(cls):  # Doxygen spells upper case "_r" or "R", depending on CASE_SENSE_NAMES
            for name in (f"classtopgg_1_1{cls}.html", "classtopgg_1_1" + re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), cls) + ".html"):
                if os.path.exists(os.path.join(html, name)):
                    with open(os.path.join(html, name)) as f:
                        return f.read()
            raise AssertionError(f"no page for topgg::{cls}")

        router = page("Router")
        check("pipeline" not in router, "Router's page does not show the internal pipeline()")
        check("thread" in router.lower() or "RouterApi" in router, "Router's page leads to the contract")
        api = page("RouterApi")
        for words in ("Which thread runs what", "valid only during the call", "idempotent", "sqlite_ledger"):
            check(words in api, f"RouterApi's page says {words!r}")

    public = [os.path.join(root, "README.md")] + glob.glob(os.path.join(root, "docs", "*.md")) + \
        glob.glob(os.path.join(root, "include", "topgg", "*.hpp")) + glob.glob(os.path.join(root, "include", "topgg", "*.in"))
    for path in public:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        hits = re.findall(r"[^\n]*\bthe seed\b[^\n]*", text, re.IGNORECASE)
        check(not hits, f"{os.path.relpath(path, root)} never says 'the seed' {hits[:2]}")
    if failures:
        sys.exit(f"{len(failures)} failed")


if __name__ == "__main__":
    main()
