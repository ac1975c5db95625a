"""Schedules: the scheduled-rule services of one server, built together.

The composition root builds it; the EventBridge API takes `rules`, the server starts
and stops the scheduler's loop (tests drive `scheduler.run_once(now=...)` instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lambdalite.loops import BackgroundLoop
from lambdalite.schedules.scheduler import Enqueue, Scheduler
from lambdalite.schedules.service import RuleService
from lambdalite.schedules.store import RuleStore
from lambdalite.settings import Settings
from lambdalite.store.database import Database


class Schedules:
    def __init__(self, rules: RuleService, scheduler: Scheduler, poll_interval_s: float) -> None:
        self.rules = rules
        self.scheduler = scheduler
        self._loop: BackgroundLoop | None = None
        if poll_interval_s > 0:
            self._loop = BackgroundLoop("scheduler", scheduler.run_once, poll_interval_s)

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        enqueue: Enqueue,
        clock: Callable[[], float] = time.time,
    ) -> Schedules:
        store = RuleStore(db)
        return cls(
            RuleService(store, settings.region, clock),
            Scheduler(store, enqueue, settings.region, clock),
            settings.schedule_poll_interval_seconds,
        )

    async def start(self) -> None:
        if self._loop is not None:
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
