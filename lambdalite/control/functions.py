"""FunctionService: create, read, update, version and delete functions of an account.

Code is checked completely (`check_zip`) before anything is written; a blob written for a
request that then fails is removed again if nothing references it, so a rejected request
leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lambdalite.control.arns import function_arn, is_version_number
from lambdalite.control.code import CodeStore
from lambdalite.control.pagination import decode_marker, encode_marker, page
from lambdalite.control.validation import (
    check_dead_letter_target,
    check_environment,
    check_ranges,
    check_runtime,
)
from lambdalite.control.zipcheck import check_zip
from lambdalite.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.model import LATEST, Code, Function, FunctionConfig, FunctionVersion
from lambdalite.settings import CodeLimits
from lambdalite.store.aliases import AliasStore
from lambdalite.store.functions import FunctionExists, FunctionStore

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
    ) -> None:
        self._functions = functions
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
        return found

    def list_latest(
        self, account_id: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        limit = max_items or 50
        after = decode_marker(marker)
        rows = self._functions.latest_versions(account_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_marker(rows[-1].function_name) if more and rows else None

    def list_all(
        self, account_id: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        return page(self._functions.all_versions(account_id), _version_key, marker, max_items)

    def list_versions(
        self, account_id: str, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionVersion], str | None]:
        self.function(account_id, name)
        return page(self._functions.versions(account_id, name), _version_key, marker, max_items)

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
        code = self._store_code(zip_file)
        latest = FunctionVersion(
            account_id, name, LATEST, config, code, _revision(), now_timestamp()
        )
        try:
            self._functions.create(latest, tags)
        except FunctionExists:
            self._forget_code([code.sha256])
            raise self._exists(name) from None
        return self.publish(account_id, name) if publish else latest

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
        if dry_run:
            manifest = check_zip(zip_file, self._limits)
            code = Code(manifest.sha256, manifest.size)
            return FunctionVersion(
                account_id, name, LATEST, current.config, code, current.revision_id, now_timestamp()
            )
        code = self._store_code(zip_file)
        config = current.config
        if architectures:
            config = config.updated(architectures=architectures)
        updated = FunctionVersion(
            account_id, name, LATEST, config, code, _revision(), now_timestamp()
        )
        if not self._functions.update_latest(updated, current.revision_id):
            self._forget_code([code.sha256])
            raise PreconditionFailedException(REVISION_MISMATCH)
        self._forget_code([current.code.sha256])
        return self.publish(account_id, name) if publish else updated

    def update_config(
        self, account_id: str, name: str, changes: dict[str, Any], revision_id: str | None
    ) -> FunctionVersion:
        """Apply `changes` (FunctionConfig field names) to $LATEST."""
        current = self.version(account_id, name, None)
        _check_revision(current.revision_id, revision_id)
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
        return updated

    def publish(
        self,
        account_id: str,
        name: str,
        description: str | None = None,
        code_sha256: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionVersion:
        latest = self.version(account_id, name, None)
        _check_revision(latest.revision_id, revision_id)
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
        return published

    def delete(self, account_id: str, name: str, qualifier: str | None) -> None:
        self.function(account_id, name)
        if qualifier is None:
            self._forget_code(self._functions.delete(account_id, name))
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

    def _store_code(self, zip_file: bytes) -> Code:
        manifest = check_zip(zip_file, self._limits)
        self._code.put(zip_file, manifest)
        return Code(sha256=manifest.sha256, size=manifest.size)

    def _forget_code(self, shas: list[str]) -> None:
        """Remove blobs no version references any more (content-addressed, shared)."""
        for sha in set(shas):
            if self._functions.code_references(sha) == 0:
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
