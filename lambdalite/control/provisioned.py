"""ProvisionedConcurrencyService: how many sandboxes of a version or alias stay initialised.

Stored here; the Engine's reconcile loop keeps the pool at that size. AWS's rules: only
published versions and aliases (never $LATEST), and no more than the function's reserved
concurrency or the account's unreserved share.
"""

from __future__ import annotations

from lambdalite.control.concurrency import MIN_UNRESERVED
from lambdalite.control.functions import FunctionService, now_timestamp
from lambdalite.control.pagination import page
from lambdalite.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
)
from lambdalite.model import LATEST
from lambdalite.store.functions import FunctionStore
from lambdalite.store.provisioned import ProvisionedConfig, ProvisionedStore


class ProvisionedConcurrencyService:
    def __init__(
        self,
        store: ProvisionedStore,
        functions: FunctionService,
        function_store: FunctionStore,
        account_concurrency: int,
    ) -> None:
        self._store = store
        self._functions = functions
        self._function_store = function_store
        self._account_concurrency = account_concurrency

    def put(self, account_id: str, name: str, qualifier: str, count: int) -> ProvisionedConfig:
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        self._functions.version(account_id, name, qualifier)  # not found -> 404
        reserved = self._functions.function(account_id, name).reserved_concurrency
        if reserved is not None and count > reserved:
            raise InvalidParameterValueException(
                "Requested Provisioned Concurrency should not be greater than the "
                f"reservedConcurrentExecution for function ({reserved})."
            )
        unreserved = (
            self._account_concurrency
            - self._function_store.reserved_concurrency_total(account_id)
            - MIN_UNRESERVED
        )
        if reserved is None and count > unreserved:
            raise InvalidParameterValueException(
                f"Specified ConcurrentExecutions for function is greater than account's "
                f"unreserved concurrency [{unreserved}]."
            )
        config = ProvisionedConfig(account_id, name, qualifier, count, now_timestamp())
        self._store.put(config)
        return config

    def get(self, account_id: str, name: str, qualifier: str) -> ProvisionedConfig:
        self._functions.function(account_id, name)
        found = self._store.get(account_id, name, qualifier)
        if found is None:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function"
            )
        return found

    def configs(
        self, account_id: str, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[ProvisionedConfig], str | None]:
        self._functions.function(account_id, name)
        configs = self._store.of_function(account_id, name)
        return page(configs, lambda c: c.qualifier, marker, max_items)

    def delete(self, account_id: str, name: str, qualifier: str) -> None:
        self.get(account_id, name, qualifier)
        self._store.delete(account_id, name, qualifier)

    def all(self) -> list[ProvisionedConfig]:
        return self._store.all()
