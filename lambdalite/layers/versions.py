"""VersionLayers: what layers and dependency builds mean for function versions.

FunctionService asks it, around every write, for the build a package's requirements.txt
needs and whether an update may start; the API and the Invoker ask it what a version's
State and LastUpdateStatus are, which version really serves a qualifier right now, and
which /opt it sees. States, as AWS's "Lambda function states" describe them:

- a version whose build is pending or running is `Pending` (StateReasonCode `Creating`)
  and cannot be invoked (ResourceConflictException); a failed build makes it `Failed`
  (`DependencyError`, pip's error as the StateReason); no build, or a ready one, `Active`;
- a code update of $LATEST whose build is not done is `LastUpdateStatus InProgress`: the
  $LATEST it replaced keeps serving, and further updates and PublishVersion are refused;
  when the build fails that version is put back and `LastUpdateStatus` is `Failed` with
  the reason, until the next update.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from pathlib import Path

from lambdalite.control.code import CodeStore
from lambdalite.control.zipcheck import ZipManifest, check_zip
from lambdalite.errors import InvalidParameterValueException, ResourceConflictException
from lambdalite.layers import requirements
from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.model import Build, BuildStatus, FunctionUpdate, UpdateStatus
from lambdalite.layers.requirements import BuildRequest
from lambdalite.layers.service import LayerService
from lambdalite.layers.trees import LayerTrees
from lambdalite.layers.update_store import UpdateStore
from lambdalite.model import (
    ACTIVE,
    LATEST,
    FunctionVersion,
    LayerRef,
    VersionStatus,
)
from lambdalite.settings import CodeLimits
from lambdalite.store.functions import FunctionStore

log = logging.getLogger(__name__)

CREATING = VersionStatus("Pending", "The function is being created.", "Creating", None)
# A function tag overriding what its spare sandboxes import ahead: "none", or module names
# separated by spaces or commas (AWS has no such setting; like lambdalite:network).
PREIMPORT_TAG = "lambdalite:preimport"
DEPENDENCY_ERROR = "DependencyError"


def conflict_state(state: str) -> ResourceConflictException:
    return ResourceConflictException(
        "The operation cannot be performed at this time. The function is currently in the "
        f"following state: {state}"
    )


def conflict_update(arn: str) -> ResourceConflictException:
    return ResourceConflictException(
        "The operation cannot be performed at this time. An update is in progress for "
        f"resource: {arn}"
    )


class VersionLayers:
    def __init__(
        self,
        builds: BuildStore,
        updates: UpdateStore,
        layers: LayerService,
        trees: LayerTrees,
        functions: FunctionStore,
        code: CodeStore,
        limits: CodeLimits,
        preimport: bool = True,
    ) -> None:
        self._preimport = preimport
        self._builds = builds
        self._updates = updates
        self.layers = layers
        self._trees = trees
        self._functions = functions
        self._code = code
        self._limits = limits

    # -- before a write -----------------------------------------------------------------------
    def dependency_request(self, zip_file: bytes, manifest: ZipManifest) -> BuildRequest | None:
        return requirements.from_package(zip_file, manifest)

    def resolve_layers(self, account_id: str, arns: list[str]) -> tuple[LayerRef, ...]:
        return self.layers.resolve(account_id, arns)

    def check_size(
        self, code_unzipped: int | None, code_sha256: str, refs: tuple[LayerRef, ...]
    ) -> None:
        """AWS's limit on code and layers together (uploaded code only: a dependency layer
        built here has its own cap)."""
        if not refs:
            return
        if code_unzipped is None:
            code_unzipped = self._code.unzipped_size(code_sha256)
        total = code_unzipped + self.layers.unzipped_size(refs)
        if total > self._limits.max_unzipped_bytes:
            raise InvalidParameterValueException(
                f"Layers consume more than the available size of "
                f"{self._limits.max_unzipped_bytes} bytes"
            )

    def guard_update(self, latest: FunctionVersion, arn: str) -> None:
        """Refuse a write to $LATEST while its creation or an update is in progress."""
        if latest.status.last_update == UpdateStatus.IN_PROGRESS:
            raise conflict_update(arn)
        if latest.status.state == "Pending":
            raise conflict_state("Pending")

    def guard_publish(self, latest: FunctionVersion, arn: str) -> None:
        if latest.status.last_update == UpdateStatus.IN_PROGRESS:
            raise conflict_update(arn)

    def build_ready(self, account_id: str, key: str) -> bool:
        build = self._builds.get(account_id, key)
        return build is not None and build.status is BuildStatus.READY

    # -- around a write ---------------------------------------------------------------------------
    def begin_update(self, previous: FunctionVersion, revision_id: str, key: str) -> None:
        self._updates.begin(previous, revision_id, key)

    def end_update(self, account_id: str, name: str, revision_id: str | None = None) -> None:
        self._updates.clear(account_id, name, revision_id)

    def request_build(self, account_id: str, request: BuildRequest) -> Build:
        build = self._builds.request(account_id, request)
        # It may have finished between our look and the update's row: settle now.
        if build.status in (BuildStatus.READY, BuildStatus.FAILED):
            self.settle(build)
        return build

    def code_references(self, sha256: str) -> int:
        """Uses of a code package beside function versions: updates' previous versions."""
        return self._updates.code_references(sha256)

    def previous_code(self, account_id: str, name: str) -> str | None:
        update = self._updates.get(account_id, name)
        return update.previous.code.sha256 if update and update.previous else None

    # -- reading -------------------------------------------------------------------------------
    def with_status(self, versions: list[FunctionVersion]) -> list[FunctionVersion]:
        """`versions` (of one account) with their State and LastUpdateStatus."""
        if not versions:
            return versions
        account_id = versions[0].account_id
        keys = {v.config.dependencies for v in versions if v.config.dependencies}
        builds = self._builds.get_many(account_id, keys)
        updates = self._updates.get_many(
            account_id, {v.function_name for v in versions if v.is_latest}
        )
        for version in versions:
            key = version.config.dependencies
            if key and key not in builds:
                healed = self._heal(version)
                if healed is not None:
                    builds[key] = healed
        out = []
        for version in versions:
            update = updates.get(version.function_name) if version.is_latest else None
            out.append(replace(version, status=self._status(version, builds, update)))
        return out

    def runnable(self, version: FunctionVersion) -> FunctionVersion:
        """The version that serves `version`'s invocations now (its previous code while an
        update of $LATEST builds); ResourceConflictException if none can."""
        if version.is_latest and version.status.last_update == UpdateStatus.IN_PROGRESS:
            update = self._updates.get(version.account_id, version.function_name)
            if update is not None and update.previous is not None:
                (version,) = self.with_status([update.previous])
        if version.status.state != "Active":
            raise conflict_state(version.status.state)
        return version

    def opt_dir(self, version: FunctionVersion) -> Path | None:
        """The version's /opt: its layers in order, then its dependency layer (the
        function's own requirements win, as its own code in /var/task does)."""
        digest = None
        key = version.config.dependencies
        if key:
            build = self._builds.get(version.account_id, key)
            if build is None or build.layer_digest is None:
                raise conflict_state("Pending")
            digest = build.layer_digest
        return self._trees.opt([ref.sha256 for ref in version.config.layers], digest)

    def preimport(self, version: FunctionVersion, tags: dict[str, str]) -> tuple[str, ...]:
        """What the version's spare sandboxes import ahead of demand: its dependency
        layer's slowest modules as measured after the build, or the function's tag."""
        chosen = tags.get(PREIMPORT_TAG)
        if chosen is not None:
            names = tuple(n for n in chosen.replace(",", " ").split() if n.isidentifier())
            return () if chosen.strip().lower() in ("none", "off") else names
        key = version.config.dependencies
        if not self._preimport:
            return ()
        build = self._builds.get(version.account_id, key) if key else None
        if build is None or build.layer_digest is None:
            return ()
        layer = self._builds.layer(version.account_id, build.layer_digest)
        return layer.preimport if layer is not None else ()

    # -- when a build finishes ----------------------------------------------------------------
    def settle(self, build: Build) -> list[tuple[str, str]]:
        """Finish the updates waiting for `build`; returns the (account, function) pairs
        whose $LATEST changed."""
        changed = []
        for update in self._updates.waiting_for(build.account_id, build.key):
            if self._settle_one(update, build):
                changed.append((update.account_id, update.function_name))
        return changed

    def settle_all(self) -> list[tuple[str, str]]:
        """Updates whose build finished while nobody was there to settle them (a restart)."""
        changed = []
        for update in self._updates.in_progress():
            latest = self._functions.version(update.account_id, update.function_name, LATEST)
            key = latest.config.dependencies if latest else None
            build = self._builds.get(update.account_id, key) if key else None
            if latest is None or latest.revision_id != update.revision_id:
                self._updates.clear(update.account_id, update.function_name, update.revision_id)
            elif build is not None and self._settle_one(update, build):
                changed.append((update.account_id, update.function_name))
        return changed

    def _settle_one(self, update: FunctionUpdate, build: Build) -> bool:
        account_id, name = update.account_id, update.function_name
        previous = update.previous
        if build.status is BuildStatus.READY:
            self._updates.clear(account_id, name, update.revision_id)
            if previous is not None:
                self._forget_code(previous.code.sha256)
            return True
        if build.status is not BuildStatus.FAILED or previous is None:
            return False
        latest = self._functions.version(account_id, name, LATEST)
        if latest is None or latest.revision_id != update.revision_id:
            self._updates.clear(account_id, name, update.revision_id)
            return False
        # "Lambda aborts the update and the function's previous code and configuration
        # remain available": the previous $LATEST comes back, under a new revision.
        restored = replace(previous, revision_id=str(uuid.uuid4()), status=ACTIVE)
        if not self._functions.update_latest(restored, update.revision_id):
            return False
        reason = f"The function's dependencies could not be installed: {build.reason}"
        self._updates.fail(account_id, name, restored.revision_id, reason, DEPENDENCY_ERROR)
        self._forget_code(latest.code.sha256)
        return True

    def _forget_code(self, sha256: str) -> None:
        if self._functions.code_references(sha256) == 0 and self.code_references(sha256) == 0:
            self._code.delete(sha256)

    def _status(
        self, version: FunctionVersion, builds: dict[str, Build], update: FunctionUpdate | None
    ) -> VersionStatus:
        status = _build_status(builds.get(version.config.dependencies or ""), version)
        if update is None:
            return status
        if update.status is UpdateStatus.IN_PROGRESS and update.revision_id == version.revision_id:
            serving = status
            if update.previous is not None:
                keys = {update.previous.config.dependencies} - {None}
                previous_builds = self._builds.get_many(version.account_id, {k for k in keys if k})
                serving = _build_status(
                    previous_builds.get(update.previous.config.dependencies or ""), update.previous
                )
            return replace(
                serving,
                last_update=UpdateStatus.IN_PROGRESS,
                last_update_reason="The function is being updated.",
                last_update_reason_code=None,
            )
        if update.status is UpdateStatus.FAILED:
            return replace(
                status,
                last_update=UpdateStatus.FAILED,
                last_update_reason=update.reason,
                last_update_reason_code=update.reason_code,
            )
        return status

    def _heal(self, version: FunctionVersion) -> Build | None:
        """A version names a build with no row (the server stopped between writing the
        version and requesting the build, or the collector raced it): request it again
        from the version's own code."""
        try:
            data = self._code.read(version.code.sha256)
            request = requirements.from_package(data, check_zip(data, self._limits))
        except Exception:
            log.exception("cannot read the requirements of %s", version.function_name)
            return None
        if request is None or request.key != version.config.dependencies:
            return None
        return self._builds.request(version.account_id, request)


def _build_status(build: Build | None, version: FunctionVersion) -> VersionStatus:
    if not version.config.dependencies:
        return ACTIVE
    if build is None or build.status in (BuildStatus.PENDING, BuildStatus.BUILDING):
        return CREATING
    if build.status is BuildStatus.FAILED:
        reason = f"The function's dependencies could not be installed: {build.reason}"
        return VersionStatus(
            "Failed", reason, DEPENDENCY_ERROR, UpdateStatus.FAILED, reason, DEPENDENCY_ERROR
        )
    return ACTIVE
