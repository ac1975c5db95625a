"""LayerCollector: removes what no function version uses any more, with `run_once()`.

Kept: every build a version (any version an alias or a function points at, an update in
progress's previous version, a Pending version's build) names, and the dependency layer
it produced; every layer content a layer version or a function version names; every
merged /opt a version needs. Removed: the rest — build rows (not while one builds),
dependency layers (rows and trees), layer zips and their trees, merged trees — once older
than a grace period, so nothing is taken between its write and the row that uses it
(a build requested before its version row is written, a zip stored before its layer
version's row).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.layer_store import LayerVersionStore
from lambdalite.layers.model import BuildStatus
from lambdalite.layers.references import References
from lambdalite.layers.trees import LayerTrees, opt_name
from lambdalite.model import LayerRef

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collected:
    builds: int = 0
    dependency_layers: int = 0
    layer_contents: int = 0
    merged_trees: int = 0

    @property
    def total(self) -> int:
        return self.builds + self.dependency_layers + self.layer_contents + self.merged_trees


class LayerCollector:
    def __init__(
        self,
        references: References,
        builds: BuildStore,
        layer_versions: LayerVersionStore,
        trees: LayerTrees,
        grace_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._references = references
        self._builds = builds
        self._layer_versions = layer_versions
        self._trees = trees
        self._grace_s = grace_s
        self._clock = clock

    async def run_once(self) -> Collected:
        return await run_in_threadpool(self.collect)

    def collect(self) -> Collected:
        now = self._clock()
        old_enough = now - self._grace_s
        uses = self._references.versions()
        wanted_builds = {(u.account_id, u.dependencies) for u in uses if u.dependencies}
        builds_gone = 0
        kept_layers: set[tuple[str, str]] = set()
        for build in self._builds.all():
            if (build.account_id, build.key) in wanted_builds:
                if build.layer_digest:
                    kept_layers.add((build.account_id, build.layer_digest))
                continue
            if build.status is BuildStatus.BUILDING or build.created_at > old_enough:
                if build.layer_digest:
                    kept_layers.add((build.account_id, build.layer_digest))
                continue
            self._builds.delete(build.account_id, build.key)
            builds_gone += 1

        layers_gone = 0
        digests_in_use = {digest for _account, digest in kept_layers}
        for layer in self._builds.layers():
            if (layer.account_id, layer.digest) in kept_layers or layer.created_at > old_enough:
                digests_in_use.add(layer.digest)
                continue
            self._builds.delete_layer(layer.account_id, layer.digest)
            layers_gone += 1
        for digest in self._trees.dependency_layers() - digests_in_use:
            if _age(self._trees.dependency_layer(digest), now) > self._grace_s:
                self._trees.remove_dependency_layer(digest)

        contents = self._layer_versions.all_shas() | {r.sha256 for u in uses for r in u.layers}
        contents_gone = 0
        for sha in list(self._trees.content.blobs()):
            if sha not in contents and _age(self._trees.content.path(sha), now) > self._grace_s:
                self._trees.content.delete(sha)
                contents_gone += 1

        merged_gone = 0
        needed = {self._merged_name(u.account_id, u.dependencies, u.layers) for u in uses}
        for name in self._trees.merged_trees() - needed:
            self._trees.remove_merged(name)
            merged_gone += 1
        done = Collected(builds_gone, layers_gone, contents_gone, merged_gone)
        if done.total:
            log.info("layer collector removed %s", done)
        return done

    def _merged_name(self, account_id: str, key: str | None, layers: tuple[LayerRef, ...]) -> str:
        digest = None
        if key:
            build = self._builds.get(account_id, key)
            digest = build.layer_digest if build is not None else None
        return opt_name([ref.sha256 for ref in layers], digest)


def _age(path: Path, now: float) -> float:
    try:
        return now - os.lstat(path).st_mtime
    except FileNotFoundError:
        return 0.0
