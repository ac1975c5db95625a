"""Fixtures for the sandbox layer: real zygotes, namespaces and cgroups (marked
`sandbox`, skipped where they cannot run) and small helpers to write functions.

Every cgroup the tests create lives under one parent named after this test process, and
is removed at the end, as are zygotes, namespaces and their mounts (they die with their
processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalite.sandbox import bubblewrap, network
from lambdalite.sandbox.cgroups import CgroupTree
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.spec import InvocationOutcome, InvocationRequest, SandboxSpec
from lambdalite.sandbox.zygote_backend import ZygoteBackend

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _why_not() -> str | None:
    reason = ZygoteBackend.available()
    if reason is None and CgroupTree.detect(f"lambdalite-probe-{os.getpid()}") is None:
        reason = "no usable cgroup controllers (memory, pids)"
    return reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _why_not()
    if reason is None:
        tree = CgroupTree.detect(f"lambdalite-probe-{os.getpid()}")
        if tree is not None:
            tree.remove_parent()
        return
    skip = pytest.mark.skip(reason=f"sandbox isolation unavailable: {reason}")
    for item in items:
        if "sandbox" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def host_network_restored() -> Iterator[None]:
    """Sandboxes with network install the platform's nftables table and turn on IPv4
    forwarding; leave the host as the session found it once their veths are gone."""
    had_table = os.geteuid() == 0 and network.firewall_present()
    yield
    if os.geteuid() != 0 or had_table or not network.firewall_present():
        return
    deadline = time.monotonic() + 5
    while network.sandbox_links() and time.monotonic() < deadline:
        time.sleep(0.02)  # the kernel tears the last namespaces down asynchronously
    with contextlib.suppress(OSError):
        network.remove_firewall()


@pytest.fixture(scope="session")
def cgroup_tree() -> Iterator[CgroupTree]:
    remove_dead_sessions_parents()
    tree = CgroupTree.detect(f"lambdalite-test-{os.getpid()}")
    assert tree is not None
    yield tree
    tree.remove_parent()


def remove_dead_sessions_parents() -> None:
    """A test session killed mid-run (a timeout, ^C) leaves its cgroup parent and the
    sandboxes' empty groups under it, in every hierarchy; the next session on the
    machine removes them, as a server's start sweeps its own parent's."""
    with contextlib.suppress(OSError):
        root = Path("/sys/fs/cgroup")
        for entry in [*root.glob("lambdalite-test-*"), *root.glob("memory/lambdalite-test-*")]:
            owner = entry.name.removeprefix("lambdalite-test-")
            if not owner.isdigit() or Path(f"/proc/{owner}").exists():
                continue
            stale = CgroupTree.detect(entry.name)
            if stale is not None:
                stale.sweep()
                stale.remove_parent()


@pytest.fixture
async def pool(cgroup_tree: CgroupTree) -> AsyncIterator[SandboxPool]:
    backend = ZygoteBackend(cgroup_tree)
    pool = SandboxPool(backend)
    yield pool
    await pool.close()
    assert backend.leftover_cgroups == []
    assert await backend.netns.wait_torn_down() == []


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(pid))
    return found


async def wait_gone(marker: str) -> list[int]:
    """The processes still mentioning `marker` after up to a second: killed sandboxes
    and zygotes finish dying asynchronously."""
    for _ in range(50):
        if not processes_with(marker):
            break
        await asyncio.sleep(0.02)
    return processes_with(marker)


@pytest.fixture(params=["bubblewrap", "self-built root"])
async def rooted(
    request: pytest.FixtureRequest, cgroup_tree: CgroupTree
) -> AsyncIterator[tuple[SandboxPool, ZygoteBackend]]:
    """A pool and its backend, once with the common root built by bubblewrap and once
    built by the runtime zygote itself (the fallback where bubblewrap is missing).
    After: no process of its zygote tree, no cgroup, no network namespace is left."""
    if request.param == "bubblewrap":
        if bubblewrap.find() is None:
            pytest.skip("bubblewrap is not installed (apt: bubblewrap)")
        backend = ZygoteBackend(cgroup_tree)
        assert backend.isolation.startswith("bubblewrap")
    else:
        backend = ZygoteBackend(cgroup_tree, bwrap=None)
        assert "bubblewrap not found" in backend.isolation
    pool = SandboxPool(backend)
    yield pool, backend
    await pool.close()
    assert await wait_gone(backend.tree.name) == []
    assert backend.leftover_cgroups == []
    assert await backend.netns.wait_torn_down() == []


class Functions:
    """Writes function code under a temp dir and builds specs for it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def make(
        self,
        source: str,
        *,
        name: str | None = None,
        files: dict[str, str] | None = None,
        handler: str = "app.handler",
        runtime: str = "python3.11",
        **config: Any,
    ) -> SandboxSpec:
        name = name or f"fn-{uuid.uuid4().hex[:8]}"
        code = self.root / name
        code.mkdir()
        (code / "app.py").write_text(textwrap.dedent(source))
        for rel, text in (files or {}).items():
            path = code / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
            if rel == "bootstrap":
                path.chmod(0o755)
        code.chmod(0o755)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        return SandboxSpec(ACCOUNT, name, "$LATEST", arn, code, handler, runtime, **config)


@pytest.fixture
def functions(tmp_path: Path) -> Functions:
    return Functions(tmp_path)


def request(spec: SandboxSpec, event: Any = None, **kw: Any) -> InvocationRequest:
    payload = json.dumps({} if event is None else event).encode()
    return InvocationRequest(str(uuid.uuid4()), payload, spec.function_arn, **kw)


async def invoke(
    pool: SandboxPool, spec: SandboxSpec, event: Any = None, **kw: Any
) -> InvocationOutcome:
    async with pool.acquire(spec) as sandbox:
        return await sandbox.invoke(request(spec, event, **kw))


def result(outcome: InvocationOutcome) -> Any:
    assert outcome.function_error is None, outcome.payload
    return json.loads(outcome.payload)


def error(outcome: InvocationOutcome) -> dict[str, Any]:
    assert outcome.function_error == "Unhandled", outcome.payload
    body: dict[str, Any] = json.loads(outcome.payload)
    return body
