"""Reserved concurrency per function and the account's settings.

Stored here; enforced by the Invoker's ConcurrencyLimiter. AWS keeps at least 100 of the
account's concurrency unreserved, so reservations that would eat into it are refused.
"""

from __future__ import annotations

from typing import Any

from lambdalite.control.functions import FunctionService
from lambdalite.errors import InvalidParameterValueException
from lambdalite.settings import CodeLimits
from lambdalite.store.functions import FunctionStore

MIN_UNRESERVED = 100
# AWS's default per-Region code storage (GetAccountSettings' AccountLimit.TotalCodeSize).
TOTAL_CODE_SIZE = 80_530_636_800


class ConcurrencyService:
    def __init__(
        self,
        store: FunctionStore,
        functions: FunctionService,
        account_concurrency: int,
        limits: CodeLimits,
    ) -> None:
        self._store = store
        self._functions = functions
        self._account_concurrency = account_concurrency
        self._limits = limits

    def reserved(self, account_id: str, name: str) -> int | None:
        return self._functions.function(account_id, name).reserved_concurrency

    def reserve(self, account_id: str, name: str, value: int) -> None:
        self._functions.function(account_id, name)
        others = self._store.reserved_concurrency_total(account_id, excluding=name)
        if self._account_concurrency - others - value < MIN_UNRESERVED:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
            )
        self._store.set_reserved_concurrency(account_id, name, value)

    def release(self, account_id: str, name: str) -> None:
        self._functions.function(account_id, name)
        self._store.set_reserved_concurrency(account_id, name, None)

    def account_settings(self, account_id: str) -> dict[str, Any]:
        count, code_size = self._store.usage(account_id)
        reserved = self._store.reserved_concurrency_total(account_id)
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE,
                "CodeSizeUnzipped": self._limits.max_unzipped_bytes,
                "CodeSizeZipped": self._limits.max_zipped_bytes,
                "ConcurrentExecutions": self._account_concurrency,
                "UnreservedConcurrentExecutions": self._account_concurrency - reserved,
            },
            "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": count},
        }
