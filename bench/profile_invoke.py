"""Where a warm invoke's time goes: py-spy samples a real `lambdalite serve` while a raw
load generator replays one pre-signed Invoke, then prints the inclusive share of the
server's samples in each step of the hot path.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile_invoke [--connections 1] [--seconds 10]

Writes the collapsed stacks to $TMPDIR/lambdalite-profile-c<c>.txt (flamegraph.pl and
speedscope read them). Needs root (sandboxes, and py-spy attaching).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.loadgen import run_load
from bench.served import Connection, ServedLambdalite

# (label, a substring of a py-spy frame "Qualified.name (path:line)"), each counted once
# per sample. Names follow lambdalite as of this benchmark; a step that no longer
# matches shows 0.
STEPS = [
    ("HTTP cycle: httptools + Starlette + app", "RequestResponseCycle.run_asgi ("),
    ("LambdaApi (dispatch, auth, invoke, render)", "LambdaApi.__call__ ("),
    ("  SigV4 (Authenticator.authenticate)", "Authenticator.authenticate ("),
    ("    sigv4.verify", "verify (lambdalite/api/sigv4.py"),
    ("    datetime.strptime (X-Amz-Date)", "_strptime"),
    ("  route match (OperationTable.match)", "OperationTable.match ("),
    ("  parse_qs", "parse_qs ("),
    ("  parse_input", "parse_input ("),
    ("  validate", "validate (lambdalite/api/validation.py"),
    ("  Invoker.invoke", "Invoker.invoke ("),
    ("    Invoker._target (store, on a cache miss)", "Invoker._target ("),
    ("    SandboxPool.acquire", "SandboxPool.acquire ("),
    ("    Sandbox.invoke", "Sandbox.invoke ("),
    ("      peak_memory_bytes (cgroup file read)", "peak_memory_bytes ("),
    ("    _log (START/END/REPORT)", "_log (lambdalite/invoke/invoker.py"),
    ("    LogWriter.submit", "LogWriter.submit ("),
    ("  render + Response", "render (lambdalite/api/responses.py"),
    ("  uuid4", "uuid4 ("),
    ("serve_channel (frames to/from the runtime)", "serve_channel ("),
    ("LogStore.append (log flush, worker thread)", "LogStore.append ("),
    ("SQLAlchemy (anywhere)", "sqlalchemy/"),
    ("anyio worker threads (any)", "WorkerThread.run ("),
]


def summarize(collapsed: Path) -> list[tuple[str, int, int]]:
    total = 0
    counts: collections.Counter[str] = collections.Counter()
    by_thread: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        total += samples
        by_thread[stack.split(";", 1)[0]] += samples
        for label, needle in STEPS:
            if needle in stack:
                counts[label] += samples
    rows = [(label, counts[label], total) for label, _ in STEPS]
    for thread, count in by_thread.most_common(6):
        rows.append((f"[thread] {thread[:60]}", count, total))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--idle", action="store_true", help="sample waiting threads too")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    server = ServedLambdalite()
    try:
        server.deploy(server.client(), "hello")
        hello = server.invoke_request("hello")
        conn = Connection(server.port)
        assert conn.send(hello.wire()).status == 200
        conn.close()
        run_load(server.port, hello, args.connections, 2, 1_000_000)  # warm up
        out = Path(tempfile.gettempdir()) / f"lambdalite-profile-c{args.connections}.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                str(args.rate),
                "--duration",
                str(args.seconds),
                "--format",
                "raw",
                "--threads",
                *(["--idle"] if args.idle else []),
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = run_load(server.port, hello, args.connections, args.seconds, 1_000_000)
        spy.wait(timeout=args.seconds + 60)
        print(
            f"c={args.connections}: {result.requests} invokes in {result.seconds:.1f} s "
            f"({result.rps:.0f}/s), p50 {result.p50_us:.0f} µs, p99 {result.p99_us:.0f} µs"
        )
        print(f"{'step (inclusive, all threads)':<52} {'share':>6}   per invoke")
        for label, n, total in summarize(out):
            share = n / total if total else 0.0
            per = n / args.rate * 1e6 / max(result.requests, 1)
            print(f"{label:<52} {share:6.1%}   ~{per:6.0f} µs")
        print(f"collapsed stacks: {out}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
