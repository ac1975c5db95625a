"""UsageLedger: usage records between the invocation and the store.

    Invoker --add(entry)--> ledger --take()--> LogWriter.run_once --settle()--> records
                                        (worker thread: priced, shown to the metrics,
                                         stored in one transaction with the log lines)

`add` is the invoke path's whole cost of metering: one tuple appended to a list.
`settle` turns entries into priced `UsageRecord`s on the log writer's worker thread and
shows each to the observers (the Prometheus metrics) exactly once, even if storing them
fails and is tried again. Nothing is lost without a count: past `max_buffered` records
waiting (the store is not keeping up), new ones are shed and counted in `shed`, which
`/metrics` exposes as a counter that must stay 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal

from lambdalite.logs.lines import billed_ms
from lambdalite.metering.prices import PriceBook
from lambdalite.metering.record import (
    Outcome,
    UsageEntry,
    UsageRecord,
    outcome_of,
)

ZERO = Decimal(0)
Observer = Callable[[Sequence[UsageRecord]], None]
DEFAULT_MAX_BUFFERED = 200_000  # as many as the log writer's events (decision 0007)


class UsageLedger:
    def __init__(
        self,
        prices: PriceBook | None = None,
        observers: Sequence[Observer] = (),
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        self.prices = prices or PriceBook.load("aws")
        self._observers = list(observers)
        self._max = max_buffered
        self._entries: list[UsageEntry] = []
        # Settled records whose transaction failed, for the next one (worker threads).
        self._unstored: list[UsageRecord] = []
        self._lock = threading.Lock()
        # Price per billed ms, per (memory, architecture, /tmp, provisioned).
        self._per_ms: dict[tuple[int, str, int, bool], Decimal] = {}
        self.shed = 0

    def observe(self, observer: Observer) -> None:
        """Show every record settled from now on to `observer` (on a worker thread)."""
        self._observers.append(observer)

    # -- the invoke path (event loop) ---------------------------------------------------
    def add(self, entry: UsageEntry) -> None:
        entries = self._entries
        if len(entries) + len(self._unstored) < self._max:
            entries.append(entry)
        else:
            self.shed += 1

    def take(self) -> list[UsageEntry]:
        """Everything added since the last take (the log writer's flush, on the loop)."""
        entries, self._entries = self._entries, []
        return entries

    @property
    def unstored_count(self) -> int:
        return len(self._unstored)

    # -- the log writer's worker thread -------------------------------------------------
    def settle(self, entries: Sequence[UsageEntry]) -> list[UsageRecord]:
        """Records for `entries`, shown to the observers, after any that a failed
        transaction handed back: all of them are for the store now."""
        try:
            records = [self.record(entry) for entry in entries]
        except Exception:  # a bug of ours; the entries are gone, but counted
            with self._lock:
                self.shed += len(entries)
            raise
        for observer in self._observers:
            observer(records)
        with self._lock:
            unstored, self._unstored = self._unstored, []
        return unstored + records

    def unstored(self, records: Sequence[UsageRecord]) -> None:
        """Their transaction failed: keep them for the next (up to the buffer's bound)."""
        with self._lock:
            room = max(self._max - len(self._unstored), 0)
            self._unstored.extend(records[:room])
            self.shed += max(len(records) - room, 0)

    def _price(
        self, billed_ms: int, memory_mb: int, architecture: str, storage_mb: int, provisioned: bool
    ) -> Decimal:
        """The list price, with the price per ms cached per configuration."""
        key = (memory_mb, architecture, storage_mb, provisioned)
        per_ms = self._per_ms.get(key)
        if per_ms is None:
            per_ms = self._per_ms[key] = self.prices.price_per_ms(*key)
        return self.prices.price_at(billed_ms, per_ms)

    def record(self, entry: UsageEntry) -> UsageRecord:
        trigger, started, version, request_id, outcome, queued_ms = entry
        config = version.config
        memory_mb = config.memory_size
        architecture = config.architectures[0] if config.architectures else "x86_64"
        if outcome is None:
            # Throttled: never ran, so no duration and no charge (AWS bills the requests
            # that start running).
            return UsageRecord(
                version.account_id, version.function_name, version.version, request_id,
                trigger, int(started * 1000), None, 0.0, 0, memory_mb, 0, architecture,
                config.ephemeral_storage, False, False, Outcome.THROTTLED, None, ZERO, ZERO,
            )  # fmt: skip
        cold = outcome.cold
        init_ms = outcome.init_duration_ms if cold else None
        billed = billed_ms(outcome.duration_ms, init_ms)
        provisioned = outcome.provisioned
        start = outcome.cold_start
        return UsageRecord(
            version.account_id, version.function_name, version.version, request_id, trigger,
            int(started * 1000), init_ms, outcome.duration_ms, billed, memory_mb,
            outcome.max_memory_used_mb, architecture, config.ephemeral_storage, cold,
            provisioned, outcome_of(outcome), outcome.error_type,
            self.prices.gb_seconds(billed, memory_mb),
            self._price(billed, memory_mb, architecture, config.ephemeral_storage, provisioned),
            *(
                (queued_ms, start.create_ms, start.runtime_ms, start.function_init_ms)
                if start is not None
                else ()
            ),
        )  # fmt: skip
