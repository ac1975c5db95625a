"""The Invoker: one synchronous invocation from qualifier to result.

    resolve the qualifier (weighted aliases) -> a SandboxSpec
    take a Lease (reserved / account concurrency)      -> or 429
    acquire a Sandbox from the pool (warm or cold)      -> run the invocation
    write START / END / REPORT around the function's own log lines
    meter it: a usage record (a throttle too), stored with the log lines

Blocking work (the store, extracting code) runs on the thread pool in one hop; the event
loop only waits on sandboxes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from lambdalite.control.arns import function_arn, is_version_number
from lambdalite.control.code import CodeStore
from lambdalite.control.functions import FunctionService
from lambdalite.errors import ServiceException, TooManyRequestsException
from lambdalite.invoke.limiter import ConcurrencyLimiter
from lambdalite.invoke.request_ids import RequestIds
from lambdalite.invoke.targets import TargetCache
from lambdalite.logs.lines import end_line, report_line, start_line
from lambdalite.logs.writer import LogWriter
from lambdalite.model import LATEST, Function, FunctionVersion
from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.spec import InvocationOutcome, InvocationRequest, SandboxSpec
from lambdalite.store.aliases import AliasStore
from lambdalite.store.functions import FunctionStore

# A function tagged lambdalite:network=none runs with only loopback (no network at all).
NETWORK_TAG = "lambdalite:network"


@dataclass(slots=True)
class InvocationResult:
    """Treat as immutable; not `frozen` for the same reason as InvocationOutcome (one per
    invocation, and frozen dataclasses pay for every field)."""

    request_id: str
    payload: bytes
    function_error: str | None
    executed_version: str
    log: bytes  # START, the function's lines, END, REPORT
    outcome: InvocationOutcome
    queued_ms: float = 0.0  # from the Invoker's start to holding the lease


class Runner(Protocol):
    """What callers that only run invocations need of the Invoker (async delivery,
    function URLs), so their tests can pass a fake."""

    async def invoke(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        trigger: str = "api",
    ) -> InvocationResult: ...


@dataclass(frozen=True)
class _Target:
    version: FunctionVersion
    spec: SandboxSpec
    reserved: int | None
    reserved_total: int


class Invoker:
    def __init__(
        self,
        functions: FunctionService,
        function_store: FunctionStore,
        aliases: AliasStore,
        code: CodeStore,
        pool: SandboxPool,
        limiter: ConcurrencyLimiter,
        logs: LogWriter,
        region: str,
        choose: Callable[[], float] = random.random,
    ) -> None:
        self._functions = functions
        self._function_store = function_store
        self._aliases = aliases
        self._code = code
        self._pool = pool
        self._limiter = limiter
        self._logs = logs
        self._region = region
        self._choose = choose
        self._targets: TargetCache[_Target] = TargetCache()
        self._routes: TargetCache[_Weights] = TargetCache()
        self._resolving: dict[tuple[str, str, str | None], asyncio.Future[_Target]] = {}
        self._request_ids = RequestIds()

    async def check(self, account_id: str, name: str, qualifier: str | None) -> str:
        """DryRun: the function and qualifier exist; returns the version that would run."""
        target = await run_in_threadpool(self._target, account_id, name, qualifier)
        return target.version.version

    def forget(self, account_id: str) -> None:
        """Something of the account changed: resolve its targets afresh (any thread)."""
        self._targets.forget(account_id)
        self._routes.forget(account_id)

    async def invoke(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str | None = None,
        request_id: str | None = None,
        trigger: str = "api",
    ) -> InvocationResult:
        """Run one invocation; `request_id` is kept when given (an async event's retries
        keep theirs), else a new one is made. `trigger` (metering.record.Trigger) says
        what started it, for its usage record."""
        began, started = time.perf_counter(), time.time()
        target = self._cached_target(account_id, name, qualifier) or await self._resolve(
            account_id, name, qualifier
        )
        spec = target.spec
        request = InvocationRequest(
            request_id=request_id or self._request_ids.new(),
            payload=payload,
            invoked_function_arn=function_arn(self._region, account_id, name, qualifier),
            client_context=client_context,
        )
        # The lease and the sandbox are taken and given back by hand, not with `with`:
        # this is the hot path, and context managers cost microseconds each.
        limiter, pool, usage = self._limiter, self._pool, self._logs.usage
        try:
            lease = limiter.take(account_id, name, target.reserved, target.reserved_total)
        except TooManyRequestsException:
            # A throttle never reaches a sandbox, but it is metered (AWS's Throttles).
            usage.add((trigger, started, target.version, request.request_id, None, 0.0))
            raise
        queued_ms = (time.perf_counter() - began) * 1000
        try:
            sandbox = await pool.take(spec)
            try:
                outcome = await sandbox.invoke(request)
            except BaseException:
                await pool.discard(sandbox)
                raise
            await pool.give_back(sandbox)
        except BackendError as exc:
            raise ServiceException(f"The Lambda service could not start a sandbox: {exc}") from exc
        finally:
            limiter.give_back(lease)
        log = _log(target.spec, target.version.version, outcome)
        config = target.version.config
        log_group = config.log_group or target.spec.log_group
        self._logs.submit(account_id, log_group, outcome.log_stream, log)
        # The usage record is a tuple here; the log writer's thread prices and stores it.
        usage.add((trigger, started, target.version, request.request_id, outcome, queued_ms))
        return InvocationResult(
            request_id=request.request_id,
            payload=outcome.payload,
            function_error=outcome.function_error,
            executed_version=target.version.version,
            log=log,
            outcome=outcome,
            queued_ms=queued_ms,
        )

    async def _resolve(self, account_id: str, name: str, qualifier: str | None) -> _Target:
        """Resolve a target on the thread pool, once for all the invocations that missed
        the cache together: when an entry expires under load, every concurrent invocation
        of the function misses at the same moment, and resolving each (four store reads)
        held the event loop's GIL long enough to cost hundreds of milliseconds at p99."""
        key = (account_id, name, qualifier)
        pending = self._resolving.get(key)
        if pending is None:
            pending = asyncio.ensure_future(
                run_in_threadpool(self._target, account_id, name, qualifier)
            )
            self._resolving[key] = pending
            pending.add_done_callback(lambda _: self._resolving.pop(key, None))
            return await asyncio.shield(pending)
        await asyncio.shield(pending)
        # Resolved by another invocation; draw this invocation's route (weighted aliases)
        # from the cache, or resolve it alone if its route was not the one resolved.
        target = self._cached_target(account_id, name, qualifier)
        if target is None:
            target = await run_in_threadpool(self._target, account_id, name, qualifier)
        return target

    def spec_for(self, account_id: str, name: str, qualifier: str | None) -> SandboxSpec:
        """The spec a qualifier runs (an alias's primary version; no weighted routing)."""
        version = self._functions.runnable(account_id, name, qualifier)
        return self._spec(version, self._functions.function(account_id, name))

    def _cached_target(self, account_id: str, name: str, qualifier: str | None) -> _Target | None:
        """The target from the cache alone (no store access: fine on the event loop)."""
        weights = self._routes.get(account_id, (name, qualifier))
        if weights is None:
            return None
        return self._targets.get(account_id, (name, _route(qualifier, weights, self._choose)))

    def _target(self, account_id: str, name: str, qualifier: str | None) -> _Target:
        routed = self._routed(account_id, name, qualifier)
        # Not necessarily the version asked for: $LATEST's previous one while an update of
        # it builds its dependencies (docs/decisions/0701).
        version = self._functions.runnable(account_id, name, routed)
        function = self._functions.function(account_id, name)
        reserved_total = self._function_store.reserved_concurrency_total(account_id)
        target = _Target(
            version, self._spec(version, function), function.reserved_concurrency, reserved_total
        )
        return self._targets.put(account_id, (name, routed), target)

    def _spec(self, version: FunctionVersion, function: Function) -> SandboxSpec:
        config = version.config
        return SandboxSpec(
            account_id=version.account_id,
            function_name=version.function_name,
            version=version.version,
            function_arn=function_arn(self._region, version.account_id, version.function_name),
            code_dir=self._code.extract(version.code.sha256),
            opt_dir=self._functions.opt_dir(version),
            preimport=self._functions.preimport(version, function.tags),
            handler=config.handler,
            runtime=config.runtime,
            memory_mb=config.memory_size,
            timeout_s=float(config.timeout),
            ephemeral_storage_mb=config.ephemeral_storage,
            environment=config.environment,
            region=self._region,
            revision=f"{version.revision_id}:{version.code.sha256}",
            # AWS has no "no network" setting for a function; lambdalite reads a tag.
            network="none" if function.tags.get(NETWORK_TAG) == "none" else "default",
        )

    def _routed(self, account_id: str, name: str, qualifier: str | None) -> str | None:
        """An alias with weights sends each invocation to one of its two versions."""
        weights: _Weights = ()
        if qualifier and qualifier != LATEST and not is_version_number(qualifier):
            alias = self._aliases.get(account_id, name, qualifier)
            if alias is not None and alias.routing_weights:
                ((extra, weight),) = alias.routing_weights.items()
                weights = (alias.function_version, extra, weight)
        self._routes.put(account_id, (name, qualifier), weights)
        return _route(qualifier, weights, self._choose)


# An alias's weighted routing: (primary version, additional version, its weight), or ().
_Weights = tuple[()] | tuple[str, str, float]


def _route(qualifier: str | None, weights: _Weights, choose: Callable[[], float]) -> str | None:
    if not weights:
        return qualifier
    primary, extra, weight = weights
    return extra if choose() < weight else primary


def _log(spec: SandboxSpec, version: str, outcome: InvocationOutcome) -> bytes:
    status = None
    if outcome.error_type == "Sandbox.Timedout":
        status = "timeout"
    elif outcome.error_type in ("Runtime.ExitError", "Runtime.OutOfMemory"):
        status = "error"
    report = report_line(
        outcome.request_id,
        outcome.duration_ms,
        spec.memory_mb,
        outcome.max_memory_used_mb,
        outcome.init_duration_ms if outcome.cold else None,
        status,
        outcome.error_type if status else None,
    )
    return b"".join(
        [
            _ended(outcome.init_log),
            start_line(outcome.request_id, version).encode(),
            _ended(outcome.log),
            end_line(outcome.request_id).encode(),
            report.encode(),
        ]
    )


def _ended(output: bytes) -> bytes:
    """The function's output as whole lines: `print(..., end="")` must not glue its
    text onto the END line (AWS stores such output as an event of its own)."""
    return output + b"\n" if output and not output.endswith(b"\n") else output
