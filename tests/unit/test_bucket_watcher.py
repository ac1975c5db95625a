"""The bucket watcher against real directories and a real store, with inotify and with
scans: what a user writing files (with any tool) sees notified, once, and only finished.

Passes are driven with `pass_once()`; nothing sleeps. The async events the watcher
enqueues are read back from the store's async queue, where delivery would take them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.buckets import files
from lambdalite.buckets.service import BucketService
from lambdalite.buckets.store import BucketStore
from lambdalite.buckets.watcher import BucketWatcher
from lambdalite.control.accounts import AccountService
from lambdalite.store.accounts import AccountStore
from lambdalite.store.async_schema import async_events
from lambdalite.store.database import Database

MODES = ["inotify", "scan"]


@dataclass
class World:
    db: Database
    service: BucketService
    store: BucketStore
    account: str
    root: Path
    mode: str

    watchers: list[BucketWatcher] = field(default_factory=list)

    def watcher(self) -> BucketWatcher:
        self.watchers.append(BucketWatcher(self.store, self.service.record, self.mode))
        return self.watchers[-1]

    def events(self) -> list[dict[str, Any]]:
        """The S3 records enqueued so far, oldest first, and the functions they are for."""
        with self.db.read() as conn:
            rows = conn.execute(async_events.select().order_by(async_events.c.enqueued_at))
            found = []
            for row in rows:
                (record,) = json.loads(row.payload)["Records"]
                found.append({**record, "function": row.function_name})
        return sorted(found, key=lambda r: r["s3"]["object"]["sequencer"])


@pytest.fixture(params=MODES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.migrate()
    account = AccountService(AccountStore(db)).ensure_root().account.account_id
    store = BucketStore(db)
    service = BucketService(
        store,
        EventStore(db).insert,
        lambda *_: None,  # every function exists
        tmp_path / "buckets",
        tmp_path / "data",
        "us-east-1",
    )
    service.create(account, "photos", None, external=False, is_root=True)
    service.put_notifications(
        account,
        "photos",
        {
            "LambdaFunctionConfigurations": [
                {
                    "Id": "all",
                    "LambdaFunctionArn": "thumbnail",
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    root = tmp_path / "buckets" / account / "photos"
    world = World(db, service, store, account, root, request.param)
    yield world
    for watcher in world.watchers:
        watcher.close()
    db.dispose()


def settle(watcher: BucketWatcher, passes: int = 3) -> int:
    """Run passes (a scan needs two to call a file finished); returns what was notified."""
    return sum(watcher.pass_once() for _ in range(passes))


def keys(world: World) -> list[tuple[str, str]]:
    return [(r["eventName"], r["s3"]["object"]["key"]) for r in world.events()]


def test_a_file_copied_in_by_another_process_is_notified_once(world: World, tmp_path: Path) -> None:
    watcher = world.watcher()
    settle(watcher)
    source = tmp_path / "red flower.jpg"
    source.write_bytes(b"\xff\xd8" + b"x" * 100_000)
    subprocess.run(["cp", str(source), str(world.root / "red flower.jpg")], check=True)
    assert settle(watcher) == 1
    assert settle(watcher) == 0, "an unchanged file is not notified again"
    (record,) = world.events()
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"] == {
        "key": "red+flower.jpg",
        "size": 100_002,
        "eTag": files.md5_of(source),
        "sequencer": "000000000000000001",
    }
    assert record["function"] == "thumbnail"


def test_a_file_still_being_written_is_not_notified_until_closed(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    with open(world.root / "big.bin", "wb") as partial:
        partial.write(b"a" * 4096)
        partial.flush()
        os.fsync(partial.fileno())
        # The writer stalls with the file open: many passes, size and mtime unchanged.
        assert settle(watcher, passes=5) == 0
        assert watcher.pending == 1
        partial.write(b"b" * 4096)
    assert settle(watcher) == 1
    ((record),) = world.events()
    assert record["s3"]["object"]["size"] == 8192


def test_an_atomic_write_notifies_the_object_never_its_temporary_file(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    written = files.write_atomically(world.root, "albums/2025/cat.jpg", b"meow")
    assert settle(watcher) == 1
    assert keys(world) == [("ObjectCreated:Put", "albums/2025/cat.jpg")]
    assert world.events()[0]["s3"]["object"]["eTag"] == written.etag
    assert not [p for p in world.root.rglob("*") if p.name.startswith(".lambdalite-tmp-")]


def test_a_restart_neither_repeats_nor_loses_notifications(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    (world.root / "a.txt").write_text("one")
    (world.root / "b.txt").write_text("two")
    assert settle(watcher) == 2
    watcher.close()
    # While the server is down: one file changes, one appears.
    (world.root / "b.txt").write_text("two, edited")
    (world.root / "c.txt").write_text("three")
    restarted = world.watcher()
    assert settle(restarted) == 2
    assert keys(world)[2:] == [("ObjectCreated:Put", "b.txt"), ("ObjectCreated:Put", "c.txt")]
    restarted.close()
    again = world.watcher()
    assert settle(again) == 0


def test_a_changed_mtime_alone_is_not_an_upload(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    (world.root / "a.txt").write_text("content")
    assert settle(watcher) == 1
    os.utime(world.root / "a.txt", (1_000_000_000, 1_000_000_000))  # touch, cp -p
    assert settle(watcher) == 0
    (world.root / "a.txt").write_text("content, changed")
    assert settle(watcher) == 1


def test_removing_and_renaming_files(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    (world.root / "old.txt").write_text("x")
    (world.root / "gone.txt").write_text("y")
    assert settle(watcher) == 2
    (world.root / "old.txt").rename(world.root / "new.txt")
    (world.root / "gone.txt").unlink()
    assert settle(watcher) == 3
    assert sorted(keys(world)[2:]) == [
        ("ObjectCreated:Put", "new.txt"),
        ("ObjectRemoved:Delete", "gone.txt"),
        ("ObjectRemoved:Delete", "old.txt"),
    ]
    removal = next(r for r in world.events() if r["eventName"] == "ObjectRemoved:Delete")
    # S3 sends neither size nor eTag for a removal.
    assert set(removal["s3"]["object"]) == {"key", "sequencer"}


def test_new_directories_are_watched_and_their_files_notified(world: World) -> None:
    watcher = world.watcher()
    settle(watcher)
    deep = world.root / "2025" / "march"
    deep.mkdir(parents=True)
    (deep / "one.jpg").write_bytes(b"1")
    assert settle(watcher) == 1
    (deep / "two.jpg").write_bytes(b"2")
    assert settle(watcher) == 1
    assert keys(world) == [
        ("ObjectCreated:Put", "2025/march/one.jpg"),
        ("ObjectCreated:Put", "2025/march/two.jpg"),
    ]
    shutil.rmtree(world.root / "2025")
    assert settle(watcher) == 2  # both removed


def test_a_missing_bucket_directory_is_not_a_mass_deletion(world: World, tmp_path: Path) -> None:
    watcher = world.watcher()
    settle(watcher)
    (world.root / "a.txt").write_text("a")
    assert settle(watcher) == 1
    world.root.rename(tmp_path / "unmounted")
    assert settle(watcher) == 0
    (tmp_path / "unmounted").rename(world.root)
    assert settle(watcher) == 0


def test_links_are_not_objects(world: World, tmp_path: Path) -> None:
    watcher = world.watcher()
    settle(watcher)
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    (world.root / "link.txt").symlink_to(secret)
    (world.root / "linked-dir").symlink_to(tmp_path)
    assert settle(watcher) == 0
    assert world.events() == []


def test_files_present_when_the_bucket_is_created_trigger_nothing(
    world: World, tmp_path: Path
) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "old.jpg").write_bytes(b"old")
    world.service.create(world.account, "archive", str(existing), external=False, is_root=True)
    world.service.put_notifications(
        world.account,
        "archive",
        {
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": "thumbnail", "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    watcher = world.watcher()
    assert settle(watcher) == 0
    (existing / "new.jpg").write_bytes(b"new")
    assert settle(watcher) == 1
    assert [r["s3"]["bucket"]["name"] for r in world.events()] == ["archive"]
