#!/usr/bin/env python3
"""tools/setup takes the Debian mirror for its llhttp fallback from the system's
own apt sources (one-line and deb822 files), deb.debian.org only when none.

    test_setup.py TOOLS_SETUP
"""
import os
import subprocess
import sys
import tempfile

FALLBACK = "http://deb.debian.org/debian"
CASES = {
    "one-line file, a local mirror with options, security and comments before it": {
        "sources.list": "# deb http://commented.example/debian bookworm main\n"
                        "deb http://security.debian.org/debian-security bookworm-security main\n"
                        "deb-src http://src-only.example/debian bookworm main\n"
                        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example.lan:3142/debian/ bookworm main\n"
                        "deb http://later.example/debian bookworm main\n",
        "want": "http://mirror.example.lan:3142/debian"},
    "options with spaces inside the brackets": {
        "sources.list": "deb [ arch=amd64 trusted=yes ] https://m.example/debian bookworm main\n",
        "want": "https://m.example/debian"},
    "deb822 file: disabled and deb-src stanzas skipped, URIs continued on the next line": {
        "sources.list.d/debian.sources": "Types: deb\nURIs: http://disabled.example/debian\nSuites: trixie\n"
                                         "Components: main\nEnabled: no\n\n"
                                         "# a comment\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: trixie\n\n"
                                         "types: deb deb-src\nuris:\n http://proxy.example:8080/debian/\n"
                                         "Suites: trixie trixie-updates\nComponents: main\n"
                                         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                                         "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: trixie-security\n",
        "want": "http://proxy.example:8080/debian"},
    "one-line .list files before deb822 .sources": {
        "sources.list.d/local.list": "deb http://list.example/debian bookworm main\n",
        "sources.list.d/debian.sources": "Types: deb\nURIs: http://sources.example/debian\nSuites: bookworm\n",
        "want": "http://list.example/debian"},
    "Ubuntu: no Debian archive": {
        "sources.list": "deb http://archive.ubuntu.com/ubuntu jammy main universe\n",
        "want": FALLBACK},
    "only cdrom and file sources": {
        "sources.list": "deb cdrom:[Debian 12]/ bookworm main\ndeb file:/srv/debian bookworm main\n",
        "want": FALLBACK},
    "no apt sources at all": {"want": FALLBACK},
}


def main():
    setup = sys.argv[1]
    failed = 0
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "etc/apt/sources.list.d"))
            for rel, text in case.items():
                if rel != "want":
                    with open(os.path.join(root, "etc/apt", rel), "w") as f:
                        f.write(text)
            r = subprocess.run([setup, "--debian-mirror"], capture_output=True, text=True, timeout=20,
                               env=dict(os.environ, TOPGG_SETUP_ROOT=root))
            got = r.stdout.strip()
            ok = r.returncode == 0 and got == case["want"]
            print(("ok: " if ok else "FAIL: ") + f"{name}: {got!r}" + ("" if ok else f", want {case['want']!r} "
                                                                       f"(exit {r.returncode}, {r.stderr.strip()!r})"))
            failed += not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
