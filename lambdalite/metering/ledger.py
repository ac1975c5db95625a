"""UsageLedger: usage records between the invocation and the store.

    Invoker --add(entry)--> ledger --take()--> LogWriter.run_once
        with the log sink (the server's default): compact_for_sink() --> plain tuples
            --> sink process: settle_compact() --> priced records, stored with the log
                lines; what they add to the metrics comes back --> tallied()
        with a writer thread: settle() --> priced records, shown to the observers,
            stored with the log lines

`add` is the invoke path's whole cost of metering: one tuple appended to a list. Records
are priced once and shown to the metrics (observers, or tally observers) exactly once,
even if storing them fails and is tried again. Nothing is lost without a count: past
`max_buffered` records waiting (the store is not keeping up), new ones are shed and
counted in `shed`, which `/metrics` exposes as a counter that must stay 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

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
# What a batch adds to the metrics, per (account, function): metrics.invocation_metrics.
TallyObserver = Callable[[Any], None]
# A UsageEntry reduced to plain values, which the log sink's process prices (0007):
# (trigger, started s, account, function, version, request id, memory MB, architecture,
#  /tmp MB, then None when throttled, else (cold, provisioned, init ms, duration ms,
#  max memory MB, error type, Outcome value, queued ms, create ms, runtime ms,
#  function init ms)).
Compact = tuple[Any, ...]
DEFAULT_MAX_BUFFERED = 200_000  # as many as the log writer's events (decision 0007)


class UsageLedger:
    def __init__(
        self,
        prices: PriceBook | None = None,
        observers: Sequence[Observer] = (),
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        tally_observers: Sequence[TallyObserver] = (),
    ) -> None:
        self.prices = prices or PriceBook.load("aws")
        self._observers = list(observers)
        # Shown what the log sink's process tallied of the records it settled, instead
        # of the records themselves (which never come back to this process).
        self._tally_observers = list(tally_observers)
        # Compact entries whose batch the sink did not store, for the next one.
        self._unstored_compact: list[Compact] = []
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
        return len(self._unstored) + len(self._unstored_compact)

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
        self._keep(self._unstored, records)

    # -- settled by the log sink's process (decision 0007, "fourth round") ----------------
    def compact_for_sink(self, entries: Sequence[UsageEntry]) -> list[Compact]:
        """Entries as plain values for the sink, after any a failed batch handed back."""
        try:
            compacts = [compact(entry) for entry in entries]
        except Exception:  # a bug of ours; the entries are gone, but counted (as `settle`)
            self.count_shed(len(entries))
            raise
        with self._lock:
            unstored, self._unstored_compact = self._unstored_compact, []
        return unstored + compacts

    def unstored_compact(self, compacts: Sequence[Compact]) -> None:
        """The sink did not store them: keep them for the next batch (bounded)."""
        self._keep(self._unstored_compact, compacts)

    def _keep(self, kept: list[Any], items: Sequence[Any]) -> None:
        """Append to one of the retry buffers up to the bound; count the rest as shed."""
        with self._lock:
            room = max(self._max - len(kept), 0)
            kept.extend(items[:room])
            self.shed += max(len(items) - room, 0)

    def count_shed(self, count: int) -> None:
        with self._lock:
            self.shed += count

    def settle_compact(self, compacts: Sequence[Compact]) -> list[UsageRecord]:
        """In the sink: the records, priced (shown to no observer: see `tallied`)."""
        return [self.record_compact(c) for c in compacts]

    def tallied(self, tallies: Any) -> None:
        """What the sink counted of the records it stored, for the metrics (once)."""
        for observer in self._tally_observers:
            observer(tallies)

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
        return self.record_compact(compact(entry))

    def record_compact(self, c: Compact) -> UsageRecord:
        trigger, started, account, function, version, request_id, memory_mb = c[:7]
        architecture, storage_mb, ran = c[7], c[8], c[9]
        if ran is None:
            # Throttled: never ran, so no duration and no charge (AWS bills the requests
            # that start running).
            return UsageRecord(
                account, function, version, request_id, trigger, int(started * 1000), None,
                0.0, 0, memory_mb, 0, architecture, storage_mb, False, False,
                Outcome.THROTTLED, None, ZERO, ZERO,
            )  # fmt: skip
        cold, provisioned, init_ms, duration_ms, max_memory, error_type, outcome = ran[:7]
        billed = billed_ms(duration_ms, init_ms)
        return UsageRecord(
            account, function, version, request_id, trigger, int(started * 1000), init_ms,
            duration_ms, billed, memory_mb, max_memory, architecture, storage_mb, cold,
            provisioned, Outcome(outcome), error_type,
            self.prices.gb_seconds(billed, memory_mb),
            self._price(billed, memory_mb, architecture, storage_mb, provisioned),
            *ran[7:],
        )  # fmt: skip


def compact(entry: UsageEntry) -> Compact:
    trigger, started, version, request_id, outcome, queued_ms = entry
    config = version.config
    architecture = config.architectures[0] if config.architectures else "x86_64"
    head = (
        trigger, started, version.account_id, version.function_name, version.version,
        request_id, config.memory_size, architecture, config.ephemeral_storage,
    )  # fmt: skip
    if outcome is None:
        return (*head, None)
    cold = outcome.cold
    start = outcome.cold_start
    ran = (
        cold, outcome.provisioned, outcome.init_duration_ms if cold else None,
        outcome.duration_ms, outcome.max_memory_used_mb, outcome.error_type,
        outcome_of(outcome).value,
        *(
            (queued_ms, start.create_ms, start.runtime_ms, start.function_init_ms)
            if start is not None
            else ()
        ),
    )  # fmt: skip
    return (*head, ran)
