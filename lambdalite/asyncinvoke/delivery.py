"""DeliveryLoop: runs accepted events through the Invoker until each one is over and its
invocation record is written.

One pass (`run_once`) claims what is due, up to the loop's free slots, and runs those
events concurrently. For each event:

    too old (MaximumEventAgeInSeconds)         -> over: EventAgeExceeded
    invoke, keeping the event's request id
      throttled / platform failure             -> again after 1 s, 2 s, ... 5 min
      function error, retries left, time left  -> again after 1 min, then 2 min
      function error, none left                -> over: RetriesExhausted (or EventAgeExceeded)
      success                                  -> over: Success
    over -> the record to OnSuccess / OnFailure (else the DLQ on failure), then removed;
            a record that cannot be written stays with the event and is tried again.

Tests call `run_once(now=...)`, which waits for the pass's invocations; the server's
BackgroundLoop calls it with `wait=False`, so a slow function never holds up the next
pass, and each pass renews the leases of what is still running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from lambdalite.asyncinvoke.commits import GroupCommit
from lambdalite.asyncinvoke.configs import EventInvokeConfigService
from lambdalite.asyncinvoke.destinations import DeliveryError, Destinations
from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.model import (
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    AsyncEvent,
    Condition,
    Delivery,
    EventInvokeConfig,
    Response,
)
from lambdalite.asyncinvoke.record import dead_letter_message, invocation_record
from lambdalite.asyncinvoke.retry import RetryPolicy
from lambdalite.control.arns import function_arn
from lambdalite.control.functions import FunctionService
from lambdalite.errors import ApiError, ResourceNotFoundException
from lambdalite.invoke.invoker import Runner

log = logging.getLogger(__name__)


class DeliveryLoop:
    def __init__(
        self,
        events: EventStore,
        commits: GroupCommit,
        configs: EventInvokeConfigService,
        invoker: Runner,
        functions: FunctionService,
        destinations: Destinations,
        policy: RetryPolicy,
        *,
        lease_s: float,
        max_in_flight: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._events = events
        self._commits = commits
        self._configs = configs
        self._invoker = invoker
        self._functions = functions
        self._destinations = destinations
        self._policy = policy
        self._lease_s = lease_s
        self._max_in_flight = max_in_flight
        self._clock = clock
        # Names this loop's claims in the store: unique per process and start.
        self.owner = uuid.uuid4().hex
        # Request id -> (its task, when its lease ends).
        self._running: dict[str, tuple[asyncio.Task[None], float]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run_once(self, now: float | None = None, *, wait: bool = True) -> int:
        """One pass: renew leases, claim due events, run them. Returns how many started.
        `now` replaces the clock for the whole pass (tests move time with it)."""
        moment = self._clock() if now is None else now
        await self._renew(moment)
        room = self._max_in_flight - len(self._running)
        if room <= 0 or not await run_in_threadpool(self._events.has_due, moment):
            return 0
        claimed = await run_in_threadpool(
            self._events.claim, self.owner, moment, room, self._lease_s
        )
        # An event still running here whose lease ran out (a stalled loop) and that this
        # very claim renewed: its task goes on; a second one would run it twice.
        claimed = [event for event in claimed if event.request_id not in self._running]
        configs = await run_in_threadpool(self._configs_of, claimed)
        tasks = [self._start(event, configs[_target(event)], now, moment) for event in claimed]
        if wait and tasks:
            await asyncio.gather(*tasks)
        return len(tasks)

    async def stop(self) -> None:
        """Cancel what is running and hand its events back (due at once) for a restart
        or another server; an interrupted run may repeat, as at-least-once allows."""
        tasks = [task for task, _ in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await run_in_threadpool(self._events.release, self.owner, self._clock())

    # -- one event ----------------------------------------------------------------------
    def _start(
        self, event: AsyncEvent, config: EventInvokeConfig, now: float | None, moment: float
    ) -> asyncio.Task[None]:
        task = asyncio.create_task(
            self._deliver(event, config, now), name=f"async {event.request_id}"
        )
        self._running[event.request_id] = (task, moment + self._lease_s)
        task.add_done_callback(lambda _: self._running.pop(event.request_id, None))
        return task

    async def _deliver(
        self, event: AsyncEvent, config: EventInvokeConfig, now: float | None
    ) -> None:
        try:
            await self._attempt(event, config, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store or a bug: the event must still not be lost
            log.exception("async event %s: delivery failed", event.request_id)
            reason = f"lambdalite failed: {exc!r}"
            try:
                await self._retry_later(event, DEFAULT_MAXIMUM_EVENT_AGE_SECONDS, now, reason)
            except Exception:  # its lease runs out and a later pass takes it again
                log.exception("async event %s: could not reschedule", event.request_id)

    async def _attempt(
        self, event: AsyncEvent, config: EventInvokeConfig, now: float | None
    ) -> None:
        if event.condition is not None and event.delivery is not None:
            # The invocation is over; only its record is left to write.
            await self._write(event, event.condition, event.delivery, now)
            return
        if self._now(now) - event.enqueued_at >= config.maximum_event_age:
            await self._finish(event, Condition.EVENT_AGE_EXCEEDED, config, now)
            return
        try:
            result = await self._invoker.invoke(
                event.account_id,
                event.function_name,
                event.qualifier,
                event.payload,
                request_id=event.request_id,
                trigger=event.trigger,  # event, schedule or bucket (docs/decisions/0603)
            )
        except ResourceNotFoundException as exc:
            # The function (or the version or alias invoked) was deleted, and its
            # configuration with it: AWS discards the event too.
            log.warning("async event %s discarded: %s", event.request_id, exc.message)
            await self._remove(event)
            return
        except ApiError as exc:  # throttled (429) or a failure of the platform (5xx)
            reason = f"{exc.error_type}: {exc.message}"
            # A function's own error response says more than a later refusal: keep it.
            refusal = event.response or await self._refusal(event, exc)
            await self._retry_later(event, config.maximum_event_age, now, reason, refusal)
            return
        count = event.invoke_count + 1
        response = Response(
            200,
            result.executed_version,
            result.function_error,
            result.payload.decode("utf-8", errors="replace"),
        )
        ran = replace(event, invoke_count=count, response=response, failures=0, last_error=None)
        if result.function_error is None:
            await self._finish(ran, Condition.SUCCESS, config, now)
        elif count > config.retry_attempts:
            await self._finish(ran, Condition.RETRIES_EXHAUSTED, config, now)
        else:
            due = self._now(now) + self._policy.after_function_error(count)
            if due - event.enqueued_at >= config.maximum_event_age:
                await self._finish(ran, Condition.EVENT_AGE_EXCEEDED, config, now)
            else:
                await self._reschedule(replace(ran, due_at=due))

    async def _retry_later(
        self,
        event: AsyncEvent,
        maximum_age: int,
        now: float | None,
        reason: str,
        refusal: Response | None = None,
    ) -> None:
        """Try again with exponential backoff, never past the event's maximum age (the
        pass that finds it too old sends its EventAgeExceeded record)."""
        failures = event.failures + 1
        deadline = event.enqueued_at + maximum_age
        due = min(self._now(now) + self._policy.after_failure(failures), deadline)
        response = refusal or event.response
        await self._reschedule(
            replace(event, due_at=due, failures=failures, response=response, last_error=reason)
        )

    async def _finish(
        self, event: AsyncEvent, condition: Condition, config: EventInvokeConfig, now: float | None
    ) -> None:
        delivery = await self._delivery(event, condition, config, self._now(now))
        if delivery is None:
            await self._remove(event)
            return
        await self._write(replace(event, failures=0), condition, delivery, now)

    async def _delivery(
        self, event: AsyncEvent, condition: Condition, config: EventInvokeConfig, now: float
    ) -> Delivery | None:
        """Where the record goes: OnSuccess on success; OnFailure on failure, else the
        dead-letter queue of the version that ran; None: nowhere (AWS discards it)."""
        target = config.on_success if condition is Condition.SUCCESS else config.on_failure
        response = event.response or await self._never_ran(event, config)
        if target:
            arn = function_arn(
                self._functions.region,
                event.account_id,
                event.function_name,
                response.executed_version,
            )
            return Delivery(target, invocation_record(event, condition, response, arn, now), {})
        if condition is Condition.SUCCESS:
            return None
        dead_letter = await run_in_threadpool(
            self._dead_letter_target, event, response.executed_version
        )
        return dead_letter_message(event, response, dead_letter) if dead_letter else None

    async def _write(
        self, event: AsyncEvent, condition: Condition, delivery: Delivery, now: float | None
    ) -> None:
        moment = self._now(now)
        try:
            follow_up = await self._destinations.write(event.account_id, delivery, moment)
        except Exception as exc:  # DeliveryError, or the store: the record stays all the same
            failures = event.failures + 1
            problem = str(exc).rstrip(".") if isinstance(exc, DeliveryError) else repr(exc)
            reason = (
                f"its {condition.value} record for {delivery.target} was not written: {problem}"
            )
            log.warning("async event %s: %s; trying again later", event.request_id, reason)
            await self._reschedule(
                replace(
                    event,
                    condition=condition,
                    delivery=delivery,
                    failures=failures,
                    due_at=moment + self._policy.after_failure(failures),
                    last_error=reason,
                )
            )
            return
        await self._remove(event, follow_up)

    async def _reschedule(self, event: AsyncEvent) -> None:
        kept = await self._commits.run(
            lambda conn, _memo: self._events.reschedule_in(conn, self.owner, event)
        )
        if not kept:
            log.warning("async event %s: lease lost to another server", event.request_id)

    async def _remove(self, event: AsyncEvent, follow_up: AsyncEvent | None = None) -> None:
        """The event is over (its record, if any, written or in `follow_up`)."""
        weight = len(follow_up.payload) if follow_up else 0
        await self._commits.run(
            lambda conn, _memo: self._events.finish_in(
                conn, self.owner, event.request_id, follow_up
            ),
            weight,
        )

    # -- helpers ------------------------------------------------------------------------
    async def _renew(self, moment: float) -> None:
        """Extend the leases of running events that are past half their lease."""
        due = [
            rid for rid, (_, until) in self._running.items() if until - moment < self._lease_s / 2
        ]
        if not due:
            return
        until = moment + self._lease_s
        await run_in_threadpool(self._events.renew, self.owner, due, until)
        for request_id in due:
            if request_id in self._running:
                task, _ = self._running[request_id]
                self._running[request_id] = (task, until)

    async def _refusal(self, event: AsyncEvent, error: ApiError) -> Response:
        """The platform's answer as a response, for a record if the function never runs."""
        body = {"errorType": error.error_type, "errorMessage": error.message}
        version = await self._version_of(event)
        return Response(error.status, version, None, json.dumps(body))

    async def _never_ran(self, event: AsyncEvent, config: EventInvokeConfig) -> Response:
        body = {
            "errorType": "EventAgeExceeded",
            "errorMessage": "The event was not run within its maximum age of "
            f"{config.maximum_event_age} seconds.",
        }
        return Response(500, await self._version_of(event), None, json.dumps(body))

    async def _version_of(self, event: AsyncEvent) -> str:
        """The version the event's qualifier names now (an alias's primary version)."""
        try:
            version = await run_in_threadpool(
                self._functions.version, event.account_id, event.function_name, event.qualifier
            )
        except ApiError:
            return event.qualifier or "$LATEST"
        return version.version

    def _dead_letter_target(self, event: AsyncEvent, executed_version: str) -> str | None:
        """DeadLetterConfig is configuration of a version: the one that ran decides."""
        try:
            version = self._functions.version(
                event.account_id, event.function_name, executed_version
            )
        except ApiError:
            return None
        return version.config.dead_letter_target_arn

    def _configs_of(
        self, events: list[AsyncEvent]
    ) -> dict[tuple[str, str, str | None], EventInvokeConfig]:
        """The configuration governing each claimed event, read once per target."""
        return {target: self._configs.effective(*target) for target in {_target(e) for e in events}}

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


def _target(event: AsyncEvent) -> tuple[str, str, str | None]:
    return (event.account_id, event.function_name, event.qualifier)
