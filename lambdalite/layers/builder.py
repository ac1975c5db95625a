"""DependencyBuilder: the background loop that turns pending builds into dependency layers.

    claim a build (a lease, renewed while it runs)
    pip install its requirements into a staging directory, in the build sandbox,
        its output streamed into the build's log (what `lambdalite deploy` shows)
    check the result: pip's exit status, its report (the resolved set), the size cap
    measure the slowest top-level imports (for pre-imported spares)
    seal the tree as the account's dependency layer of that resolved set (or reuse the
        one another build already made), record ready or failed, and tell the functions

`run_once()` builds everything pending, one at a time (a build is CPU- and network-heavy,
and a small machine has two cores); the server calls it from a BackgroundLoop, tests
call it directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from lambdalite.layers.build_sandbox import BuildSandbox, pip_command, system_ca_bundle
from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.import_probe import MARKER
from lambdalite.layers.model import Build, DependencyLayer
from lambdalite.layers.trees import LayerTrees, UnsafeTreeError, measure, remove_tree
from lambdalite.settings import BuildSettings

log = logging.getLogger(__name__)
_PROBE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from lambdalite.layers.import_probe import main; main()"
)
MAX_REASON_CHARS = 1500
SIZE_CHECK_EVERY = 5  # checks (one a second)


@dataclass(frozen=True)
class _Outcome:
    layer: DependencyLayer | None
    reason: str | None


class BuildFailedError(Exception):
    """A build that cannot produce a layer; the message is the function's StateReason."""


class DependencyBuilder:
    def __init__(
        self,
        builds: BuildStore,
        trees: LayerTrees,
        sandbox: BuildSandbox,
        settings: BuildSettings,
        on_finished: Callable[[Build], None] = lambda _build: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._builds = builds
        self._trees = trees
        self._sandbox = sandbox
        self._settings = settings
        self._on_finished = on_finished  # runs on the thread pool
        self._clock = clock
        self.server = secrets.token_hex(8)  # names this server's claims
        self._running: asyncio.Lock | None = None
        self._checks = 0

    async def resume(self, single_server: bool) -> None:
        """At start: builds a stopped server left half done are built again. With one
        server per catalogue (SQLite) that is every `building` one; with several, each
        is claimed again once its lease runs out."""
        if single_server:
            await run_in_threadpool(self._builds.release_all_building)
            await run_in_threadpool(self._trees.clear_staging)

    async def run_once(self) -> int:
        """Build every pending build; returns how many finished (ready or failed)."""
        if self._running is None:
            self._running = asyncio.Lock()
        async with self._running:
            done = 0
            while True:
                lease = self._settings.lease_seconds
                build = await run_in_threadpool(
                    self._builds.claim, self.server, lease, self._clock()
                )
                if build is None:
                    return done
                await self._build(build)
                done += 1

    async def _build(self, build: Build) -> None:
        output = _Log()
        output.add(
            f"[lambdalite] installing {build.requirements.count(chr(10))} requirement(s) from "
            f"{build.source} for Python {build.python} ({build.platform})\n"
            f"[lambdalite] build sandbox: {self._sandbox.description}\n"
        )
        try:
            outcome = await self._run(build, output)
        except Exception as exc:  # a bug or a host problem: the build fails, the loop goes on
            log.exception("dependency build %s of account %s failed", build.key, build.account_id)
            outcome = _Outcome(None, f"InternalError: the build could not run: {exc}")
        if outcome.reason:
            output.add(f"[lambdalite] build failed: {outcome.reason}\n")
        finished = await run_in_threadpool(
            lambda: self._builds.finish(
                build,
                self.server,
                layer=outcome.layer,
                reason=outcome.reason,
                log=output.text,
                now=self._clock(),
            )
        )
        if not finished:
            log.warning("dependency build %s was taken over by another server", build.key)
            return
        result = await run_in_threadpool(self._builds.get, build.account_id, build.key)
        if result is not None:
            await run_in_threadpool(self._on_finished, result)

    async def _run(self, build: Build, output: _Log) -> _Outcome:
        unavailable = self._sandbox.unavailable or _unreadable(self._settings.find_links)
        if unavailable:
            return _Outcome(None, unavailable)
        staging = await run_in_threadpool(
            self._trees.new_staging, self._sandbox.uid, self._sandbox.gid
        )
        try:
            return await self._install(build, staging, output)
        except BuildFailedError as failure:
            return _Outcome(None, str(failure))
        finally:
            await run_in_threadpool(remove_tree, staging)

    async def _install(self, build: Build, staging: Path, output: _Log) -> _Outcome:
        settings = self._settings
        requirements = staging / "requirements.txt"
        requirements.write_text(build.requirements)
        requirements.chmod(0o444)
        started = time.monotonic()
        command = pip_command(
            self._sandbox,
            staging,
            find_links=settings.find_links,
            index_url=settings.index_url,
            cert=None if settings.find_links else system_ca_bundle(),
        )
        result = await self._sandbox.run(
            staging,
            command,
            network=settings.find_links is None,
            find_links=settings.find_links,
            timeout_s=settings.timeout_seconds,
            on_output=output.add,
            check=lambda: self._check(build, staging, output),
        )
        if result.failure:
            raise BuildFailedError(result.failure)
        if result.status != 0:
            raise BuildFailedError(_pip_error(output.text, result.status))
        resolved = _resolved(staging / "report.json")
        tree = staging / "layer"
        size, files = await run_in_threadpool(measure, tree)
        if size > settings.max_layer_bytes:
            raise BuildFailedError(_too_big(size, settings.max_layer_bytes))
        output.add(
            f"[lambdalite] installed {len(resolved)} package(s), {files} files, {size} bytes, "
            f"in {time.monotonic() - started:.1f} s\n"
        )
        import_ms = await self._measure_imports(staging, output) if settings.preimport else {}
        digest = _layer_digest(build, resolved)
        try:
            await run_in_threadpool(self._trees.install, tree, digest)
        except UnsafeTreeError as unsafe:
            raise BuildFailedError(
                f"the build left something a layer cannot hold: {unsafe}"
            ) from None
        slow = sorted(
            (m for m, ms in import_ms.items() if ms >= settings.preimport_min_ms),
            key=lambda m: -import_ms[m],
        )[: settings.preimport_max_modules]
        if slow:
            output.add(f"[lambdalite] imported ahead of demand: {', '.join(slow)}\n")
        layer = DependencyLayer(
            account_id=build.account_id,
            digest=digest,
            resolved=resolved,
            python=build.python,
            platform=build.platform,
            size_bytes=size,
            files=files,
            preimport=tuple(slow),
            import_ms=import_ms,
            created_at=self._clock(),
        )
        return _Outcome(layer, None)

    async def _measure_imports(self, staging: Path, output: _Log) -> dict[str, float]:
        site = f"{self._sandbox.build_dir(staging)}/layer/python"
        found: dict[str, float] = {}

        def on_output(line: str) -> None:
            if line.startswith(MARKER):
                found.update(_import_times(line[len(MARKER) :]))
            else:
                output.add(line)

        runtime_dir = "/var/runtime" if self._sandbox.isolated else _package_parent()
        command = [self._sandbox.python(), "-I", "-S", "-c", _PROBE, runtime_dir, site]

        async def no_check() -> str | None:
            return None

        result = await self._sandbox.run(
            staging,
            command,
            network=False,
            find_links=None,
            timeout_s=self._settings.timeout_seconds,
            on_output=on_output,
            check=no_check,
        )
        if result.status != 0:
            output.add("[lambdalite] import times could not be measured; nothing is pre-imported\n")
            return {}
        return found

    async def _check(self, build: Build, staging: Path, output: _Log) -> str | None:
        """Every second while pip runs: renew the lease and store the log so far (what
        `lambdalite deploy` shows); every few, stop a build that outgrew the layer cap
        (its staging tree is walked, which a large tree makes costly)."""
        now = self._clock()
        lease_until = now + self._settings.lease_seconds
        ours = await run_in_threadpool(
            self._builds.renew, build, self.server, lease_until, output.text
        )
        if not ours:
            return "another server took the build over (this server's lease ran out)"
        self._checks += 1
        if self._checks % SIZE_CHECK_EVERY:
            return None
        size, _files = await run_in_threadpool(measure, staging)
        # Downloads and build files count too: some room over the cap before stopping.
        if size > self._settings.max_layer_bytes + 256 * 1024 * 1024:
            return _too_big(size, self._settings.max_layer_bytes)
        return None


class _Log:
    def __init__(self) -> None:
        self._parts: list[str] = []

    def add(self, text: str) -> None:
        self._parts.append(text)

    @property
    def text(self) -> str:
        return "".join(self._parts)


def _unreadable(find_links: str | None) -> str | None:
    """The build user reads the wheel directory: say so plainly when it cannot."""
    if find_links is None:
        return None
    try:
        mode = os.stat(find_links).st_mode
    except OSError as exc:
        return f"the server's wheel directory {find_links} cannot be read: {exc.strerror}"
    if not mode & 0o005:
        return (
            f"the server's wheel directory {find_links} is not readable by the build user: "
            "make it world-readable (chmod o+rx)"
        )
    return None


def _too_big(size: int, cap: int) -> str:
    return (
        f"the dependency layer is {size} bytes, more than the limit of {cap} bytes "
        "(the server's LAMBDALITE_LAYER_MAX_BYTES)"
    )


def _pip_error(text: str, status: int | None) -> str:
    """pip's own error lines, else the end of its output."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    picked = errors or [line for line in lines if not line.startswith("[lambdalite]")][-5:]
    reason = f"pip exited with status {status}: " + " ".join(picked)
    return reason[:MAX_REASON_CHARS]


def _resolved(report: Path) -> tuple[str, ...]:
    try:
        document = json.loads(report.read_text())
        names = [
            f"{item['metadata']['name']}=={item['metadata']['version']}"
            for item in document["install"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildFailedError(f"pip's installation report is unreadable: {exc}") from None
    return tuple(sorted(set(names), key=str.lower))


def _import_times(text: str) -> dict[str, float]:
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {
        str(name): float(ms)
        for name, ms in document.items()
        if isinstance(name, str) and name.isidentifier() and isinstance(ms, int | float)
    }


def _layer_digest(build: Build, resolved: tuple[str, ...]) -> str:
    """The account's dependency layer of this resolved set: builds of different requirement
    lines that resolve to the same packages share it. Never across accounts: a build runs
    packages' code, whose result another account must not inherit (0701)."""
    material = json.dumps([build.account_id, list(resolved), build.python, build.platform])
    return hashlib.sha256(material.encode()).hexdigest()


def _package_parent() -> str:
    import lambdalite

    return str(Path(lambdalite.__file__).parent.parent)
