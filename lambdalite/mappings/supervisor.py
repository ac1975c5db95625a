"""PollerSupervisor: keeps one Poller per enabled mapping and moves mappings through their
states, reconciling toward what the store says (the Ray Serve controller's idea: one
idempotent loop, whoever runs it).

    reconcile   Creating/Enabling/Updating -> Enabled or Disabled; Disabling -> Disabled
                once this server's poller has stopped; Deleting -> gone, likewise.
                Pollers start for Enabled mappings, take each update, stop otherwise.
    run_once    reconcile, then one round of every poller (what tests drive).
    start       in the server: reconcile on a timer, and one task per poller looping on
                its rounds, idling in `poller.wait()` when a round found nothing.

State changes are compare-and-set in the store, so servers sharing PostgreSQL each
reconcile safely; the queue's visibility timeout keeps their pollers from taking the same
message twice. A transition finishes when the server that first gets to it has stopped
its own poller; another server's stops at its next reconcile (within its interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from starlette.concurrency import run_in_threadpool

from lambdalite.loops import BackgroundLoop
from lambdalite.mappings.model import EventSourceMapping, MappingState, Poller, SourceKind
from lambdalite.mappings.service import MappingService

log = logging.getLogger(__name__)

PollerFactory = Callable[[EventSourceMapping], Poller]
# How long a stopping server waits for its pollers' rounds in progress to finish.
STOP_GRACE_SECONDS = 10.0


class PollerSupervisor:
    def __init__(
        self,
        service: MappingService,
        factories: Mapping[SourceKind, PollerFactory],
        reconcile_interval_s: float = 1.0,
    ) -> None:
        self._service = service
        self._factories = dict(factories)
        self._pollers: dict[str, Poller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._idle: set[str] = set()  # pollers waiting between rounds (safe to cancel)
        self._loop = BackgroundLoop("event-source-mappings", self.reconcile, reconcile_interval_s)
        self._started = False
        self._lock = asyncio.Lock()

    @property
    def pollers(self) -> dict[str, Poller]:
        """The running pollers by mapping UUID (for the health page and tests)."""
        return dict(self._pollers)

    async def run_once(self) -> int:
        """Reconcile, then one round of every poller; returns the records handed over."""
        await self.reconcile()
        rounds = await asyncio.gather(*(p.run_once() for p in self._pollers.values()))
        return sum(rounds)

    async def reconcile(self) -> None:
        async with self._lock:  # the timer and a test's run_once never interleave
            mappings = await run_in_threadpool(self._service.all)
            for mapping in mappings:
                if not mapping.state.is_stable:
                    await self._transition(mapping)
            current = await run_in_threadpool(self._service.all)
            enabled = {m.uuid: m for m in current if m.state is MappingState.ENABLED}
            for mapping_id in list(self._pollers):
                if mapping_id not in enabled:
                    await self._retire(mapping_id)
            for mapping in enabled.values():
                self._run(mapping)

    def start(self) -> None:
        self._started = True
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        self._started = False
        for mapping_id, task in self._tasks.items():
            self._stopping.add(mapping_id)
            if mapping_id in self._idle:
                task.cancel()  # between rounds: nothing to finish
        tasks = list(self._tasks.values())
        if tasks:
            # Let rounds in progress finish (their batches are deleted or returned), then
            # cut what is left: its messages come back after their visibility timeout.
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for mapping_id in list(self._pollers):
            await self._retire(mapping_id)

    # -- helpers --------------------------------------------------------------------------
    async def _transition(self, mapping: EventSourceMapping) -> None:
        stops = mapping.state in (MappingState.DISABLING, MappingState.DELETING)
        if stops and not await self._retire(mapping.uuid):
            return  # its poller is finishing a round: settle on a later pass
        settled = await run_in_threadpool(self._service.settle, mapping)
        if settled:
            log.info("event source mapping %s: %s done", mapping.uuid, mapping.state)

    def _run(self, mapping: EventSourceMapping) -> None:
        poller = self._pollers.get(mapping.uuid)
        if poller is not None:
            poller.configure(mapping)
        else:
            factory = self._factories.get(mapping.source_kind)
            if factory is None:
                return
            try:
                poller = factory(mapping)
            except Exception:  # one broken mapping must not stop the others
                log.exception("cannot poll event source mapping %s", mapping.uuid)
                return
            self._pollers[mapping.uuid] = poller
        if self._started and mapping.uuid not in self._tasks:
            task = asyncio.get_running_loop().create_task(
                self._drive(mapping.uuid, poller), name=f"poller-{mapping.uuid}"
            )
            self._tasks[mapping.uuid] = task

    async def _retire(self, mapping_id: str) -> bool:
        """Stop this server's poller of a mapping; False while a round still runs (its
        batches finish; the poller stops after it)."""
        task = self._tasks.get(mapping_id)
        if task is not None and not task.done():
            self._stopping.add(mapping_id)
            if mapping_id not in self._idle:
                return False
            task.cancel()  # idle between rounds: nothing is lost by cutting the wait
            await asyncio.gather(task, return_exceptions=True)
        self._tasks.pop(mapping_id, None)
        self._stopping.discard(mapping_id)
        poller = self._pollers.pop(mapping_id, None)
        if poller is not None:
            await poller.stop()
        return True

    async def _drive(self, mapping_id: str, poller: Poller) -> None:
        """One poller's rounds, back to back while they find records."""
        while mapping_id not in self._stopping:
            try:
                handled = await poller.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller of event source mapping %s failed; it goes on", mapping_id)
                handled = 0
            if not handled and mapping_id not in self._stopping:
                self._idle.add(mapping_id)
                try:
                    with contextlib.suppress(Exception):
                        await poller.wait()
                finally:
                    self._idle.discard(mapping_id)
