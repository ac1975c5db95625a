"""AliasService: named pointers to versions, with weighted routing across two versions."""

from __future__ import annotations

import uuid

from lambdalite.control.arns import function_arn, is_version_number
from lambdalite.control.functions import REVISION_MISMATCH, FunctionService
from lambdalite.control.pagination import page
from lambdalite.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.model import LATEST, Alias
from lambdalite.store.aliases import AliasExists, AliasStore


class AliasService:
    def __init__(self, aliases: AliasStore, functions: FunctionService) -> None:
        self._aliases = aliases
        self._functions = functions

    def arn(self, account_id: str, function_name: str, name: str) -> str:
        return function_arn(self._functions.region, account_id, function_name, name)

    def get(self, account_id: str, function_name: str, name: str) -> Alias:
        self._functions.function(account_id, function_name)
        alias = self._aliases.get(account_id, function_name, name)
        if alias is None:
            raise ResourceNotFoundException(
                f"Cannot find alias arn: {self.arn(account_id, function_name, name)}"
            )
        return alias

    def list(
        self,
        account_id: str,
        function_name: str,
        function_version: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[Alias], str | None]:
        self._functions.function(account_id, function_name)
        found = self._aliases.list(account_id, function_name)
        if function_version:
            found = [a for a in found if a.function_version == function_version]
        return page(found, lambda a: a.name, marker, max_items)

    def create(
        self,
        account_id: str,
        function_name: str,
        name: str,
        function_version: str,
        description: str,
        weights: dict[str, float],
    ) -> Alias:
        self._functions.function(account_id, function_name)
        self._check_target(account_id, function_name, function_version, weights)
        alias = Alias(
            account_id, function_name, name, function_version, description, weights, _revision()
        )
        try:
            self._aliases.create(alias)
        except AliasExists:
            raise ResourceConflictException(
                f"Alias already exists: {self.arn(account_id, function_name, name)}"
            ) from None
        return alias

    def update(
        self,
        account_id: str,
        function_name: str,
        name: str,
        *,
        function_version: str | None,
        description: str | None,
        weights: dict[str, float] | None,
        revision_id: str | None,
    ) -> Alias:
        current = self.get(account_id, function_name, name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailedException(REVISION_MISMATCH)
        target = function_version or current.function_version
        new_weights = current.routing_weights if weights is None else weights
        self._check_target(account_id, function_name, target, new_weights)
        updated = Alias(
            account_id,
            function_name,
            name,
            target,
            current.description if description is None else description,
            new_weights,
            _revision(),
        )
        if not self._aliases.replace(updated, current.revision_id):
            raise PreconditionFailedException(REVISION_MISMATCH)
        return updated

    def delete(self, account_id: str, function_name: str, name: str) -> None:
        self._functions.function(account_id, function_name)
        self._aliases.delete(account_id, function_name, name)

    def _check_target(
        self, account_id: str, function_name: str, version: str, weights: dict[str, float]
    ) -> None:
        if version != LATEST and not is_version_number(version):
            raise InvalidParameterValueException(
                f"Alias can only point to a version or $LATEST, not {version}."
            )
        self._functions.version(account_id, function_name, version)
        if not weights:
            return
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        ((extra, weight),) = weights.items()
        if LATEST in (version, extra):
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        if extra == version:
            raise InvalidParameterValueException(
                f"Invalid function version {extra}. Function version {extra} is already "
                "included in routing configuration."
            )
        if not 0.0 <= weight <= 1.0:
            raise InvalidParameterValueException(
                "Weights of AdditionalVersionWeights must be between 0.0 and 1.0"
            )
        self._functions.version(account_id, function_name, extra)


def _revision() -> str:
    return str(uuid.uuid4())
