"""Buckets: the bucket services of one server, built together.

The composition root builds it; the API takes `service` and `secrets`, the server
starts and stops the watcher's loop (tests drive `watcher.run_once()` instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lambdalite.buckets.notifications import CheckFunction
from lambdalite.buckets.service import BucketService
from lambdalite.buckets.store import BucketStore, Enqueue
from lambdalite.buckets.watcher import BucketWatcher
from lambdalite.buckets.webhook_secrets import WebhookSecrets
from lambdalite.loops import BackgroundLoop
from lambdalite.settings import Settings
from lambdalite.store.database import Database


class Buckets:
    def __init__(
        self,
        service: BucketService,
        secrets: WebhookSecrets,
        watcher: BucketWatcher,
        poll_interval_s: float,
    ) -> None:
        self.service = service
        self.secrets = secrets
        self.watcher = watcher
        self._loop: BackgroundLoop | None = None
        if poll_interval_s > 0:
            self._loop = BackgroundLoop("bucket-watcher", watcher.run_once, poll_interval_s)

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        enqueue: Enqueue,
        check_function: CheckFunction,
        clock: Callable[[], float] = time.time,
    ) -> Buckets:
        store = BucketStore(db)
        service = BucketService(
            store,
            enqueue,
            check_function,
            settings.bucket_dir,
            settings.data_dir,
            settings.region,
            clock,
        )
        watcher = BucketWatcher(
            store, service.record, settings.bucket_watch, settings.bucket_rescan_seconds, clock
        )
        return cls(
            service, WebhookSecrets(db, clock), watcher, settings.bucket_poll_interval_seconds
        )

    async def start(self) -> None:
        if self._loop is not None:
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
        self.watcher.close()
