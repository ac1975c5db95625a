"""What the bucket watcher costs (docs/decisions/0503-buckets.md): one idle pass over a
tree of N files with inotify and with scans, setting up inotify's watches, and the time
from a file's close to its notification being committed. Prints a table and the
machine; asserts nothing. `.venv/bin/python -m bench.bucket_watch [--files N ...]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from lambdalite.asyncinvoke.event_store import EventStore
from lambdalite.buckets.service import BucketService
from lambdalite.buckets.store import BucketStore
from lambdalite.buckets.watcher import BucketWatcher
from lambdalite.control.accounts import AccountService
from lambdalite.store.accounts import AccountStore
from lambdalite.store.database import Database

PER_DIRECTORY = 500
EVENTS = ["s3:ObjectCreated:*"]


def populate(root: Path, count: int) -> None:
    for i in range(count):
        directory = root / f"d{i // PER_DIRECTORY:04d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"f{i:07d}.bin").write_bytes(b"x" * 64)


def measure(count: int, mode: str, work: Path) -> dict[str, float]:
    db = Database(f"sqlite:///{work / f'{mode}-{count}.db'}")
    db.migrate()
    account = AccountService(AccountStore(db)).ensure_root().account.account_id
    store = BucketStore(db)
    service = BucketService(
        store, EventStore(db).insert, lambda *_: None, work / "b", work / "data", "us-east-1"
    )
    root = work / f"tree-{count}"
    if not root.exists():
        populate(root, count)
    name = f"{mode}-{count}"
    started = time.perf_counter()
    service.create(account, name, str(root), external=False, is_root=True)
    created = time.perf_counter() - started
    service.put_notifications(
        account,
        name,
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "f", "Events": EVENTS}]},
    )
    watcher = BucketWatcher(store, service.record, mode, rescan_s=1e9)
    started = time.perf_counter()
    watcher.pass_once()  # watches (inotify) and the first scan
    first = time.perf_counter() - started
    idle = []
    for _ in range(5):
        started = time.perf_counter()
        watcher.pass_once()
        idle.append(time.perf_counter() - started)
    latency = []
    for i in range(20):
        target = root / "d0000" / f"new{i}.bin"
        started = time.perf_counter()
        target.write_bytes(b"y" * 1024)
        passes = 0
        while not watcher.pass_once():
            passes += 1
        latency.append((time.perf_counter() - started, passes))
    watcher.close()
    db.dispose()
    return {
        "create (baseline stat walk)": created,
        "first pass": first,
        "idle pass": statistics.median(idle),
        "write -> committed": statistics.median(t for t, _ in latency),
        "passes before": statistics.median(p for _, p in latency),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="bucket-bench-") as tmp:
        for count in args.files:
            for mode in ("inotify", "scan"):
                found = measure(count, mode, Path(tmp))
                shown = ", ".join(
                    f"{k} {v * 1000:.1f} ms" if k != "passes before" else f"{k} {v:.0f}"
                    for k, v in found.items()
                )
                print(f"{count:>7} files, {mode:>7}: {shown}", flush=True)


if __name__ == "__main__":
    main()
