"""`lambdalite logs`: a function's log lines, read through the Logs API as boto3 reads them.

FilterLogEvents returns a group's events from all its streams (sandboxes) in time order,
which is what a person wants to read; `--request-id` narrows to one invocation's START
to REPORT, and `--follow` polls. Everything goes through the HTTP API, never the store.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.config
from botocore.exceptions import ClientError

from lambdalite.cli.client import Target
from lambdalite.logs.filter_pattern import parse

Event = dict[str, Any]
_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_SINCE = re.compile(r"(\d+)\s*([smhdw])")
# Lines are stored a flush (0.2 s) after they are stamped, and several servers may share
# one store: a poll looks back this far and skips the events it has already shown.
FOLLOW_OVERLAP_MS = 5_000
_sleep = time.sleep  # between polls; tests replace it


def now_ms() -> int:
    return int(time.time() * 1000)


def since_ms(text: str, now_ms: int) -> int:
    """The start time of `--since 10m` (s, m, h, d or w)."""
    match = _SINCE.fullmatch(text.strip())
    if not match:
        raise ValueError(
            f"--since expects a number and a unit (30s, 10m, 2h, 7d, 1w), got {text!r}"
        )
    return now_ms - int(match[1]) * _UNITS_MS[match[2]]


def logs_client(target: Target) -> Any:
    config = botocore.config.Config(retries={"max_attempts": 1})
    return target.session.client("logs", endpoint_url=target.endpoint, config=config)


def log_group(lambda_client: Any, name: str) -> tuple[str, bool]:
    """The function's log group (its LoggingConfig, `/aws/lambda/<name>` by default), and
    whether the function exists: a deleted function's logs stay readable."""
    try:
        config = lambda_client.get_function_configuration(FunctionName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return f"/aws/lambda/{name}", False
    group: str = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
    return group, True


class LogReader:
    """The events of one log group, optionally matching a filter pattern."""

    def __init__(self, client: Any, group: str, pattern: str | None = None) -> None:
        parse(pattern)  # a pattern the server would refuse fails here, before any call
        self._client = client
        self.group = group
        self._pattern = pattern

    def events(self, start: int | None = None, pattern: str | None = None) -> Iterator[Event]:
        """Every matching event from `start` on, in time order; no group, no events."""
        params: dict[str, Any] = {"logGroupName": self.group}
        if start is not None:
            params["startTime"] = start
        if pattern or self._pattern:
            params["filterPattern"] = pattern or self._pattern
        try:
            for page in self._client.get_paginator("filter_log_events").paginate(**params):
                yield from page["events"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise

    def exists(self) -> bool:
        found = self._client.describe_log_groups(logGroupNamePrefix=self.group)["logGroups"]
        return any(g["logGroupName"] == self.group for g in found)

    def invocation(self, request_id: str, start: int | None = None) -> list[Event]:
        """Each run of `request_id` (async retries reuse it), START to REPORT inclusive,
        with the lines between; only those matching the reader's pattern, if it has one."""
        begin = f"START RequestId: {request_id} "
        # Quoted: the id has hyphens, which a bare term would not allow on AWS.
        hits = self.events(start, pattern=f'"RequestId: {request_id}"')
        starts = [e for e in hits if e["message"].startswith(begin)]
        matcher = parse(self._pattern)
        lines: list[Event] = []
        for first in starts:
            lines += [e for e in self._run(first, request_id) if matcher.matches(e["message"])]
        return lines

    def _run(self, first: Event, request_id: str) -> list[Event]:
        """The lines of one run: from its START event to its REPORT, in its stream."""
        end = f"REPORT RequestId: {request_id}"
        pages = self._client.get_paginator("filter_log_events").paginate(
            logGroupName=self.group,
            logStreamNames=[first["logStreamName"]],
            startTime=first["timestamp"],
        )
        lines: list[Event] = []
        for page in pages:
            for event in page["events"]:
                if lines or event["eventId"] == first["eventId"]:
                    lines.append(event)
                if lines and event["message"].startswith(end):
                    return lines
        return lines


class Follower:
    """New events of a group at each poll, each shown once."""

    def __init__(self, reader: LogReader, start: int | None) -> None:
        self._reader = reader
        self._start = start
        self._newest: int | None = None
        self._seen: dict[str, int] = {}  # eventId -> timestamp, within the overlap

    def poll(self) -> list[Event]:
        since = self._start
        if self._newest is not None:
            since = max(since or 0, self._newest - FOLLOW_OVERLAP_MS)
        new = [e for e in self._reader.events(since) if e["eventId"] not in self._seen]
        for event in new:
            self._seen[event["eventId"]] = event["timestamp"]
            self._newest = max(self._newest or 0, event["timestamp"])
        if self._newest is not None:
            horizon = self._newest - FOLLOW_OVERLAP_MS
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        return new


def follow(follower: Follower, emit: Callable[[Event], None], interval_s: float = 1.0) -> None:
    """Print new events until interrupted (Ctrl-C ends it cleanly)."""
    try:
        while True:
            for event in follower.poll():
                emit(event)
            _sleep(interval_s)
    except KeyboardInterrupt:
        return
