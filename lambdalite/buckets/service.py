"""BucketService: buckets, their notification configurations, and turning object changes
into async events (docs/decisions/0503-buckets.md).

A bucket belongs to one account. Its directory is `<data dir>/buckets/<account>/<name>`
unless the root account names another (`--path`): any directory the server can read,
outside the data dir and not overlapping another bucket's. Only root may, because a
bucket's objects are served to its account's keys and functions: letting any account
name a path would let it read the host's files.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from lambdalite.asyncinvoke.model import AsyncEvent
from lambdalite.buckets import files
from lambdalite.buckets.model import Bucket, BucketKind, ObjectChange
from lambdalite.buckets.names import check_bucket_name
from lambdalite.buckets.notifications import CheckFunction, parse_configurations
from lambdalite.buckets.s3_event import s3_event, s3_record
from lambdalite.buckets.store import BucketExists, BucketStore, Enqueue
from lambdalite.errors import (
    AccessDeniedException,
    ApiError,
    InvalidParameterValueException,
    ResourceConflictException,
)


class NoSuchBucket(ApiError):
    """S3's error name for a bucket that does not exist (HTTP 404)."""

    status = 404


class BucketService:
    def __init__(
        self,
        store: BucketStore,
        enqueue: Enqueue,
        check_function: CheckFunction,
        bucket_dir: Path,
        data_dir: Path,
        region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._enqueue = enqueue
        self._check_function = check_function
        self._bucket_dir = bucket_dir
        self._data_dir = data_dir
        self.region = region
        self._clock = clock

    # -- buckets --------------------------------------------------------------------------
    def create(
        self, account_id: str, name: str, path: str | None, external: bool, is_root: bool
    ) -> Bucket:
        check_bucket_name(name)
        if self._store.get(account_id, name) is not None:
            raise _exists(name)
        if external and path:
            raise InvalidParameterValueException(
                "An external bucket lives in an S3-compatible store: it has no path here."
            )
        root: Path | None = None
        if not external:
            root = self._directory(account_id, name, path, is_root)
        bucket = Bucket(
            account_id,
            name,
            BucketKind.EXTERNAL if external else BucketKind.DIRECTORY,
            str(root) if root else None,
            self._clock(),
        )
        # What is already there is the starting point: it triggers nothing until changed.
        baseline = {k: f.state for k, f in files.scan(root).items()} if root else {}
        try:
            self._store.insert(bucket, baseline)
        except BucketExists:
            raise _exists(name) from None
        return bucket

    def get(self, account_id: str, name: str) -> Bucket:
        found = self._store.get(account_id, name)
        if found is None:
            raise NoSuchBucket(f"The specified bucket does not exist: {name}")
        return found

    def directory(self, account_id: str, name: str) -> Path:
        """A directory bucket's root (objects can be read and written there)."""
        bucket = self.get(account_id, name)
        if bucket.path is None:
            raise InvalidParameterValueException(
                f"Bucket {name} is external: its objects live in the S3-compatible store that "
                "notifies it, not on this server."
            )
        return Path(bucket.path)

    def of_account(self, account_id: str) -> list[Bucket]:
        return self._store.of_account(account_id)

    def delete(self, account_id: str, name: str) -> None:
        """Forget a bucket and its notifications; its directory and files stay on disk."""
        if not self._store.remove(account_id, name):
            raise NoSuchBucket(f"The specified bucket does not exist: {name}")

    def put_notifications(self, account_id: str, name: str, document: Any) -> Bucket:
        """Replace the bucket's configurations (S3's PutBucketNotificationConfiguration)."""
        self.get(account_id, name)
        found = parse_configurations(document, account_id, self.region, self._check_function)
        if not self._store.set_notifications(account_id, name, found):
            raise NoSuchBucket(f"The specified bucket does not exist: {name}")
        return self.get(account_id, name)

    def add_notification(self, account_id: str, name: str, item: Any) -> Bucket:
        """Add one configuration, replacing the one with the same Id (lambdalite's own
        convenience: S3 only replaces the whole configuration)."""
        bucket = self.get(account_id, name)
        (added,) = parse_configurations(
            {"LambdaFunctionConfigurations": [item]},
            account_id,
            self.region,
            self._check_function,
        )
        kept = [n for n in bucket.notifications if n.id != added.id]
        if not self._store.set_notifications(account_id, name, [*kept, added]):
            raise NoSuchBucket(f"The specified bucket does not exist: {name}")
        return self.get(account_id, name)

    # -- notifying ------------------------------------------------------------------------
    def record(self, bucket: Bucket, changes: list[ObjectChange]) -> list[ObjectChange]:
        """Store the changes found in a directory bucket and accept their events, at once."""
        now = self._clock()

        def events(change: ObjectChange, sequence: int) -> list[AsyncEvent]:
            return [
                self._event(bucket.account_id, n.function_name, n.qualifier, record, now)
                for n in bucket.notifications
                if n.wants(change.kind.value, change.key)
                for record in [s3_record(bucket, change, n.id, sequence, self.region)]
            ]

        return self._store.record(bucket, changes, events, self._enqueue)

    def accept_records(self, account_id: str, records: Sequence[Mapping[str, Any]]) -> int:
        """Route an S3-compatible store's notification records (already checked by
        `inbound.parse`) to the account's external buckets' functions, and accept them
        all or none. Returns how many events were accepted."""
        now = self._clock()
        batch: list[AsyncEvent] = []
        for record in records:
            name = record["s3"]["bucket"]["name"]
            bucket = self._store.get(account_id, name)
            if bucket is None:
                raise NoSuchBucket(
                    f"The specified bucket does not exist: {name} (create it with "
                    f"`lambdalite buckets create {name} --external`)"
                )
            if bucket.kind is not BucketKind.EXTERNAL:
                raise ResourceConflictException(
                    f"Bucket {name} is a directory bucket of this server; webhooks feed "
                    "external buckets (create one with --external)."
                )
            event_name = str(record["eventName"]).removeprefix("s3:")
            key = unquote_plus(record["s3"]["object"]["key"])
            for n in bucket.notifications:
                if n.wants(event_name, key):
                    batch.append(
                        self._event(
                            account_id,
                            n.function_name,
                            n.qualifier,
                            _as_aws(record, event_name, n.id),
                            now,
                        )
                    )
        if batch:
            self._store.enqueue(batch, self._enqueue)
        return len(batch)

    # -- helpers --------------------------------------------------------------------------
    def _event(
        self,
        account_id: str,
        function: str,
        qualifier: str | None,
        record: Mapping[str, Any],
        now: float,
    ) -> AsyncEvent:
        return AsyncEvent(
            request_id=str(uuid.uuid4()),
            account_id=account_id,
            function_name=function,
            qualifier=qualifier,
            payload=s3_event(dict(record)),
            enqueued_at=now,
            due_at=now,
            trigger="bucket",
        )

    def _directory(self, account_id: str, name: str, path: str | None, is_root: bool) -> Path:
        if not path:
            root = self._bucket_dir / account_id / name
            root.mkdir(parents=True, exist_ok=True)
            return root
        if not is_root:
            raise AccessDeniedException(
                "Only the root account may make a bucket of a directory it names (--path): "
                "a bucket's files are readable through the API by its account."
            )
        given = Path(path)
        if not given.is_absolute():
            raise InvalidParameterValueException(f"The path {path} is not absolute.")
        if not given.is_dir():
            raise InvalidParameterValueException(f"The path {path} is not a directory here.")
        root = Path(os.path.realpath(given))
        data_dir = Path(os.path.realpath(self._data_dir))
        if _overlap(root, data_dir):
            raise InvalidParameterValueException(
                f"The path {path} overlaps lambdalite's data directory."
            )
        for other in self._directories():
            if _overlap(root, Path(other)):
                raise InvalidParameterValueException(
                    f"The path {path} overlaps another bucket's directory ({other})."
                )
        return root

    def _directories(self) -> Iterable[str]:
        return [b.path for b in self._store.directories() if b.path]


def _as_aws(record: Mapping[str, Any], event_name: str, configuration_id: str) -> dict[str, Any]:
    """A store's record as the function sees it: AWS's eventName (MinIO writes
    "s3:ObjectCreated:Put") and the configurationId of the configuration that matched."""
    copy = dict(record)
    copy["eventName"] = event_name
    s3 = dict(copy["s3"])
    s3["configurationId"] = configuration_id
    copy["s3"] = s3
    return copy


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _overlap(a: Path, b: Path) -> bool:
    return _inside(a, b) or _inside(b, a)


def _exists(name: str) -> ResourceConflictException:
    return ResourceConflictException(f"Bucket {name} already exists in this account.")
