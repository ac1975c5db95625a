"""Measures what importing each top-level module of a freshly built dependency layer
costs, inside the build sandbox (as the build user, without network), each in a fresh
interpreter: the slowest are what a version's spare sandboxes import ahead of demand
(docs/decisions/0701).

Prints one line `LAMBDALITE-IMPORTS {"module": ms, ...}` (ms is -1 when the import
failed). The modules' own output goes to stderr, which the build log keeps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

MARKER = "LAMBDALITE-IMPORTS "
MAX_CANDIDATES = 40
TIMEOUT_S = 30.0
_TIMED = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); "
    "__import__(sys.argv[2]); sys.stdout.write(repr((time.perf_counter() - t) * 1000))"
)


def candidates(site: str) -> list[str]:
    """Importable top-level names of a site directory: packages, modules, extensions."""
    names: set[str] = set()
    for entry in sorted(os.listdir(site)):
        path = os.path.join(site, entry)
        if entry.startswith(("_", ".")) or entry.endswith((".dist-info", ".egg-info", ".data")):
            continue
        if os.path.isdir(path) and entry.isidentifier():
            if os.path.exists(os.path.join(path, "__init__.py")):
                names.add(entry)
        elif entry.endswith(".py") and entry[:-3].isidentifier():
            names.add(entry[:-3])
        elif entry.endswith(".so") and entry.split(".", 1)[0].isidentifier():
            names.add(entry.split(".", 1)[0])
    return sorted(names)[:MAX_CANDIDATES]


def measure(site: str, module: str) -> float:
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _TIMED, site, module],
            capture_output=True,
            timeout=TIMEOUT_S,
            text=True,
        )
    except subprocess.TimeoutExpired:
        return -1.0
    if done.stderr:
        sys.stderr.write(done.stderr)
    try:
        return float(done.stdout.strip()) if done.returncode == 0 else -1.0
    except ValueError:
        return -1.0


def main() -> None:
    site = sys.argv[1]
    found = {name: round(measure(site, name), 2) for name in candidates(site)}
    sys.stdout.write(MARKER + json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
