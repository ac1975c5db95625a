"""Cold starts of a function whose dependency layer holds boto3: without pre-import (its
init imports boto3), and on a pre-imported spare (docs/decisions/0701), against floors
measured in the same run: a hello-world cold start on the same backend, a bare fork, and
a fresh interpreter with and without `import boto3`. Memory of an armed spare against an
idle hello sandbox. Prints a table and the machine; asserts nothing. Needs root:
`sudo .venv/bin/python -m bench.layer_cold [--wheels DIR]`.

The layer is installed once by pip on the host (a benchmark's setup, not a platform
build), from `--wheels` if given, else from the package index; which modules are
pre-imported is measured the way the builder measures them (import_probe).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.sandbox_cold_warm import fork_floor, machine, pss_kib, python_floor, summary
from lambdalite.layers import import_probe
from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.runtime_zygote import real_interpreter
from lambdalite.sandbox.sandbox import Sandbox
from lambdalite.sandbox.spec import InvocationRequest, SandboxSpec
from lambdalite.sandbox.zygote_backend import ForkedSandbox, ZygoteBackend

HELLO = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
BOTO3 = "import boto3\n\ndef handler(event, context):\n    return {'boto3': boto3.__version__}\n"
MIN_MS = 20.0  # BuildSettings.preimport_min_ms


def install_layer(root: Path, wheels: str | None, requirement: str) -> Path:
    """`pip install --target <root>/python`, readable by the sandbox user."""
    target = root / "python"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--disable-pip-version-check", "--target", str(target), requirement,
    ]  # fmt: skip
    if wheels:
        command += ["--no-index", "--find-links", wheels]
    subprocess.run(command, check=True, timeout=600)
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return root


def spawn_import_floor(site: Path, n: int) -> list[float]:
    """A fresh interpreter that imports boto3: what a cold start without a zygote pays."""
    out = []
    code = f"import sys; sys.path.insert(0, {str(site)!r}); import boto3"
    for _ in range(n):
        started = time.perf_counter()
        subprocess.run([real_interpreter(), "-I", "-S", "-c", code], env={}, check=True)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(args: argparse.Namespace) -> None:
    tree = CgroupTree.detect(f"lambdalite-bench-{os.getpid()}")
    backend = ZygoteBackend(tree)
    root = Path(tempfile.mkdtemp(prefix="lambdalite-bench-"))
    os.chmod(root, 0o755)
    opt = install_layer(root / "opt", args.wheels, args.requirement)
    site = opt / "python"
    layer_mib = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 2**20
    measured = {
        name: import_probe.measure(str(site), name) for name in import_probe.candidates(str(site))
    }
    slow = tuple(
        sorted((m for m, ms in measured.items() if ms >= MIN_MS), key=lambda m: -measured[m])
    )

    def spec(
        name: str, source: str, *, layer: bool, preimport: tuple[str, ...] = ()
    ) -> SandboxSpec:
        code = root / name
        code.mkdir(exist_ok=True)
        (code / "app.py").write_text(source)
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        return SandboxSpec(
            "123456789012", name, "$LATEST", arn, code, "app.handler", "python3.11",
            opt_dir=opt if layer else None, preimport=preimport,
        )  # fmt: skip

    def request(s: SandboxSpec) -> InvocationRequest:
        return InvocationRequest(str(uuid.uuid4()), b'{"name":"bench"}', s.function_arn)

    lines = [
        f"machine: {machine()}",
        f"layer: {args.requirement}, {layer_mib:.1f} MiB",
        "measured imports (ms, each in a fresh interpreter): "
        + ", ".join(f"{m} {ms:.0f}" for m, ms in sorted(measured.items(), key=lambda i: -i[1])),
        f"pre-imported (>= {MIN_MS:.0f} ms): {', '.join(slow) or 'none'}",
    ]
    lines.append(summary("floor: bare fork+exit+wait", fork_floor(args.n)))
    lines.append(summary("floor: python -I -S -c pass", python_floor(max(10, args.n // 10))))
    lines.append(
        summary(
            "floor: python -I -S, import boto3", spawn_import_floor(site, max(10, args.n // 10))
        )
    )
    await backend.tree.warm_up()

    async def cold(subject: SandboxSpec, armed: bool, n: int) -> tuple[list[float], list[float]]:
        await backend.prepare(subject)
        colds: list[float] = []
        inits: list[float] = []
        for _ in range(n):
            if armed:
                await backend.armed.wait_ready(subject.key)
            started = time.perf_counter()
            sandbox = await Sandbox.start(subject, backend)
            outcome = await sandbox.invoke(request(subject))
            colds.append((time.perf_counter() - started) * 1000)
            inits.append(sandbox.init_duration_ms or 0.0)
            assert outcome.function_error is None, outcome.payload
            await sandbox.destroy()
            await asyncio.sleep(args.gap)
        return colds, inits

    gap = f"{args.gap * 1000:.0f} ms apart"
    armed_spec = spec("armed", BOTO3, layer=True, preimport=slow)
    cases = [
        (f"hello, zygote and spare ready, {gap}", spec("hello", HELLO, layer=False), False),
        (f"boto3, no pre-import (init imports it), {gap}", spec("plain", BOTO3, layer=True), False),
        ("boto3, pre-imported spare ready (waited for)", armed_spec, True),
        (f"boto3, pre-import, {gap}, not waiting for a spare", armed_spec, False),
    ]
    for label, subject, armed in cases:
        n = args.n if subject.function_name != "plain" else max(10, args.n // 5)
        colds, inits = await cold(subject, armed, n)
        lines.append(summary(f"cold start, {label}", colds))
        lines.append(summary("  of which Init Duration", inits))

    # Memory: an idle hello sandbox against an idle armed spare (boto3 imported).
    hello = cases[0][1]
    held = [await Sandbox.start(hello, backend) for _ in range(args.idle)]
    await asyncio.sleep(0.2)
    idle = [pss_kib(s.process.pid) for s in held if isinstance(s.process, ForkedSandbox)]
    await backend.armed.wait_ready(armed_spec.key)
    spare = backend.armed.take(armed_spec.key)
    armed_kib = pss_kib(spare.pid) if spare is not None else 0
    median_idle = sorted(idle)[len(idle) // 2] / 1024
    lines.append(f"{'idle hello sandbox (PSS of init + runtime)':<50} {median_idle:.2f} MiB")
    lines.append(f"{'armed boto3 spare (PSS of init + runtime)':<50} {armed_kib / 1024:.2f} MiB")
    if spare is not None:
        cgroup = spare.discard()
        if cgroup is not None:
            backend.leftover_cgroups.append(cgroup)
    for s in held:
        await s.destroy()
    await backend.close()
    if tree is not None:
        tree.remove_parent()
    shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100, help="cold starts per measurement")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between cold starts")
    parser.add_argument("--idle", type=int, default=10, help="idle sandboxes for memory")
    parser.add_argument("--wheels", default=None, help="a wheel directory (--find-links)")
    parser.add_argument("--requirement", default="boto3", help="what the layer holds")
    args = parser.parse_args()
    if reason := ZygoteBackend.available():
        sys.exit(f"cannot run: {reason}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
