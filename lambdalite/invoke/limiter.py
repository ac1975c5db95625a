"""ConcurrencyLimiter: Leases for concurrent executions, as AWS counts them.

A function with reserved concurrency R runs at most R invocations at once, and those R
are its own; every other function of the account shares what is left of the account's
limit ("unreserved"). Past either, the invocation is throttled: 429 TooManyRequests with
AWS's `Reason`. Counts live in this process (one server per sandbox pool).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lambdalite.errors import TooManyRequestsException


@dataclass(frozen=True, slots=True)
class Lease:
    account_id: str
    function_name: str
    reserved: bool


class ConcurrencyLimiter:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._per_function: dict[tuple[str, str], int] = defaultdict(int)
        self._unreserved_in_use: dict[str, int] = defaultdict(int)

    @contextmanager
    def lease(
        self, account_id: str, function_name: str, reserved: int | None, reserved_total: int
    ) -> Iterator[Lease]:
        """Hold one concurrent execution of a function for the `with` block.

        `reserved` is the function's reserved concurrency (None: none), `reserved_total`
        the sum reserved by all functions of the account.
        """
        lease = self.take(account_id, function_name, reserved, reserved_total)
        try:
            yield lease
        finally:
            self.give_back(lease)

    def take(
        self, account_id: str, function_name: str, reserved: int | None, reserved_total: int
    ) -> Lease:
        """`lease` without the context manager (the invoke hot path); pair with
        `give_back` in a `finally`."""
        key = (account_id, function_name)
        if reserved is not None:
            if self._per_function[key] >= reserved:
                raise _throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved_in_use[account_id] >= self.account_limit - reserved_total:
            raise _throttled("ConcurrentInvocationLimitExceeded")
        self._per_function[key] += 1
        if reserved is None:
            self._unreserved_in_use[account_id] += 1
        return Lease(account_id, function_name, reserved is not None)

    def give_back(self, lease: Lease) -> None:
        self._per_function[(lease.account_id, lease.function_name)] -= 1
        if not lease.reserved:
            self._unreserved_in_use[lease.account_id] -= 1

    def in_use(self, account_id: str | None = None) -> int:
        """Concurrent executions now, of one account or all."""
        return sum(
            count
            for (account, _), count in self._per_function.items()
            if account_id is None or account == account_id
        )


def _throttled(reason: str) -> TooManyRequestsException:
    return TooManyRequestsException("Rate Exceeded.", Reason=reason)
