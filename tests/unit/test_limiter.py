"""Leases: reserved concurrency is a function's own, the rest is shared by the account."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from lambdalite.errors import TooManyRequestsException
from lambdalite.invoke.limiter import ConcurrencyLimiter


def test_reserved_concurrency_caps_one_function() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    with ExitStack() as held:
        for _ in range(2):
            held.enter_context(limiter.lease("a", "f", reserved=2, reserved_total=2))
        with pytest.raises(TooManyRequestsException) as excinfo:
            held.enter_context(limiter.lease("a", "f", reserved=2, reserved_total=2))
        assert excinfo.value.status == 429
        assert excinfo.value.body()["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert excinfo.value.body()["message"] == "Rate Exceeded."
    # Released at the end of the block: the function may run again.
    with limiter.lease("a", "f", reserved=2, reserved_total=2):
        assert limiter.in_use("a") == 1


def test_reserved_zero_always_throttles() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    with (
        pytest.raises(TooManyRequestsException),
        limiter.lease("a", "f", reserved=0, reserved_total=0),
    ):
        pass


def test_unreserved_functions_share_what_reservations_leave() -> None:
    limiter = ConcurrencyLimiter(account_limit=3)
    with ExitStack() as held:
        held.enter_context(limiter.lease("a", "g", reserved=None, reserved_total=1))
        held.enter_context(limiter.lease("a", "h", reserved=None, reserved_total=1))
        with pytest.raises(TooManyRequestsException) as excinfo:
            held.enter_context(limiter.lease("a", "k", reserved=None, reserved_total=1))
        assert excinfo.value.body()["Reason"] == "ConcurrentInvocationLimitExceeded"
        # The reserved function still gets its own execution, and another account its pool.
        held.enter_context(limiter.lease("a", "f", reserved=1, reserved_total=1))
        held.enter_context(limiter.lease("b", "g", reserved=None, reserved_total=0))
        assert limiter.in_use() == 4


def test_a_failing_invocation_releases_its_lease() -> None:
    limiter = ConcurrencyLimiter(account_limit=1000)
    with pytest.raises(RuntimeError), limiter.lease("a", "f", reserved=1, reserved_total=1):
        raise RuntimeError("sandbox died")
    assert limiter.in_use() == 0
