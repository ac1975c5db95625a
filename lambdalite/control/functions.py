"""FunctionService: create, read, update, version and delete functions of an account.

Code is checked completely (`check_zip`) before anything is written; a blob written for a
request that then fails is removed again if nothing references it, so a rejected request
leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdalite.control.arns import function_arn, is_version_number
from lambdalite.control.code import CodeStore
from lambdalite.control.pagination import decode_marker, encode_marker, page
from lambdalite.control.validation import (
    check_dead_letter_target,
    check_environment,
    check_ranges,
    check_runtime,
)
from lambdalite.control.zipcheck import ZipManifest, check_zip
from lambdalite.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.model import LATEST, Code, Function, FunctionConfig, FunctionVersion, LayerRef
from lambdalite.settings import CodeLimits
from lambdalite.store.aliases import AliasStore
from lambdalite.store.functions import FunctionExists, FunctionStore

if TYPE_CHECKING:  # layers imports control; only the type is needed here
    from lambdalite.layers.requirements import BuildRequest
    from lambdalite.layers.versions import VersionLayers

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. Call the "
    "GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class FunctionService:
    def __init__(
        self,
        functions: FunctionStore,
        aliases: AliasStore,
        code: CodeStore,
        limits: CodeLimits,
        region: str,
        dead_letter_check: Callable[[str, str], None] = lambda _account, _arn: None,
        layers: VersionLayers | None = None,
    ) -> None:
        self._functions = functions
        # Layers, dependency builds and the states they give versions (0701); None: none.
        self._layers = layers
        self._aliases = aliases
        self._code = code
        self._limits = limits
        self.region = region
        # (account, TargetArn) -> raises unless the dead-letter queue can be written to.
        self._dead_letter_check = dead_letter_check

    # -- reading --------------------------------------------------------------------
    def function(self, account_id: str, name: str) -> Function:
        found = self._functions.get(account_id, name)
        if found is None:
            raise self.not_found(account_id, name)
        return found

    def version(self, account_id: str, name: str, qualifier: str | None) -> FunctionVersion:
        """The version a qualifier names: $LATEST (default), a number, or an alias."""
        wanted = qualifier or LATEST
        if wanted != LATEST and not is_version_number(wanted):
            alias = self._aliases.get(account_id, name, wanted)
            if alias is None:
                raise self.not_found(account_id, name, wanted)
            wanted = alias.function_version
        found = self._functions.version(account_id, name, wanted)
        if found is None:
            raise self.not_found(account_id, name, qualifier)
        return self._with_status([found])[0]

    def runnable(self, account_id: str, name: str, qualifier: str | None) -> FunctionVersion:
        """The version serving a qualifier's invocations now: $LATEST's previous code while
        an update builds; ResourceConflictException while nothing can (Pending, Failed)."""
        version = self.version(account_id, name, qualifier)
        return self._layers.runnable(version) if self._layers else version

    def opt_dir(self, version: FunctionVersion) -> Path | None:
        """What the version's sandboxes see at /opt (its layers and dependencies)."""
        return self._layers.opt_dir(version) if self._layers else None

    def preimport(self, version: FunctionVersion, tags: dict[str, str]) -> tuple[str, ...]:
        """Modules the version's spare sandboxes import ahead of demand (0701)."""
        return self._layers.preimport(version, tags) if self._layers else ()

    def layer_refs(self, account_id: str, arns: list[str]) -> tuple[LayerRef, ...]:
        if self._layers is None:
            raise InvalidParameterValueException("lambdalite does not support Layers here.")
        return self._layers.resolve_layers(account_id, arns)

    def _with_status(self, versions: list[FunctionVersion]) -> list[FunctionVersion]:
        return self._layers.with_status(versions) if self._layers else versions

    def list_latest(
        self, account_id: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        limit = max_items or 50
        after = decode_marker(marker)
        rows = self._functions.latest_versions(account_id, after, limit + 1)
        more = len(rows) > limit
        rows = self._with_status(rows[:limit])
        return rows, encode_marker(rows[-1].function_name) if more and rows else None

    def list_all(
        self, account_id: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        every = self._functions.all_versions(account_id)
        found, marker = page(every, _version_key, marker, max_items)
        return self._with_status(found), marker

    def list_versions(
        self, account_id: str, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        self.function(account_id, name)
        versions = self._functions.versions(account_id, name)
        found, marker = page(versions, _version_key, marker, max_items)
        return self._with_status(found), marker

    def code_bytes(self, sha256: str) -> bytes:
        return self._code.read(sha256)

    # -- writing --------------------------------------------------------------------
    def create(
        self,
        account_id: str,
        name: str,
        config: FunctionConfig,
        zip_file: bytes,
        tags: dict[str, str],
        publish: bool,
    ) -> FunctionVersion:
        check_runtime(config.runtime)
        check_environment(config.environment)
        check_ranges(vars(config))
        self._check_dead_letter(account_id, config.dead_letter_target_arn)
        if self._functions.get(account_id, name) is not None:
            raise self._exists(name)
        code, request = self._store_code(zip_file, config.layers)
        config = config.updated(dependencies=request.key if request else None)
        latest = FunctionVersion(
            account_id, name, LATEST, config, code, _revision(), now_timestamp()
        )
        try:
            self._functions.create(latest, tags)
        except FunctionExists:
            self._forget_code([code.sha256])
            raise self._exists(name) from None
        if request is not None and self._layers is not None:
            self._layers.request_build(account_id, request)
        if publish:
            return self.publish(account_id, name, check_state=False)
        return self._with_status([latest])[0]

    def update_code(
        self,
        account_id: str,
        name: str,
        zip_file: bytes,
        *,
        publish: bool = False,
        revision_id: str | None = None,
        dry_run: bool = False,
        architectures: tuple[str, ...] | None = None,
    ) -> FunctionVersion:
        current = self.version(account_id, name, None)
        _check_revision(current.revision_id, revision_id)
        if self._layers is not None:
            self._layers.guard_update(current, self.arn(account_id, name))
        if dry_run:
            manifest = check_zip(zip_file, self._limits)
            self._check_package(zip_file, manifest, current.config.layers)
            code = Code(manifest.sha256, manifest.size)
            return FunctionVersion(
                account_id, name, LATEST, current.config, code, current.revision_id, now_timestamp()
            )
        code, request = self._store_code(zip_file, current.config.layers)
        config = current.config.updated(dependencies=request.key if request else None)
        if architectures:
            config = config.updated(architectures=architectures)
        updated = FunctionVersion(
            account_id, name, LATEST, config, code, _revision(), now_timestamp()
        )
        # A build to wait for: the current $LATEST serves until it is done (0701).
        layers = self._layers
        waiting = bool(request and layers and not layers.build_ready(account_id, request.key))
        if layers is not None and request is not None and waiting:
            layers.begin_update(current, updated.revision_id, request.key)
        if not self._functions.update_latest(updated, current.revision_id):
            if layers is not None and waiting:
                layers.end_update(account_id, name, updated.revision_id)
            self._forget_code([code.sha256])
            raise PreconditionFailedException(REVISION_MISMATCH)
        if layers is not None:
            if not waiting:
                layers.end_update(account_id, name)  # a failed update's note goes
            if request is not None:
                layers.request_build(account_id, request)
        self._forget_code([current.code.sha256])
        if publish:
            return self.publish(account_id, name, check_state=False)
        return self._with_status([updated])[0]

    def update_config(
        self, account_id: str, name: str, changes: dict[str, Any], revision_id: str | None
    ) -> FunctionVersion:
        """Apply `changes` (FunctionConfig field names) to $LATEST."""
        current = self.version(account_id, name, None)
        _check_revision(current.revision_id, revision_id)
        if self._layers is not None:
            self._layers.guard_update(current, self.arn(account_id, name))
            if "layers" in changes:
                self._layers.check_size(None, current.code.sha256, changes["layers"])
        if "runtime" in changes:
            check_runtime(changes["runtime"])
        if "environment" in changes:
            check_environment(changes["environment"])
        check_ranges(changes)
        self._check_dead_letter(account_id, changes.get("dead_letter_target_arn"))
        config = current.config.updated(**changes)
        updated = FunctionVersion(
            account_id, name, LATEST, config, current.code, _revision(), now_timestamp()
        )
        if not self._functions.update_latest(updated, current.revision_id):
            raise PreconditionFailedException(REVISION_MISMATCH)
        if self._layers is not None:
            self._layers.end_update(account_id, name)  # a failed update's note goes
        return self._with_status([updated])[0]

    def publish(
        self,
        account_id: str,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
        *,
        check_state: bool = True,
    ) -> FunctionVersion:
        """`check_state`: refuse while an update of $LATEST builds, as AWS does (False for
        the Publish flag of Create/UpdateFunctionCode, which publishes what it wrote)."""
        latest = self.version(account_id, name, None)
        _check_revision(latest.revision_id, revision_id)
        if check_state and self._layers is not None:
            self._layers.guard_publish(latest, self.arn(account_id, name))
        if code_sha256 and code_sha256 != latest.code.sha256_base64:
            raise PreconditionFailedException(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({latest.code.sha256_base64}). Please try again with the CodeSHA256 in $LATEST."
            )
        config = latest.config
        if description is not None:
            config = config.updated(description=description)

        def make(number: int) -> FunctionVersion:
            return FunctionVersion(
                account_id, name, str(number), config, latest.code, _revision(), now_timestamp()
            )

        # A version equal to the newest one is returned as is (AWS's PublishVersion rule);
        # only the code and configuration count, the description given here does not.
        published, _created = self._functions.publish(latest, make)
        return self._with_status([published])[0]

    def delete(self, account_id: str, name: str, qualifier: str | None) -> None:
        self.function(account_id, name)
        if qualifier is None:
            previous = self._layers.previous_code(account_id, name) if self._layers else None
            shas = self._functions.delete(account_id, name)
            self._forget_code([*shas, *([previous] if previous else [])])
            return
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if not is_version_number(qualifier):
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported through DeleteFunction. Use DeleteAlias."
            )
        version = self._functions.version(account_id, name, qualifier)
        if version is None:
            return  # deleting an absent version succeeds, as on AWS
        blocking = self._functions.delete_version(account_id, name, qualifier)
        if blocking:
            raise ResourceConflictException(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(blocking)}]"
            )
        self._forget_code([version.code.sha256])

    # -- helpers --------------------------------------------------------------------
    def arn(self, account_id: str, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, account_id, name, qualifier)

    def not_found(
        self, account_id: str, name: str, qualifier: str | None = None
    ) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"Function not found: {self.arn(account_id, name, qualifier)}"
        )

    def _check_dead_letter(self, account_id: str, arn: str | None) -> None:
        if arn:
            check_dead_letter_target(arn)
            self._dead_letter_check(account_id, arn)

    def _exists(self, name: str) -> ResourceConflictException:
        return ResourceConflictException(f"Function already exist: {name}")

    def _store_code(
        self, zip_file: bytes, layers: tuple[LayerRef, ...]
    ) -> tuple[Code, BuildRequest | None]:
        """Check and store a package; with the build its requirements.txt asks for."""
        manifest = check_zip(zip_file, self._limits)
        request = self._check_package(zip_file, manifest, layers)
        self._code.put(zip_file, manifest)
        return Code(sha256=manifest.sha256, size=manifest.size), request

    def _check_package(
        self, zip_file: bytes, manifest: ZipManifest, layers: tuple[LayerRef, ...]
    ) -> BuildRequest | None:
        if self._layers is None:
            return None
        self._layers.check_size(manifest.unzipped_size, manifest.sha256, layers)
        return self._layers.dependency_request(zip_file, manifest)

    def _forget_code(self, shas: list[str]) -> None:
        """Remove blobs no version references any more (content-addressed, shared); an
        update's previous version, which serves while it builds, counts too."""
        for sha in set(shas):
            if self._functions.code_references(sha) == 0 and (
                self._layers is None or self._layers.code_references(sha) == 0
            ):
                self._code.delete(sha)


def _check_revision(current: str, expected: str | None) -> None:
    if expected is not None and expected != current:
        raise PreconditionFailedException(REVISION_MISMATCH)


def _version_key(version: FunctionVersion) -> str:
    return f"{version.function_name}:{version.version}"


def _revision() -> str:
    return str(uuid.uuid4())


def now_timestamp() -> str:
    """LastModified in AWS's format: 2026-11-26T16:30:00.123+0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
