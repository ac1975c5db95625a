"""LogStore's reads and retention on SQLite and on PostgreSQL: the same answers from both
(ASCII order, case-sensitive matching, keyset paging, what retention deletes)."""

from __future__ import annotations

import pytest

from lambdalite.logs.filter_pattern import parse
from lambdalite.store.database import Database
from lambdalite.store.logs import EventQuery, LogStore, Position, StreamBatch

A, B = "111111111111", "222222222222"
T0 = 1_767_225_600_000


@pytest.fixture
def store(db: Database) -> LogStore:
    return LogStore(db)


def put(
    store: LogStore, group: str, stream: str, *events: tuple[int, str], account: str = A
) -> None:
    store.append([StreamBatch(account, group, stream, list(events))], T0)


def test_groups_in_ascii_order_with_prefix_substring_and_keyset(store: LogStore) -> None:
    for name in ("b", "B", "a-x", "a.x", "A", "Ab"):
        store.create_group(A, name, T0)
    store.create_group(B, "a-x", T0)
    assert [g.name for g in store.groups(A, 10)] == ["A", "Ab", "B", "a-x", "a.x", "b"]
    assert [g.name for g in store.groups(A, 10, prefix="a")] == ["a-x", "a.x"]
    assert [g.name for g in store.groups(A, 10, containing="b")] == ["Ab", "b"]
    assert [g.name for g in store.groups(A, 2, after="Ab")] == ["B", "a-x"]
    assert [g.name for g in store.groups(A, 10, names=["b", "zz"])] == ["b"]


def test_group_bytes_count_utf8(store: LogStore) -> None:
    put(store, "g", "s", (T0, "héllo ✓\n"))
    group = store.group(A, "g")
    assert group is not None and group.stored_bytes == len("héllo ✓\n".encode())


def test_streams_by_last_event_time_and_by_name(store: LogStore) -> None:
    put(store, "g", "b", (T0 + 3, "x\n"))
    put(store, "g", "a", (T0 + 5, "x\n"))
    put(store, "g", "C", (T0 + 1, "x\n"))
    by_time = store.stream_page(A, "g", 10, by_last_event=True, descending=True)
    assert [s.name for s in by_time] == ["a", "b", "C"]
    rest = store.stream_page(A, "g", 10, by_last_event=True, descending=True, after=(T0 + 5, "a"))
    assert [s.name for s in rest] == ["b", "C"]
    assert [s.name for s in store.stream_page(A, "g", 10)] == ["C", "a", "b"]
    assert [s.name for s in store.stream_page(A, "g", 10, prefix="c")] == []


def test_reads_page_by_position_both_ways_with_patterns(store: LogStore) -> None:
    put(store, "g", "s1", (T0, "ERROR one\n"), (T0 + 2, "error two\n"))
    put(store, "g", "s2", (T0 + 1, "ERROR three\n"), (T0 + 2, "WARN four\n"))
    put(store, "other", "s1", (T0, "ERROR elsewhere\n"))
    query = EventQuery(A, "g")
    everything = store.read(query, 10)
    assert [e.message for e in everything] == [
        "ERROR one\n",
        "ERROR three\n",
        "error two\n",
        "WARN four\n",
    ]
    after = everything[1].position
    assert [e.message for e in store.read(EventQuery(A, "g", after=after), 10)] == [
        "error two\n",
        "WARN four\n",
    ]
    backward = EventQuery(A, "g", after=everything[2].position, ascending=False)
    assert [e.message for e in store.read(backward, 10)] == ["ERROR three\n", "ERROR one\n"]
    errors = store.read(query, 10, parse("ERROR -three"))
    assert [e.message for e in errors] == ["ERROR one\n"], "case-sensitive, with exclusions"
    either = store.read(EventQuery(A, "g", streams=["s2"]), 10, parse("?WARN ?three"))
    assert [e.log_stream for e in either] == ["s2", "s2"]
    window = EventQuery(A, "g", start=T0 + 1, end=T0 + 2)
    assert [e.message for e in store.read(window, 10)] == ["ERROR three\n"]
    assert store.horizon(query, 3) == everything[2].position
    assert store.horizon(query, 4) is None, "nothing lies beyond the fourth"
    until = EventQuery(A, "g", until=Position(T0 + 1, everything[1].id))
    assert len(store.read(until, 10)) == 2


def test_expiry_deletes_old_events_and_empty_streams_only(store: LogStore) -> None:
    put(store, "g", "old", (T0, "old\n"))
    put(store, "g", "mixed", (T0, "gone\n"), (T0 + 10, "kept ✓\n"))
    put(store, "g", "old", (T0, "other account\n"), account=B)
    assert store.expire(A, "g", T0 + 5, batch=1) == 1
    assert store.expire(A, "g", T0 + 5) == 1
    assert store.expire(A, "g", T0 + 5) == 0
    assert store.streams(A, "g") == ["mixed"]
    mixed = store.stream(A, "g", "mixed")
    assert mixed is not None and mixed.first_event_at == T0 + 10
    group = store.group(A, "g")
    assert group is not None and group.stored_bytes == len("kept ✓\n".encode())
    assert store.streams(B, "g") == ["old"]


def test_a_deleted_group_comes_back_with_new_events(store: LogStore) -> None:
    put(store, "g", "s", (T0, "before\n"))
    assert store.delete_group(A, "g")
    assert not store.delete_group(A, "g")
    put(store, "g", "s", (T0 + 1, "after\n"))
    assert [e.message for e in store.events(A, "g", "s")] == ["after\n"]
    assert store.group(A, "g") is not None


def test_stream_rows_keep_first_latest_bytes_and_ingestion_over_batches(store: LogStore) -> None:
    """One append touching a stream that exists and one that does not; then a batch of
    older events (a late flush): first stays, last is the latest seen, bytes add up."""
    put(store, "g", "old", (T0 + 10, "ab\n"))
    store.append(
        [
            StreamBatch(A, "g", "old", [(T0 + 20, "cd\n"), (T0 + 30, "é\n")]),
            StreamBatch(A, "g", "new", [(T0 + 25, "x\n")]),
        ],
        T0 + 40,
    )
    store.append([StreamBatch(A, "g", "old", [(T0 + 5, "late\n")])], T0 + 50)
    old, new = store.stream(A, "g", "old"), store.stream(A, "g", "new")
    assert old is not None and new is not None
    assert (old.first_event_at, old.last_event_at, old.last_ingested_at) == (
        T0 + 10,
        T0 + 30,
        T0 + 50,
    )
    assert (new.created_at, new.first_event_at, new.last_event_at) == (T0 + 40, T0 + 25, T0 + 25)
    group = store.group(A, "g")
    assert group is not None and group.stored_bytes == len("ab\ncd\né\nlate\nx\n".encode())
