"""LogSink: the log writer's database writes, done by a process of its own.

Storing an invocation's log lines and usage record costs 30-40 µs of CPU in SQLite (four
rows, two indexes), but in the server's process it cost the event loop far more: the
writer thread held the GIL the loop needed and competed with it for a vCPU. Without any
log storage, warm hello invocations at c=64 went from ~4,000/s to ~6,700/s
(decision 0007, "second round"). A process of its own has its own GIL, and it runs at a
lower priority (`nice`), so under load the sandboxes, the server and its clients come
first and log storage takes what is left.

    LogWriter._write (a worker thread of the server)
        --(now, n) + n pickled parts (events, usage entries)--> socketpair --> sink
        <-- (error text or None, the records' tallies, entries it could not price) --

The sink also prices the usage records (UsageLedger.settle_compact, with the server's
price book) and counts what they add to the metrics (`metrics.invocation_metrics.tally`),
so the server's part of a flush is a tuple of plain values per invocation: pricing and
counting there held the GIL for ~6 µs per invocation, and at c=64 its bursts doubled
the p99 (decision 0007, "fourth round").

One batch at a time (the LogWriter's flushes take turns), so the protocol is a request and
its reply. The sink exits when the server's end of the socket closes, whatever ended the
server. A sink that died is started again for the next batch; the batch it was writing is
reported failed and kept by the LogWriter for the next flush — if the sink died after its
commit, those lines and usage records are stored twice (the one case that duplicates).

    python -m lambdalite.logs.sink NICE      (started by LogSink, which passes the socket,
                                              the database URL and the price book in
                                              $LAMBDALITE_SINK_FD, _DATABASE_URL, _PRICE_BOOK)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pickle
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lambdalite.runtime.protocol import ChannelClosed, recv_exact
from lambdalite.store.logs import StreamBatch

if TYPE_CHECKING:
    from lambdalite.metering.ledger import Compact, UsageLedger
    from lambdalite.metering.record import UsageRecord
    from lambdalite.metrics.invocation_metrics import Tallies

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_HEAD = struct.Struct("!QI")  # the batch's ingestion time (ms), how many parts follow
# Events or usage rows per pickled part: pickle.dumps holds the GIL for the whole call,
# which the event loop may be waiting for. One part pickles in ~0.1 ms.
PART_ITEMS = 128
DEFAULT_NICE = 5


class SinkError(Exception):
    """The batch was not stored (the sink said why, or died)."""


class LogSink:
    def __init__(
        self, database_url: str, price_book: str = "aws", nice: int = DEFAULT_NICE
    ) -> None:
        self._url = database_url
        self._price_book = price_book
        self._nice = nice
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self.starts = 0

    def append(
        self, batches: Sequence[StreamBatch], now: int, usage: Sequence[Compact]
    ) -> tuple[Tallies, int]:
        """Store the batches and the usage records of `usage` (compact entries, which
        the sink prices) in one transaction (blocking: call it from a worker thread).
        Returns what the records add to the metrics, and how many entries it could not
        price (a bug of ours: dropped, to be counted); raises SinkError if nothing was
        stored."""
        parts = _parts(batches, usage)
        with self._lock:
            sock = self._connected()
            try:
                sock.sendall(_HEAD.pack(now, len(parts)))
                for part in parts:
                    sock.sendall(_LENGTH.pack(len(part)) + part)
                reply = _read_frame(sock)
            except (OSError, ChannelClosed) as exc:
                self._stop()
                raise SinkError(f"the log sink went away mid-batch: {exc!r}") from exc
        error, tallies, unpriced = pickle.loads(reply)
        if error is not None:
            raise SinkError(str(error))
        return tallies, unpriced

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _connected(self) -> socket.socket:
        if self._socket is not None and self._process is not None:
            if self._process.poll() is None:
                return self._socket
            self._stop()
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                # -P: `-m` would put the working directory first on sys.path, so a
                # `lambdalite` directory wherever the server was started would be the
                # sink's code instead of the server's own.
                [sys.executable, "-P", "-m", __name__, str(self._nice)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                # In the environment, not argv: a PostgreSQL URL may hold a password, and
                # any local user can read another's command line, not its environment.
                env={
                    **os.environ,
                    "LAMBDALITE_SINK_FD": str(theirs.fileno()),
                    "LAMBDALITE_SINK_DATABASE_URL": self._url,
                    "LAMBDALITE_SINK_PRICE_BOOK": self._price_book,
                },
            )
        finally:
            theirs.close()
        self._socket = ours
        self.starts += 1
        return ours

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()  # the sink sees EOF and exits
            self._socket = None
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _parts(batches: Sequence[StreamBatch], usage: Sequence[Compact]) -> list[bytes]:
    """The batch as pickled parts of at most PART_ITEMS items each: ("events", (account,
    group, stream), events) and ("usage", None, compact entries). Sent whole in one pickle, a
    flush held the GIL for milliseconds and, measured at c=1, gave p99 0.83-0.97 ms
    where parts give 0.51-0.55 ms."""
    parts: list[bytes] = []
    for batch in batches:
        events = batch.events
        for start in range(0, len(events), PART_ITEMS):
            chunk = list(events[start : start + PART_ITEMS])
            key = (batch.account_id, batch.log_group, batch.log_stream)
            parts.append(pickle.dumps(("events", key, chunk), protocol=pickle.HIGHEST_PROTOCOL))
    for start in range(0, len(usage), PART_ITEMS):
        chunk = list(usage[start : start + PART_ITEMS])
        parts.append(pickle.dumps(("usage", None, chunk), protocol=pickle.HIGHEST_PROTOCOL))
    return parts


def _read_frame(sock: socket.socket) -> bytes:
    """One length-prefixed frame; ChannelClosed at EOF."""
    (length,) = _LENGTH.unpack(recv_exact(sock, _LENGTH.size))
    return recv_exact(sock, length)


def _serve(sock: socket.socket, database_url: str, price_book: str) -> None:
    # Imported here: the server's side of this module needs none of it.
    from lambdalite.metering.ledger import UsageLedger
    from lambdalite.metering.prices import PriceBook
    from lambdalite.metering.usage_store import UsageStore, usage_row
    from lambdalite.metrics.invocation_metrics import tally
    from lambdalite.store.database import Database
    from lambdalite.store.logs import LogStore

    ledger = UsageLedger(PriceBook.load(price_book))

    # The server migrated it before starting us. No fsync per commit: an fsync per flush
    # cost warm c=1 p99 ~20 % on the benchmark VM, and the last flush interval's lines
    # are already lost in a crash (they wait in the server's memory).
    db = Database(database_url, fsync_commits=False)
    store = LogStore(db)
    try:
        while True:
            # ChannelClosed when the server closes its end or dies: main() returns.
            now, count = _HEAD.unpack(recv_exact(sock, _HEAD.size))
            events: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
            compacts: list[Compact] = []
            for _ in range(count):
                kind, key, items = pickle.loads(_read_frame(sock))
                if kind == "events":
                    events.setdefault(key, []).extend(items)
                else:
                    compacts.extend(items)
            error: str | None = None
            tallies: Tallies | None = None
            records, unpriced = _settle(ledger, compacts)
            try:
                # Before the commit: a failure after it would have the server store the
                # batch again.
                tallies = tally(records)
            except Exception:  # a bug of ours: the metrics miss these, the store does not
                log.exception("could not tally %d usage records", len(records))
                tallies = {}
            try:
                rows = [usage_row(record) for record in records]
                store.append(
                    [StreamBatch(*key, stream_events) for key, stream_events in events.items()],
                    now,
                    also=functools.partial(UsageStore.insert_rows_in, rows=rows) if rows else None,
                )
            except Exception as exc:  # reported to the server, which keeps the batch
                tallies = None
                error = f"{type(exc).__name__}: {exc}"
            reply = pickle.dumps((error, tallies, unpriced), protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(_LENGTH.pack(len(reply)) + reply)
    finally:
        db.dispose()


def _settle(ledger: UsageLedger, compacts: list[Compact]) -> tuple[list[UsageRecord], int]:
    """The priced records, and how many entries could not be priced (a bug of ours):
    those are dropped rather than failing, and retrying forever, every batch after."""
    records = []
    unpriced = 0
    for entry in compacts:
        try:
            records.append(ledger.settle_compact([entry])[0])
        except Exception:
            log.exception("could not price usage entry %r", entry)
            unpriced += 1
    return records, unpriced


def main() -> None:
    os.nice(int(sys.argv[1]))
    database_url = os.environ.pop("LAMBDALITE_SINK_DATABASE_URL")
    price_book = os.environ.pop("LAMBDALITE_SINK_PRICE_BOOK")
    sock = socket.socket(fileno=int(os.environ.pop("LAMBDALITE_SINK_FD")))
    with contextlib.suppress(ChannelClosed, BrokenPipeError, ConnectionResetError):
        _serve(sock, database_url, price_book)


if __name__ == "__main__":
    main()
