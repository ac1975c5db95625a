"""BucketWatcher: notices new, changed and removed files in directory buckets, whatever
process wrote them, and records each finished change once (docs/decisions/0503).

One pass (`run_once`):
    buckets   follow the store's list of directory buckets (new ones are watched and
              scanned, removed ones dropped)
    events    with inotify: read what the kernel queued. A file's CREATE or MODIFY marks
              it as being written; CLOSE_WRITE or MOVED_TO as finished; ATTRIB, DELETE
              and MOVED_FROM make it a candidate. A new directory is watched and
              scanned; a directory removed or moved away makes its known keys candidates.
              A queue overflow rescans everything.
    scans     without inotify, every pass; with it, when a bucket is first seen, after an
              overflow, and every `rescan_s` (what inotify cannot see: a shared file
              system written from another machine). A file whose size or mtime differs
              from the store's is a candidate; a known key with no file is one too.
    settle    a candidate is ready when no process has it open for writing (a read
              lease says so, files.being_written) and it was closed after its last write
              or its size, mtime and inode stayed the same since the previous pass. Its
              MD5 is computed, the stat checked again, and the change recorded: the new
              state and its async events in one transaction (store.record). A missing
              file whose key is known is a removal — unless the bucket's directory itself
              is missing (an unmounted disk is not a mass deletion).

The store remembers what was notified, so after a restart unchanged files stay quiet and
what changed while the server was down is noticed by the first scans.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from lambdalite.buckets import files
from lambdalite.buckets import inotify as ino
from lambdalite.buckets.files import FileFound
from lambdalite.buckets.model import Bucket, ChangeKind, ObjectChange, ObjectState
from lambdalite.buckets.names import TEMP_PREFIX
from lambdalite.buckets.store import BucketStore

log = logging.getLogger(__name__)

# (bucket, changes) -> the changes that were news (BucketService.record).
Record = Callable[[Bucket, list[ObjectChange]], list[ObjectChange]]
BATCH = 100  # changes recorded per transaction


class WatchMode(StrEnum):
    INOTIFY = "inotify"
    SCAN = "scan"


@dataclass
class _Candidate:
    last: FileFound | None = None  # what the previous pass saw
    closed: bool = False  # closed (or moved in) since it was last written


@dataclass
class _Watched:
    bucket: Bucket
    root: Path
    known: dict[str, ObjectState]  # the store's states (a cache of it)
    candidates: dict[str, _Candidate] = field(default_factory=dict)
    writing: set[str] = field(default_factory=set)  # open for writing, per inotify
    scan_due: bool = True
    scanned_at: float = 0.0


class BucketWatcher:
    def __init__(
        self,
        store: BucketStore,
        record: Record,
        mode: str = "auto",
        rescan_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._record = record
        self._rescan_s = rescan_s
        self._clock = clock
        self._watched: dict[tuple[str, str], _Watched] = {}
        self._wds: dict[int, tuple[tuple[str, str], str]] = {}  # wd -> (bucket, directory)
        # Made on the first pass, not here: a platform built and never served (tests
        # build many) must not hold one of the user's inotify instances (128 by default).
        self._inotify: ino.Inotify | None = None
        self.mode = WatchMode.SCAN
        if mode in ("auto", WatchMode.INOTIFY):
            try:
                ino.Inotify().close()
                self.mode = WatchMode.INOTIFY
            except ino.InotifyUnavailable as exc:
                if mode == WatchMode.INOTIFY:
                    raise
                log.warning("buckets: %s; scanning directories instead", exc)
        elif mode != WatchMode.SCAN:
            raise ValueError(f"bucket watch mode must be auto, inotify or scan, not {mode!r}")

    @property
    def pending(self) -> int:
        """Changes seen but not notified yet (being written, or not yet stable)."""
        return sum(len(w.candidates) for w in self._watched.values())

    async def run_once(self) -> int:
        """One pass; returns how many changes were notified."""
        return await run_in_threadpool(self.pass_once)

    def pass_once(self) -> int:
        if self.mode is WatchMode.INOTIFY and self._inotify is None:
            self._start_inotify()
        self._follow_buckets()
        if self._inotify is not None:
            self._read_events()
        notified = 0
        now = self._clock()
        for watched in list(self._watched.values()):
            if not watched.root.is_dir():
                continue  # gone or unmounted: notify nothing, rescan once it is back
            rescan = self._inotify is not None and now - watched.scanned_at >= self._rescan_s
            if watched.scan_due or self._inotify is None or rescan:
                self._scan(watched, now)
            notified += self._settle(watched)
        return notified

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._watched.clear()
        self._wds.clear()

    def _start_inotify(self) -> None:
        try:
            self._inotify = ino.Inotify()
        except ino.InotifyUnavailable as exc:  # e.g. out of instances (max_user_instances)
            log.warning("buckets: %s; scanning directories instead", exc)
            self.mode = WatchMode.SCAN
            return
        self._watched.clear()  # taken on again next, with watches

    # -- buckets --------------------------------------------------------------------------
    def _follow_buckets(self) -> None:
        current = {(b.account_id, b.name): b for b in self._store.directories()}
        for key in list(self._watched):
            if key not in current or current[key].path != self._watched[key].bucket.path:
                self._drop(key)
        for key, bucket in current.items():
            watched = self._watched.get(key)
            if watched is not None:
                watched.bucket = bucket  # its notifications may have changed
                continue
            assert bucket.path is not None  # a directory bucket has one
            known = self._store.objects(bucket.account_id, bucket.name)
            watched = _Watched(bucket, Path(bucket.path), known)
            self._watched[key] = watched
            self._watch_tree(key, watched.root, "")

    def _drop(self, key: tuple[str, str]) -> None:
        self._watched.pop(key, None)
        for wd, (owner, _directory) in list(self._wds.items()):
            if owner == key:
                del self._wds[wd]
                if self._inotify is not None:
                    self._inotify.remove(wd)

    def _watch_tree(self, key: tuple[str, str], root: Path, under: str) -> None:
        """Watch a directory of a bucket and every directory below it."""
        if self._inotify is None:
            return
        start = root / under if under else root
        for directory, subdirs, _files in os.walk(start):  # os.walk does not follow links
            subdirs[:] = [d for d in subdirs if not d.startswith(TEMP_PREFIX)]
            relative = Path(directory).relative_to(root).as_posix()
            try:
                wd = self._inotify.add(directory)
            except OSError as exc:
                # Out of watches (fs.inotify.max_user_watches) or gone: periodic rescans
                # still find this directory's changes, only later.
                log.warning("buckets: cannot watch %s: %s", directory, exc)
                continue
            self._wds[wd] = (key, "" if relative == "." else relative)

    # -- inotify --------------------------------------------------------------------------
    def _read_events(self) -> None:
        assert self._inotify is not None
        for event in self._inotify.read():
            if event.mask & ino.IN_Q_OVERFLOW:
                log.warning("buckets: inotify queue overflowed; rescanning every bucket")
                for each in self._watched.values():
                    each.scan_due = True
                continue
            owner = self._wds.get(event.wd)
            if owner is None:
                continue
            if event.mask & ino.IN_IGNORED:  # the directory went away, with its watch
                del self._wds[event.wd]
                continue
            watched = self._watched.get(owner[0])
            if watched is None or not event.name or event.name.startswith(TEMP_PREFIX):
                continue
            key = f"{owner[1]}/{event.name}" if owner[1] else event.name
            if event.is_dir:
                self._on_directory(owner[0], watched, key, event.mask)
            else:
                self._on_file(watched, key, event.mask)

    def _on_directory(self, owner: tuple[str, str], watched: _Watched, key: str, mask: int) -> None:
        if mask & (ino.IN_CREATE | ino.IN_MOVED_TO):
            self._watch_tree(owner, watched.root, key)
            for found in files.scan(watched.root, key):
                watched.candidates.setdefault(found, _Candidate())
        if mask & (ino.IN_DELETE | ino.IN_MOVED_FROM):
            prefix = key + "/"
            for known in [k for k in watched.known if k.startswith(prefix)]:
                watched.candidates.setdefault(known, _Candidate())

    @staticmethod
    def _on_file(watched: _Watched, key: str, mask: int) -> None:
        candidate = watched.candidates.setdefault(key, _Candidate())
        if mask & (ino.IN_CREATE | ino.IN_MODIFY):
            watched.writing.add(key)
            candidate.closed = False
        if mask & (ino.IN_CLOSE_WRITE | ino.IN_MOVED_TO):
            watched.writing.discard(key)
            candidate.closed = True
        if mask & (ino.IN_DELETE | ino.IN_MOVED_FROM):
            watched.writing.discard(key)
            candidate.closed = False

    # -- scans and settling ---------------------------------------------------------------
    def _scan(self, watched: _Watched, now: float) -> None:
        found = files.scan(watched.root)
        for key, item in found.items():
            if watched.known.get(key) != item.state:
                watched.candidates.setdefault(key, _Candidate())
        for key in watched.known:
            if key not in found:
                watched.candidates.setdefault(key, _Candidate())
        watched.scan_due = False
        watched.scanned_at = now

    def _settle(self, watched: _Watched) -> int:
        ready: list[ObjectChange] = []
        for key, candidate in list(watched.candidates.items()):
            change = self._ready(watched, key, candidate)
            if change is not None:
                ready.append(change)
        notified = 0
        for start in range(0, len(ready), BATCH):
            batch = ready[start : start + BATCH]
            # If this raises (the store is unreachable), the candidates stay for next pass.
            notified += len(self._record(watched.bucket, batch))
            for change in batch:  # recorded now, or found already stored: the store has it
                watched.candidates.pop(change.key, None)
                if change.state is None:
                    watched.known.pop(change.key, None)
                else:
                    watched.known[change.key] = change.state
        return notified

    def _ready(self, watched: _Watched, key: str, candidate: _Candidate) -> ObjectChange | None:
        """The change to record for a candidate, or None (not ready yet, or nothing to do:
        such a candidate is dropped when there is nothing left to wait for)."""
        now = files.look(watched.root, key)
        if now is None:
            if key in watched.known:
                return ObjectChange(ChangeKind.DELETE, key, None, event_time=self._clock())
            watched.candidates.pop(key, None)
            watched.writing.discard(key)
            return None
        if watched.known.get(key) == now.state:
            watched.candidates.pop(key, None)
            return None
        stable = candidate.closed or candidate.last == now
        candidate.last = now
        if key in watched.writing or not stable:
            return None
        path = watched.root / key
        if files.being_written(path):
            candidate.closed = False
            return None
        try:
            etag = files.md5_of(path)
        except OSError:
            return None  # replaced or removed meanwhile: the next pass sees what it is
        if files.look(watched.root, key) != now:
            candidate.closed = False  # written again while we read it
            return None
        return ObjectChange(
            ChangeKind.PUT, key, now.state, etag, event_time=now.state.mtime_ns / 1e9
        )
