"""`make bench`: the Invoke API end to end, against floors measured in the same run.

A real `lambdalite serve` runs in its own process; functions are deployed with boto3;
load comes from a raw HTTP/1.1 keep-alive generator (wrk if installed, else an asyncio
client in its own process) replaying requests pre-signed with botocore's SigV4. The
floors are the same web stack with a trivial app, with one unix-socket round trip to a
warm worker, and with that round trip to one of 64 workers that sleep between requests
(floor E, the c=64 shape of one invocation per sandbox), served and loaded the same
way. Prints the machine and a table, and writes the table as markdown to
bench/results.md. Asserts nothing (issue 3,
"Performance"; STYLE.md: a benchmark reports speed, a test asserts correctness).

    .venv/bin/python -m bench.run            # ~4-5 minutes
    .venv/bin/python -m bench.run --quick    # ~1 minute, smaller counts
    .venv/bin/python -m bench.run --idle-poll-us 200   # idle vCPUs poll 200 µs first
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import memory
from bench.floors import BODY
from bench.loadgen import LoadResult, RawRequest, run_load, wrk_available
from bench.sandbox_cold_warm import fork_floor
from bench.served import REPO, Connection, ServedLambdalite, free_port, log_tail, wait_listening
from lambdalite.idle_poll import IdlePoll

RESULTS = Path(__file__).resolve().parent / "results.md"
RESULTS_IDLE_POLL = RESULTS.with_name("results-idle-poll.md")


@dataclass(frozen=True)
class Plan:
    c1_seconds: float
    c64_seconds: float
    warmup_seconds: float
    cold_ready: int
    cold_nothing: int
    cold_deploy: int
    held: int
    functions: int
    max_requests: int = 200_000


FULL = Plan(5, 5, 1.5, 100, 30, 20, 2000, 10_000)
QUICK = Plan(2, 2, 1, 20, 8, 5, 200, 1000)


@dataclass
class Row:
    case: str
    p50: str = "—"
    p99: str = "—"
    throughput: str = "—"
    floor: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.case}: p50 {row.p50}  p99 {row.p99}  {row.throughput}  {row.met}")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}")
        sys.stdout.flush()


# -- formatting ------------------------------------------------------------------------


def us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 10_000 else f"{value:.0f} µs"


def ms(value: float) -> str:
    return f"{value:.2f} ms"


def rps(value: float) -> str:
    return f"{value:,.0f}/s"


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def machine() -> list[str]:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    generator = "wrk " if wrk_available() else "python asyncio raw client"
    if wrk_available():
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        generator += (out.stdout + out.stderr).split()[1] if out.stdout or out.stderr else ""
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "lambdalite"], capture_output=True, text=True
    )
    changed = len(dirty.stdout.splitlines())
    revision = head.stdout.strip() or "?"
    if changed:
        revision += f" + {changed} uncommitted file(s) under lambdalite/"
    return [
        f"lambdalite {revision}",
        f"CPU: {cpu}, {os.cpu_count()} vCPU; RAM {mem_gib:.0f} GiB; cgroup {cgroup}",
        f"Kernel: Linux {platform.release()}; Python {platform.python_version()}",
        f"Load generator: {generator} (1 thread, keep-alive, 127.0.0.1) at c>1; "
        "a blocking Python client at c=1",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


def render(report: Report, header: list[str], mode: str) -> str:
    cols = ["case", "p50", "p99", "throughput", "floor", "ratio", "target", "met?"]
    lines = [f"### Invoke API benchmark ({mode})", ""]
    lines += [f"- {h}" for h in header]
    lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in report.rows:
        cells = [r.case, r.p50, r.p99, r.throughput, r.floor, r.ratio, r.target, r.met]
        lines.append("| " + " | ".join(cells) + " |")
    if report.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def text_table(report: Report) -> str:
    cols = ["case", "p50", "p99", "throughput", "floor", "ratio", "target", "met?"]
    cells = [
        [r.case, r.p50, r.p99, r.throughput, r.floor, r.ratio, r.target, r.met] for r in report.rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*(c.replace("**", "") for c in row)) for row in cells]
    return "\n".join(out)


# -- measuring ---------------------------------------------------------------------------


def load(
    port: int, request: RawRequest, connections: int, seconds: float, plan: Plan, force: bool
) -> LoadResult:
    """A warm-up run (discarded), then the measured one."""
    run_load(port, request, connections, plan.warmup_seconds, plan.max_requests, force)
    return run_load(port, request, connections, seconds, plan.max_requests, force)


def floor_server(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.floors", kind, "--port", str(port)],
        cwd=REPO,
        start_new_session=True,
    )
    wait_listening(port, proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    # The whole process group: uvicorn re-raises SIGTERM after its graceful shutdown, so
    # the hop floor's `finally` never stops its worker.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def interpreter_floor_ms(n: int) -> list[float]:
    binary = os.path.realpath(
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    out = []
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([binary, "-I", "-S", "-c", "pass"], check=True, env={})
        out.append((time.perf_counter() - started) * 1000)
    return out


@dataclass
class Floors:
    trivial_c1: LoadResult
    trivial_c64: LoadResult
    hop_c1: LoadResult
    hop_c64: LoadResult
    pool_c64: LoadResult
    fork_ms: float
    python_ms: float


def measure_floors(plan: Plan, report: Report, force: bool) -> Floors:
    results: dict[str, tuple[LoadResult, LoadResult]] = {}
    pool_c64: LoadResult | None = None
    for kind in ("trivial", "hop", "pool"):
        proc, port = floor_server(kind)
        try:
            request = RawRequest(
                "POST",
                "/2015-03-31/functions/hello/invocations",
                (("Host", f"127.0.0.1:{port}"),),
                b"{}",
            )
            probe = Connection(port)
            answer = probe.send(request.wire())
            probe.close()
            assert answer.status == 200 and answer.body == BODY, answer
            if kind == "pool":  # at c=1 it is floor B
                pool_c64 = load(port, request, 64, plan.c64_seconds, plan, force)
                continue
            c1 = load(port, request, 1, plan.c1_seconds, plan, force)
            c64 = load(port, request, 64, plan.c64_seconds, plan, force)
            results[kind] = (c1, c64)
        finally:
            stop(proc)
    fork = statistics.median(fork_floor(200))
    python = statistics.median(interpreter_floor_ms(20))
    assert pool_c64 is not None
    floors = Floors(*results["trivial"], *results["hop"], pool_c64, fork, python)
    for label, c1, c64 in (
        ("floor A: uvicorn+uvloop+httptools, trivial ASGI app", *results["trivial"]),
        ("floor B: floor A + 1 unix-socket round trip to a warm worker", *results["hop"]),
    ):
        report.add(Row(f"{label}, c=1", us(c1.p50_us), us(c1.p99_us), rps(c1.rps)))
        report.add(Row(f"{label}, c=64", us(c64.p50_us), us(c64.p99_us), rps(c64.rps)))
    report.add(
        Row(
            "floor E: floor B with 64 worker processes (one request each at a time, asleep "
            "between requests, SCHED_BATCH): AWS's shape at c=64",
            us(pool_c64.p50_us),
            us(pool_c64.p99_us),
            rps(pool_c64.rps),
        )
    )
    report.add(Row("floor C: fork+exit+wait of a Python process", ms(fork)))
    report.add(Row("floor D: start `python -I -S -c pass` (real binary)", ms(python)))
    return floors


def warm_row(
    case: str, result: LoadResult, floors: Floors, extra_target: str = "", held_ok: bool = True
) -> Row:
    ok = result.p50_us <= 250 and result.p99_us <= 1000 and result.errors == 0 and held_ok
    return Row(
        case,
        us(result.p50_us),
        us(result.p99_us),
        rps(result.rps),
        f"B {us(floors.hop_c1.p50_us)} / A {us(floors.trivial_c1.p50_us)}",
        f"{result.p50_us / floors.hop_c1.p50_us:.1f}x B, "
        f"{result.p50_us / floors.trivial_c1.p50_us:.1f}x A",
        extra_target + "p50 ≤ 250 µs, p99 ≤ 1 ms",
        yes(ok),
    )


def deploy_many(server: ServedLambdalite, names: list[str], threads: int = 8) -> float:
    started = time.perf_counter()
    chunks = [names[i::threads] for i in range(threads)]

    def work(chunk: list[str]) -> None:
        client = server.client()
        for name in chunk:
            server.deploy(client, name)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, chunks))
    return time.perf_counter() - started


async def _hold(port: int, wire: bytes, count: int, timeout_s: float) -> list[int]:
    """`count` requests at once, one connection each; returns their HTTP statuses."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(wire)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            return int(head.split()[1])
        finally:
            writer.close()

    return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), timeout_s)


def cold_series(
    conn: Connection,
    n: int,
    before: Callable[[int], None],
    request: Callable[[int], RawRequest],
    gap_s: float = 0.0,
) -> tuple[list[float], int]:
    """Latencies of `n` invokes each preceded by `before(i)`; counts the ones whose log
    tail shows an Init Duration (that really were cold starts)."""
    samples: list[float] = []
    cold = 0
    inits.clear()
    for i in range(n):
        before(i)
        if gap_s:
            time.sleep(gap_s)
        wire = request(i).wire()
        answer = conn.send(wire)
        if answer.status != 200 or "x-amz-function-error" in answer.headers:
            raise RuntimeError(f"cold invoke failed: {answer}")
        samples.append(answer.latency_ms)
        tail = log_tail(answer)
        cold += "Init Duration" in tail
        match = re.search(r"Init Duration: ([0-9.]+) ms", tail)
        if match:
            inits.append(float(match.group(1)))
    return samples, cold


# The Init Duration each cold_series invoke reported (REPORT line), in ms.
inits: list[float] = []


def init_note(label: str) -> str:
    if not inits:
        return f"{label}: no Init Duration reported"
    return (
        f"{label}: Init Duration (sandbox start + function init, as REPORT says) "
        f"p50 {statistics.median(inits):.2f} ms, p99 {pct(inits, 0.99):.2f} ms"
    )


def measure_lambdalite(plan: Plan, floors: Floors, report: Report, force: bool) -> None:
    server = ServedLambdalite()
    try:
        _measure(server, plan, floors, report, force)
    finally:
        print("stopping the server (destroys every sandbox)...", flush=True)
        server.stop()


def _measure(
    server: ServedLambdalite, plan: Plan, floors: Floors, report: Report, force: bool
) -> None:
    client = server.client()
    deploy_many(server, [f"fn-{i:05d}" for i in range(9)] + ["hello"])
    hello = server.invoke_request("hello")
    conn = Connection(server.port)
    first = conn.send(hello.wire())
    assert first.status == 200 and first.body == b'{"hello": "world"}', first

    # -- warm, concurrency 1 and 64 -------------------------------------------------------
    c1 = load(server.port, hello, 1, plan.c1_seconds, plan, force)
    report.add(warm_row("warm invoke, c=1 (10 functions deployed)", c1, floors))
    cpu_before = memory.cpu_seconds(server.pid)
    c64 = load(server.port, hello, 64, plan.c64_seconds, plan, force)
    cpu_per = (memory.cpu_seconds(server.pid) - cpu_before) / max(
        1, c64.requests + plan.warmup_seconds * c64.rps
    )
    ok = c64.rps >= 10_000 and c64.p99_us <= 20_000 and c64.errors == 0
    report.add(
        Row(
            "warm invoke, c=64 (hello)",
            us(c64.p50_us),
            us(c64.p99_us),
            rps(c64.rps),
            f"E {rps(floors.pool_c64.rps)} / B {rps(floors.hop_c64.rps)}",
            f"{c64.rps / floors.pool_c64.rps:.2f}x E, {c64.rps / floors.hop_c64.rps:.2f}x B",
            "≥ 10,000/s, p99 ≤ 20 ms",
            yes(ok),
        )
    )
    report.note(
        f"server process CPU per warm invoke at c=64: ~{cpu_per * 1e6:.0f} µs "
        f"(2 cores' wall time per request: floor E {2e6 / floors.pool_c64.rps:.0f} µs, "
        f"floor B {2e6 / floors.hop_c64.rps:.0f} µs; 10,000/s allows 200 µs); "
        f"errors c=1 {c1.errors}, c=64 {c64.errors}"
    )

    # -- idle sandbox memory (the sandboxes c=64 left warm) -----------------------------
    time.sleep(0.5)
    fp = memory.footprint(server.pid)
    if fp.sandbox_pss_kib:
        med = statistics.median(fp.sandbox_pss_kib) / 1024
        top = max(fp.sandbox_pss_kib) / 1024
        report.add(
            Row(
                f"idle warm sandbox PSS (init + runtime; n={len(fp.sandbox_pss_kib)})",
                f"{med:.2f} MiB",
                f"max {top:.2f} MiB",
                target="≤ 5 MiB",
                met=yes(med <= 5),
            )
        )
        report.note(
            f"idle sandbox PSS measured with {len(fp.sandbox_pss_kib)} warm hello sandboxes "
            f"sharing one zygote; zygote + spares: {fp.other_processes} processes, "
            f"{fp.other_pss_kib / 1024:.1f} MiB PSS in all; the log sink process "
            f"{fp.sink_pss_kib / 1024:.1f} MiB"
        )

    # -- cold starts ----------------------------------------------------------------------
    server.deploy(client, "cold")
    exit_wire = server.invoke_request("cold", {"exit": True}).wire()
    tail_cold = server.invoke_request("cold", tail=True)
    conn.send(tail_cold.wire())

    def kill_sandbox(_: int) -> None:
        answer = conn.send(exit_wire)
        assert answer.headers.get("x-amz-function-error") == "Unhandled", answer

    ready, cold = cold_series(conn, plan.cold_ready, kill_sandbox, lambda _: tail_cold, 0.01)
    fork_plus_hop = floors.fork_ms + floors.hop_c1.p50_us / 1000
    report.add(
        Row(
            f"cold start, zygote ready (after the sandbox exited; {cold}/{len(ready)} cold)",
            ms(statistics.median(ready)),
            ms(pct(ready, 0.99)),
            floor=f"C+B {ms(fork_plus_hop)}",
            ratio=f"{statistics.median(ready) / fork_plus_hop:.1f}x",
            target="p50 ≤ 5 ms",
            met=yes(statistics.median(ready) <= 5 and cold == len(ready)),
        )
    )
    report.note(init_note("cold start, zygote ready"))

    def reconfigure(i: int) -> None:
        client.update_function_configuration(FunctionName="cold", Description=f"rev {i}")

    nothing, cold = cold_series(conn, plan.cold_nothing, reconfigure, lambda _: tail_cold, 0.05)
    python_plus = floors.python_ms + fork_plus_hop
    report.add(
        Row(
            f"cold start from nothing alive (new zygote after UpdateFunctionConfiguration; "
            f"{cold}/{len(nothing)} cold)",
            ms(statistics.median(nothing)),
            ms(pct(nothing, 0.99)),
            floor=f"D+C+B {ms(python_plus)}",
            ratio=f"{statistics.median(nothing) / python_plus:.1f}x",
            target="p50 ≤ 25 ms",
            met=yes(statistics.median(nothing) <= 25 and cold == len(nothing)),
        )
    )
    report.note(init_note("cold start from nothing alive"))
    names = [f"first-{i:03d}" for i in range(plan.cold_deploy)]
    deploy_many(server, names, threads=4)
    first_invokes, cold = cold_series(
        conn,
        len(names),
        lambda _: None,
        lambda i: server.invoke_request(names[i], tail=True),
    )
    report.add(
        Row(
            f"first invoke after CreateFunction (code extracted, new zygote; "
            f"{cold}/{len(first_invokes)} cold)",
            ms(statistics.median(first_invokes)),
            ms(pct(first_invokes, 0.99)),
            floor=f"D+C+B {ms(python_plus)}",
            ratio=f"{statistics.median(first_invokes) / python_plus:.1f}x",
            target="p50 ≤ 25 ms",
            met=yes(statistics.median(first_invokes) <= 25),
        )
    )
    report.note(init_note("first invoke after CreateFunction"))
    conn.close()

    # -- many functions deployed ----------------------------------------------------------
    # The same warm hello sandboxes serve both measurements: only the catalogue grows.
    # On a shared 2-vCPU machine one run's p50 moves by ~10%: compare the median p50 of
    # three runs taken just before deploying with three taken just after.
    def median_run() -> LoadResult:
        runs = [run_load(server.port, hello, 1, 2, plan.max_requests, force) for _ in range(3)]
        return sorted(runs, key=lambda r: r.p50_us)[1]

    have = 10 + 1 + plan.cold_deploy
    few = median_run()
    more = [f"fn-{i:05d}" for i in range(9, 9 + plan.functions - have)]
    seconds = deploy_many(server, more)
    run_load(server.port, hello, 1, plan.warmup_seconds, plan.max_requests, force)
    many = median_run()
    ratio = many.p50_us / few.p50_us
    report.add(
        Row(
            f"warm invoke, c=1, {plan.functions:,} functions deployed (median of 3 runs)",
            us(many.p50_us),
            us(many.p99_us),
            rps(many.rps),
            f"{have} functions: {us(few.p50_us)}",
            f"{ratio:.2f}x",
            "≤ 1.10x (no growth with functions)",
            yes(ratio <= 1.10 and many.errors == 0),
        )
    )
    report.note(
        f"deployed {len(more):,} functions with boto3 CreateFunction in {seconds:.0f} s "
        f"({len(more) / seconds:.0f}/s, 8 client threads)"
    )

    # -- many warm sandboxes held ---------------------------------------------------------
    held_target = plan.held
    available_before = memory.mem_available_kib()
    base = sum(server.health()["sandboxes"].values())
    # Waves under the account's concurrency limit (1,000, AWS's default), one function
    # each. Every zygote is started first, while the server holds few fds: a zygote
    # select()s on the fd numbers it inherits, and one started once the server has
    # passed ~1,000 open fds dies at once ("filedescriptor out of range in select()").
    wave_size = 400
    waves = -(-held_target // wave_size)
    warmup = Connection(server.port)
    for wave in range(waves):
        server.deploy(client, f"hold-{wave}")
        warmup.send(server.invoke_request(f"hold-{wave}").wire())
    warmup.close()
    started = time.perf_counter()
    statuses: list[int] = []
    wave = 0
    while len(statuses) < held_target:
        count = min(wave_size, held_target - len(statuses))
        name = f"hold-{wave}"
        hold_s = 5.0 + count * 0.02
        wire = server.invoke_request(name, {"until": time.time() + hold_s}).wire()
        statuses += asyncio.run(_hold(server.port, wire, count, hold_s + 60))
        wave += 1
    elapsed = time.perf_counter() - started
    counts = server.health()["sandboxes"]
    held = sum(counts.values()) - base
    throttled = sum(1 for s in statuses if s == 429)
    failed = sum(1 for s in statuses if s != 200)
    by_status = dict(sorted(collections.Counter(statuses).items()))
    used_gib = (available_before - memory.mem_available_kib()) / 2**20
    fp = memory.footprint(server.pid)
    total_pss = sum(fp.sandbox_pss_kib) / 2**20
    report.note(
        f"held {held:,} more warm sandboxes ({wave} waves of ≤ {wave_size} concurrent invokes "
        f"sleeping together, {elapsed:.0f} s; {failed} failed, {throttled} throttled, "
        f"statuses {by_status}); "
        f"MemAvailable dropped {used_gib:.2f} GiB ({used_gib * 1024 / max(held, 1):.2f} MiB "
        f"each); all sandboxes' PSS {total_pss:.2f} GiB over {len(fp.sandbox_pss_kib):,}; "
        f"pool counts {counts}"
    )
    time.sleep(3)  # let the log flush and the released waves settle
    held_warm = load(server.port, hello, 1, plan.c1_seconds, plan, force)
    report.add(
        warm_row(
            f"warm invoke, c=1, with {held:,} warm sandboxes held",
            held_warm,
            floors,
            f"{held_target:,} held; ",
            held >= held_target,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, ~1 minute")
    parser.add_argument(
        "--python-client", action="store_true", help="use the asyncio client even if wrk exists"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    parser.add_argument(
        "--idle-poll-us",
        type=int,
        default=None,
        help="set the VM's haltpoll window for the whole run, floors included, and put it "
        "back after (lambdalite/idle_poll.py); results go to bench/results-idle-poll.md",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: isolated sandboxes use namespaces and cgroups")
    idle_poll = IdlePoll()
    if args.idle_poll_us is not None:
        print(idle_poll.apply(args.idle_poll_us), flush=True)
    try:
        run(args, idle_poll)
    finally:
        idle_poll.restore()


def run(args: argparse.Namespace, idle_poll: IdlePoll) -> None:
    plan = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    poll_ns = idle_poll.current_ns()
    if args.idle_poll_us is not None:
        mode += f", idle poll {args.idle_poll_us} µs"
    header = machine()
    header.append(
        "Idle vCPUs: "
        + (
            f"haltpoll, poll window {poll_ns // 1000} µs before halting"
            if poll_ns is not None
            else "no haltpoll cpuidle driver"
        )
    )
    print("\n".join(header), flush=True)
    report = Report()
    began = time.monotonic()
    load_before = Path("/proc/loadavg").read_text().split()[0]
    print("floors...", flush=True)
    floors = measure_floors(plan, report, args.python_client)
    print("lambdalite...", flush=True)
    measure_lambdalite(plan, floors, report, args.python_client)
    load_after = Path("/proc/loadavg").read_text().split()[0]
    report.note(
        f"whole run {time.monotonic() - began:.0f} s, mode {mode}; 1-min load average "
        f"{load_before} before, {load_after} after (anything else running skews p99s)"
    )
    print()
    print("\n".join(header))
    print(text_table(report))
    for note in report.notes:
        print(f"- {note}")
    if not args.no_write:
        out = RESULTS if args.idle_poll_us is None else RESULTS_IDLE_POLL
        out.write_text(render(report, header, mode))
        print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
