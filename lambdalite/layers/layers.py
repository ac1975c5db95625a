"""Layers: the entry point of layers and managed dependencies, built from one Settings
(docs/decisions/0701-dependency-layers.md).

    build()   the stores, the layer service and what function versions need of it
    attach()  the builder, once the engine (whose sandbox machinery builds borrow) exists
    start()   resume what a stopped server left (builds, updates), start the loops
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from lambdalite.control.code import CodeStore
from lambdalite.layers.build_sandbox import BuildSandbox
from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.builder import DependencyBuilder
from lambdalite.layers.collector import LayerCollector
from lambdalite.layers.layer_store import LayerVersionStore
from lambdalite.layers.model import Build
from lambdalite.layers.references import References
from lambdalite.layers.report import LayerReport
from lambdalite.layers.service import LayerService
from lambdalite.layers.trees import LayerTrees
from lambdalite.layers.update_store import UpdateStore
from lambdalite.layers.versions import VersionLayers
from lambdalite.loops import BackgroundLoop
from lambdalite.sandbox import bubblewrap
from lambdalite.sandbox.zygote_backend import SANDBOX_GID, SANDBOX_UID, ZygoteBackend
from lambdalite.settings import Settings
from lambdalite.store.database import Database
from lambdalite.store.functions import FunctionStore

log = logging.getLogger(__name__)

# Told which functions' $LATEST changed when a build finished (their sandboxes retire,
# cached targets go): (account, function) pairs, and the account of the build.
ChangeListener = Callable[[list[tuple[str, str]], str], None]


@dataclass
class Layers:
    settings: Settings
    db: Database
    trees: LayerTrees
    service: LayerService
    versions: VersionLayers
    builds: BuildStore
    report: LayerReport
    collector: LayerCollector
    builder: DependencyBuilder | None = None
    _loops: list[BackgroundLoop] = field(default_factory=list)
    _on_change: ChangeListener = lambda _changed, _account: None

    @classmethod
    def build(
        cls, settings: Settings, db: Database, functions: FunctionStore, code: CodeStore
    ) -> Layers:
        trees = LayerTrees(settings.layers_dir)
        layer_versions = LayerVersionStore(db)
        builds = BuildStore(db)
        references = References(db)
        service = LayerService(layer_versions, trees, settings.code_limits, settings.region)
        service.content_in_use = lambda sha: any(
            ref.sha256 == sha for use in references.versions() for ref in use.layers
        )
        versions = VersionLayers(
            builds,
            UpdateStore(db),
            service,
            trees,
            functions,
            code,
            settings.code_limits,
            preimport=settings.builds.preimport,
        )
        collector = LayerCollector(
            references, builds, layer_versions, trees, settings.builds.gc_grace_seconds
        )
        report = LayerReport(references, builds, layer_versions, service)
        return cls(settings, db, trees, service, versions, builds, report, collector)

    def attach(self, backend: object, on_change: ChangeListener) -> None:
        """The builder, with a build sandbox like the backend's sandboxes: its network
        namespaces (outbound only), its cgroups, its unprivileged user."""
        builds = self.settings.builds
        if isinstance(backend, ZygoteBackend):
            sandbox = BuildSandbox(
                bubblewrap.find(),
                backend.isolated,
                backend.netns if backend.isolated else None,
                backend.cgroups,
                backend.uid,
                backend.gid,
                builds.memory_mb,
                backend.leftover_cgroups,
            )
        else:  # a test's fake backend: no isolation to borrow
            sandbox = BuildSandbox(None, False, None, None, SANDBOX_UID, SANDBOX_GID, 0)
        self._on_change = on_change
        self.builder = DependencyBuilder(
            self.builds, self.trees, sandbox, builds, on_finished=self._finished
        )

    def _finished(self, build: Build) -> None:
        """A build is done (on the thread pool): settle the updates waiting for it."""
        changed = self.versions.settle(build)
        self._on_change(changed, build.account_id)

    async def start(self) -> None:
        builder = self.builder
        if builder is not None:
            await builder.resume(single_server=self.db.is_sqlite)
        changed = await run_in_threadpool(self.versions.settle_all)
        for account_id, name in changed:
            self._on_change([(account_id, name)], account_id)
        builds = self.settings.builds
        if builder is not None and builds.interval_seconds > 0:
            self._loops.append(
                BackgroundLoop("dependency-builder", builder.run_once, builds.interval_seconds)
            )
        if builds.gc_interval_seconds > 0:
            self._loops.append(
                BackgroundLoop(
                    "layer-collector", self.collector.run_once, builds.gc_interval_seconds
                )
            )
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        for loop in self._loops:
            await loop.stop()
        self._loops.clear()
