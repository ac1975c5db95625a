"""Cold and warm invocations of an isolated hello sandbox, against floors measured in the
same run (bare fork+exit, a pipe round trip, an interpreter start). Cold starts from
nothing (a new version: its zygote forked from the runtime zygote, or the runtime zygote
started first, with and without bubblewrap), from a ready version zygote, back to back;
warm invokes; memory. Prints a table and the machine; asserts nothing. Needs root
(namespaces, cgroups): `sudo .venv/bin/python -m bench.sandbox_cold_warm`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.netns import Netns, NetnsPool
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.runtime_zygote import real_interpreter
from lambdalite.sandbox.sandbox import Sandbox
from lambdalite.sandbox.spec import InvocationRequest, SandboxSpec
from lambdalite.sandbox.zygote_backend import ForkedSandbox, ZygoteBackend

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cgroup = "v2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "v1"
    return (
        f"{platform.node()} · {os.cpu_count()} vCPU {cpu} · Linux {platform.release()} · "
        f"Python {platform.python_version()} · cgroup {cgroup}"
    )


def summary(name: str, samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<50} p50 {statistics.median(ordered):8.3f} ms   p99 {p99:8.3f} ms"
        f"   (n={len(ordered)})"
    )


def fork_floor(n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        out.append((time.perf_counter() - t) * 1000)
    return out


def python_floor(n: int) -> list[float]:
    """`python -I -S -c pass` from the real binary: what any fresh interpreter costs."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([real_interpreter(), "-I", "-S", "-c", "pass"], env={}, check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def pipe_floor(n: int) -> list[float]:
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(a_w)
        while os.read(a_r, 64):
            os.write(b_w, b"x")
        os._exit(0)
    os.close(a_r)
    os.close(b_w)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        os.write(a_w, b"x")
        os.read(b_r, 64)
        out.append((time.perf_counter() - t) * 1000)
    os.close(a_w)
    os.waitpid(pid, 0)
    os.close(b_r)
    return out


def pss_kib(pid: int, children: bool = True) -> int:
    """PSS of a sandbox's init and its runtime (its only child while idle)."""
    total = 0
    pids = [pid]
    try:
        if children:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids += [int(c) for c in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


async def timed(n: int, step: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await step()
        out.append((time.perf_counter() - t) * 1000)
    return out


def drop_runtimes(backend: ZygoteBackend) -> None:
    """Close the backend's runtime zygotes, so the next new version starts one."""
    for runtime in backend.tree.runtimes.values():
        runtime.close()
    backend.tree.runtimes.clear()


def _code_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="lambdalite-bench-"))
    root.chmod(0o755)  # the sandbox user reads the code through /var/task
    return root


async def network_costs(netns: NetnsPool, n: int) -> list[str]:
    """Host setup once, then making a namespace (wired: veth + addresses + route; offline:
    only lo) on the pool's thread, and its teardown: closing the fd, after which the
    kernel removes namespace and veth on its own; timed until the veth is gone."""
    started = time.perf_counter()
    warning = await asyncio.to_thread(netns.setup)
    setup_ms = (time.perf_counter() - started) * 1000
    lines = [f"{'network: host setup (nft, forwarding, 1st netns)':<50} {setup_ms:8.3f} ms"]
    if warning:
        lines.append(f"network: {warning}")
    loop = asyncio.get_running_loop()
    for wired in (True, False) if netns.online else (False,):
        kind = "wired (veth, /30, route)" if wired else "only lo"
        makes, gone = [], []
        for _ in range(n):
            t = time.perf_counter()
            made = await loop.run_in_executor(netns._thread, netns._make, wired)
            makes.append((time.perf_counter() - t) * 1000)
            if not wired:
                made.close()
                continue
            gone.append(await asyncio.to_thread(_teardown_ms, made))
        lines.append(summary(f"network: make a netns, {kind}", makes))
        if gone:
            lines.append(summary("network: teardown, fd closed -> veth gone", gone))
    netns.close()
    return lines


def _teardown_ms(netns: Netns) -> float:
    started = time.perf_counter()
    netns.close()
    while Path(f"/sys/class/net/{netns.interface}").exists():
        time.sleep(0.0005)
    return (time.perf_counter() - started) * 1000


async def run(args: argparse.Namespace) -> None:
    tree = CgroupTree.detect(f"lambdalite-bench-{os.getpid()}")
    backend = ZygoteBackend(tree)
    pool = SandboxPool(backend)
    root = _code_root()
    counter = iter(range(10**9))

    def spec(name: str, network: str = "default") -> SandboxSpec:
        code = root / name
        code.mkdir(exist_ok=True)
        (code / "app.py").write_text(HELLO)
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        return SandboxSpec(
            "123456789012", name, "$LATEST", arn, code, "app.handler", "python3.11",
            network=network,
        )  # fmt: skip

    def request(s: SandboxSpec) -> InvocationRequest:
        return InvocationRequest(str(uuid.uuid4()), b'{"name":"bench"}', s.function_arn)

    lines = [
        f"machine: {machine()}",
        f"cgroups: {'none' if tree is None else ('v2' if tree.v2 else 'v1')}",
    ]
    lines.append(summary("floor: bare fork+exit+wait (this process)", fork_floor(args.n)))
    lines.append(summary("floor: pipe round trip between 2 processes", pipe_floor(args.n * 10)))
    lines.append(summary("floor: python -I -S -c pass", python_floor(max(10, args.n // 10))))
    if args.network:
        lines += await network_costs(NetnsPool(), max(20, args.n // 4))

    async def from_nothing(on: SandboxPool, runtime_cold: bool, n: int) -> list[float]:
        """New versions, one after the other: each forks its version zygote (and, with
        `runtime_cold`, first starts the runtime zygote), a sandbox, and invokes it."""
        assert isinstance(on.backend, ZygoteBackend)
        samples = []
        for _ in range(n):
            s = spec(f"cold-{next(counter)}")
            if runtime_cold:
                drop_runtimes(on.backend)
            started = time.perf_counter()
            async with on.acquire(s) as sandbox:
                await sandbox.invoke(request(s))
            samples.append((time.perf_counter() - started) * 1000)
            await on.retire(s.function_arn)
            await asyncio.sleep(args.gap)
        return samples

    await backend.tree.warm_up()
    lines.append(
        summary(
            "cold from nothing, runtime zygote ready",
            await from_nothing(pool, False, max(20, args.n // 4)),
        )
    )
    builders = [(pool, "bwrap" if backend.tree.bwrap else "self-built root")]
    if backend.tree.bwrap:
        # The same without bubblewrap: what bwrap adds to a runtime zygote's start.
        builders.append((SandboxPool(ZygoteBackend(tree, bwrap=None)), "self-built root"))
    for on, label in builders:
        await from_nothing(on, True, 1)  # its first also sets up the host's network
        lines.append(
            summary(
                f"cold from nothing + runtime zygote ({label})",
                await from_nothing(on, True, max(10, args.n // 10)),
            )
        )
    for on, _ in builders[1:]:
        await on.close()

    hello = spec("hello")
    await backend.prepare(hello)
    inits: list[float] = []
    colds: list[float] = []

    for subject, label in ((hello, "network on"), (spec("hello-offline", "none"), "only lo")):
        await backend.prepare(subject)

        async def cold(subject: SandboxSpec = subject) -> None:
            started = time.perf_counter()
            sandbox = await Sandbox.start(subject, backend)
            await sandbox.invoke(request(subject))
            colds.append((time.perf_counter() - started) * 1000)
            inits.append(sandbox.init_duration_ms or 0.0)
            await sandbox.destroy()
            await asyncio.sleep(args.gap)

        await timed(args.n, cold)
        gap = f"{args.gap * 1000:.0f} ms apart"
        lines.append(summary(f"cold start, {gap}, {label}", colds))
        lines.append(summary("  of which Init Duration (fork -> ready)", inits))
        colds.clear()
        inits.clear()

    async def back_to_back() -> None:
        started = time.perf_counter()
        sandbox = await Sandbox.start(hello, backend)
        await sandbox.invoke(request(hello))
        colds.append((time.perf_counter() - started) * 1000)
        await sandbox.destroy()

    await timed(args.n, back_to_back)
    lines.append(summary("cold start, back to back (no spare ready)", colds))

    async def warm() -> None:
        async with pool.acquire(hello) as sandbox:
            await sandbox.invoke(request(hello))

    await warm()
    # Destroyed sandboxes' network namespaces are torn down asynchronously by the kernel;
    # let that settle so the warm figure is the steady state.
    await asyncio.sleep(1.0)
    lines.append(summary("warm invoke via pool.acquire + invoke", await timed(args.n * 5, warm)))

    held = [await Sandbox.start(hello, backend) for _ in range(args.idle)]
    await asyncio.sleep(0.2)
    pss = [pss_kib(s.process.pid) for s in held if isinstance(s.process, ForkedSandbox)]
    label = "idle sandbox memory (PSS of init + runtime)"
    lines.append(
        f"{label:<50} median {statistics.median(pss) / 1024:.2f} MiB"
        f"   max {max(pss) / 1024:.2f} MiB   (n={len(pss)})"
    )
    zygote = backend.tree.versions[hello.key].pid
    own = pss_kib(zygote, children=False) / 1024
    lines.append(f"{'version zygote memory (PSS, one per version)':<50} {own:.2f} MiB")
    runtimes = [pss_kib(r.pid, children=False) / 1024 for r in backend.tree.runtimes.values()]
    label = "runtime zygote memory (PSS, one per root)"
    lines.append(f"{label:<50} {' '.join(f'{m:.2f}' for m in runtimes)} MiB")
    for s in held:
        await s.destroy()
    await pool.close()
    if tree is not None:
        tree.remove_parent()
    shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))
    if args.json:
        print(json.dumps({"lines": lines}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="samples per measurement")
    parser.add_argument("--idle", type=int, default=20, help="idle sandboxes for the memory figure")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between cold starts")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-network", dest="network", action="store_false", help="skip the namespace costs"
    )
    args = parser.parse_args()
    if reason := ZygoteBackend.available():
        sys.exit(f"cannot run: {reason}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
