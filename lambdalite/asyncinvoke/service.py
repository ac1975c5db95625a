"""AsyncInvocations: Event invokes of one server, from the 202 to the invocation record.

Built by the composition root; the API hands it accepted events and configuration
calls, the server starts and stops its delivery loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lambdalite.asyncinvoke.commits import GroupCommit
from lambdalite.asyncinvoke.config_store import ConfigStore
from lambdalite.asyncinvoke.configs import EventInvokeConfigService
from lambdalite.asyncinvoke.delivery import DeliveryLoop
from lambdalite.asyncinvoke.destinations import Destinations
from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.asyncinvoke.intake import EventIntake
from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.asyncinvoke.retry import RetryPolicy
from lambdalite.control.functions import FunctionService
from lambdalite.invoke.invoker import Invoker
from lambdalite.loops import BackgroundLoop
from lambdalite.queues import QueueService
from lambdalite.settings import Settings
from lambdalite.store.database import Database


class AsyncInvocations:
    def __init__(
        self,
        events: EventStore,
        commits: GroupCommit,
        configs: EventInvokeConfigService,
        destinations: Destinations,
        delivery: DeliveryLoop,
        check: Callable[[AsyncEvent], None],
        max_payload_bytes: int,
        poll_interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.events = events
        self.configs = configs
        self.destinations = destinations
        self.delivery = delivery
        self.max_payload_bytes = max_payload_bytes
        self._intake = EventIntake(commits, events, check)
        self._clock = clock
        self._loop: BackgroundLoop | None = None
        if poll_interval_s > 0:
            self._loop = BackgroundLoop(
                "async-delivery", lambda: delivery.run_once(wait=False), poll_interval_s
            )

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        functions: FunctionService,
        invoker: Invoker,
        queues: QueueService,
        clock: Callable[[], float] = time.time,
    ) -> AsyncInvocations:
        events = EventStore(db)
        # Accepts and delivery's writes share commits (and fsyncs) on one event loop.
        commits = GroupCommit(db)
        destinations = Destinations(queues, functions, settings.region)
        configs = EventInvokeConfigService(ConfigStore(db), functions, destinations, clock)
        delivery = DeliveryLoop(
            events,
            commits,
            configs,
            invoker,
            functions,
            destinations,
            RetryPolicy(settings.async_backoff_scale),
            lease_s=settings.async_lease_seconds,
            max_in_flight=settings.async_max_in_flight,
            clock=clock,
        )

        def check(event: AsyncEvent) -> None:
            functions.version(event.account_id, event.function_name, event.qualifier)

        return cls(
            events,
            commits,
            configs,
            destinations,
            delivery,
            check,
            settings.max_async_payload_bytes,
            settings.async_poll_interval_seconds,
            clock,
        )

    async def accept(
        self, account_id: str, name: str, qualifier: str | None, payload: bytes, request_id: str
    ) -> None:
        """Store an Event invocation; returns once it is durable (the 202 may go out).
        An unknown function or qualifier is a 404 and stores nothing."""
        now = self._clock()
        await self._intake.add(
            AsyncEvent(request_id, account_id, name, qualifier, payload, now, due_at=now)
        )

    async def start(self) -> None:
        if self._loop is not None:
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
        await self.delivery.stop()
