"""Retention: a group's events older than its retention go, and nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalite.logs.retention import DAY_MS, RetentionReaper
from lambdalite.store.database import Database
from lambdalite.store.logs import LogStore, StreamBatch

A, B = "111111111111", "222222222222"
NOW = 1_750_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    db = Database(f"sqlite:///{tmp_path / 'logs.db'}")
    db.migrate()
    return LogStore(db)


def put(store: LogStore, account: str, group: str, stream: str, *ages_days: float) -> None:
    events = [(int(NOW - age * DAY_MS), f"{stream} {age}d old\n") for age in ages_days]
    store.append([StreamBatch(account, group, stream, sorted(events))], NOW)


def messages(store: LogStore, account: str, group: str) -> dict[str, list[str]]:
    return {
        stream: [e.message for e in store.events(account, group, stream)]
        for stream in store.streams(account, group)
    }


async def test_old_events_go_recent_ones_and_other_groups_stay(store: LogStore) -> None:
    put(store, A, "/aws/lambda/f", "old", 9, 8)
    put(store, A, "/aws/lambda/f", "mixed", 10, 6, 1)
    put(store, A, "/aws/lambda/never", "s", 400)
    put(store, B, "/aws/lambda/f", "old", 9)  # same name, another account, no policy
    assert store.set_retention(A, "/aws/lambda/f", 7)

    deleted = await RetentionReaper(store, clock_ms=lambda: NOW).run_once()

    assert deleted == 3
    assert messages(store, A, "/aws/lambda/f") == {"mixed": ["mixed 6d old\n", "mixed 1d old\n"]}
    assert messages(store, A, "/aws/lambda/never") == {"s": ["s 400d old\n"]}
    assert messages(store, B, "/aws/lambda/f") == {"old": ["old 9d old\n"]}


async def test_stream_times_and_group_bytes_follow_what_is_left(store: LogStore) -> None:
    put(store, A, "g", "s", 10, 2)
    store.set_retention(A, "g", 3)
    await RetentionReaper(store, clock_ms=lambda: NOW).run_once()
    stream = store.stream(A, "g", "s")
    assert stream is not None
    assert stream.first_event_at == NOW - 2 * DAY_MS
    group = store.group(A, "g")
    assert group is not None
    assert group.stored_bytes == len("s 2d old\n")


async def test_a_large_backlog_goes_in_batches_within_one_pass(store: LogStore) -> None:
    put(store, A, "g", "s", *([30] * 25), 0)
    store.set_retention(A, "g", 1)
    reaper = RetentionReaper(store, clock_ms=lambda: NOW, batch=4)
    assert await reaper.run_once() == 25
    assert await reaper.run_once() == 0
    assert messages(store, A, "g") == {"s": ["s 0d old\n"]}


async def test_the_clock_decides_what_is_old(store: LogStore) -> None:
    put(store, A, "g", "s", 0)
    store.set_retention(A, "g", 1)
    now = NOW + DAY_MS - 1
    reaper = RetentionReaper(store, clock_ms=lambda: now)
    assert await reaper.run_once() == 0
    now = NOW + DAY_MS + 1
    assert await reaper.run_once() == 1
    assert store.streams(A, "g") == []
    assert store.group(A, "g") is not None, "the group and its policy stay"


async def test_a_stream_emptied_by_retention_comes_back_with_new_events(store: LogStore) -> None:
    put(store, A, "g", "s", 5)
    store.set_retention(A, "g", 1)
    await RetentionReaper(store, clock_ms=lambda: NOW).run_once()
    put(store, A, "g", "s", 0)
    assert messages(store, A, "g") == {"s": ["s 0d old\n"]}
    stream = store.stream(A, "g", "s")
    assert stream is not None and stream.first_event_at == NOW


async def test_no_policy_no_deletion(store: LogStore) -> None:
    put(store, A, "g", "s", 5000)
    store.set_retention(A, "g", 1)
    store.set_retention(A, "g", None)  # DeleteRetentionPolicy
    assert await RetentionReaper(store, clock_ms=lambda: NOW).run_once() == 0
