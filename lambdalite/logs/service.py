"""LogService: CloudWatch Logs' semantics over the LogStore, for the Logs API.

What is AWS's here and not the store's: which parameters go together, default limits,
the 1 MB page, token directions, inclusive and exclusive time bounds (GetLogEvents'
endTime is exclusive, FilterLogEvents' inclusive), retention values, error messages.
The botocore model `logs/2014-03-28` and its documentation strings are the spec.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from lambdalite.logs.errors import (
    InvalidParameterException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    group_not_found,
    stream_not_found,
)
from lambdalite.logs.filter_pattern import FilterPatternError, parse
from lambdalite.logs.tokens import (
    Direction,
    page_token,
    read_page_token,
    read_stream_token,
    stream_token,
)
from lambdalite.store.logs import EventQuery, LogEvent, LogGroup, LogStore, LogStream, Position

# PutRetentionPolicy's allowed values (the model's documentation of `Days`).
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
DEFAULT_EVENTS = 10_000
DEFAULT_ITEMS = 50
# "Each page returned can contain up to 1 MB of log events": an event counts its UTF-8
# message plus 26 bytes, as PutLogEvents' batch size does.
PAGE_BYTES = 1_048_576
EVENT_OVERHEAD = 26
# Events one FilterLogEvents call looks at when its pattern matches little; AWS also
# answers partial or empty pages with a nextToken rather than scan without bound.
SCAN_BUDGET = 50_000


@dataclass(frozen=True)
class EventPage:
    """A GetLogEvents answer: events in time order and the tokens on either side."""

    events: list[LogEvent]
    forward: str
    backward: str


@dataclass(frozen=True)
class FilteredPage:
    events: list[LogEvent]
    next_token: str | None


class LogService:
    def __init__(
        self,
        store: LogStore,
        region: str,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._store = store
        self._region = region
        self._clock_ms = clock_ms

    # -- names ------------------------------------------------------------------------------
    def group_arn(self, account_id: str, name: str) -> str:
        return f"arn:aws:logs:{self._region}:{account_id}:log-group:{name}"

    def group_name(self, account_id: str, name: str | None, identifier: str | None) -> str:
        """The group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN,
        with or without the trailing `:*`); another account's ARN names nothing."""
        if name and identifier:
            raise InvalidParameterException(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters."
            )
        if not (name or identifier):
            raise InvalidParameterException(
                "Either logGroupName or logGroupIdentifier is required."
            )
        if name or not identifier:
            return name or ""
        if not identifier.startswith("arn:"):
            return identifier
        # arn:aws:logs:<region>:<account>:log-group:<name>[:*]
        parts = identifier.split(":", 6)
        if len(parts) != 7 or parts[2] != "logs" or parts[5] != "log-group":
            raise InvalidParameterException(f"Invalid log group ARN: {identifier}")
        if parts[4] != account_id:
            raise group_not_found()
        return parts[6].removesuffix(":*")

    def _own_group(self, account_id: str, identifier: str) -> str | None:
        """A name or ARN from a list of identifiers; another account's ARN names nothing."""
        try:
            return self.group_name(account_id, None, identifier)
        except ResourceNotFoundException:
            return None

    # -- groups -----------------------------------------------------------------------------
    def create_group(self, account_id: str, name: str) -> None:
        if not self._store.create_group(account_id, name, self._clock_ms()):
            raise ResourceAlreadyExistsException("The specified log group already exists")

    def delete_group(self, account_id: str, name: str) -> None:
        if not self._store.delete_group(account_id, name):
            raise group_not_found()

    def put_retention(self, account_id: str, name: str, days: int) -> None:
        if days not in RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in RETENTION_DAYS)
            raise InvalidParameterException(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
                f"satisfy constraint: Member must satisfy enum value set: [{allowed}]"
            )
        if not self._store.set_retention(account_id, name, days):
            raise group_not_found()

    def delete_retention(self, account_id: str, name: str) -> None:
        if not self._store.set_retention(account_id, name, None):
            raise group_not_found()

    def describe_groups(
        self,
        account_id: str,
        prefix: str | None = None,
        containing: str | None = None,
        names: Sequence[str] | None = None,
        limit: int | None = None,
        token: str | None = None,
    ) -> tuple[list[LogGroup], str | None]:
        if prefix and containing:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        if names is not None:
            found = (self._own_group(account_id, identifier) for identifier in names)
            names = [name for name in found if name is not None]
        after = str(read_page_token(token, str)[0]) if token else None
        limit = limit or DEFAULT_ITEMS
        groups = self._store.groups(account_id, limit + 1, prefix, containing, names, after)
        if len(groups) <= limit:
            return groups, None
        return groups[:limit], page_token(groups[limit - 1].name)

    # -- streams ----------------------------------------------------------------------------
    def describe_streams(
        self,
        account_id: str,
        group: str,
        prefix: str | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        token: str | None = None,
    ) -> tuple[list[LogStream], str | None]:
        by_last_event = order_by == "LastEventTime"
        if by_last_event and prefix:
            raise InvalidParameterException(
                "Cannot order by LastEventTime with a logStreamNamePrefix."
            )
        self._existing(account_id, group)
        after = None
        if token:
            at, name = read_page_token(token, int, str)
            after = (int(at), str(name))
        limit = limit or DEFAULT_ITEMS
        streams = self._store.stream_page(
            account_id, group, limit + 1, prefix, by_last_event, descending, after
        )
        if len(streams) <= limit:
            return streams, None
        last = streams[limit - 1]
        return streams[:limit], page_token(last.last_event_at or 0, last.name)

    # -- events -----------------------------------------------------------------------------
    def get_events(
        self,
        account_id: str,
        group: str,
        stream: str,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
        from_head: bool = False,
        token: str | None = None,
    ) -> EventPage:
        """One page of a stream. Without a token: its first events (from the head) or
        its last (the default); a token moves on from where its page ended, and comes
        back unchanged when there is nothing further that way."""
        self._existing(account_id, group)
        if self._store.stream(account_id, group, stream) is None:
            raise stream_not_found()
        position: Position | None = None
        direction = Direction.FORWARD if from_head else Direction.BACKWARD
        if token:
            direction, position = read_stream_token(token)
        forward = direction is Direction.FORWARD
        query = EventQuery(
            account_id, group, [stream], start=start, end=end, after=position, ascending=forward
        )
        events = _fit(self._store.read(query, limit or DEFAULT_EVENTS))
        if not forward:
            events.reverse()
        if events:
            return EventPage(
                events,
                stream_token(Direction.FORWARD, events[-1].position),
                stream_token(Direction.BACKWARD, events[0].position),
            )
        here = position or Position(start or 0, 0)
        return EventPage(
            [],
            token if token and forward else stream_token(Direction.FORWARD, here),
            token if token and not forward else stream_token(Direction.BACKWARD, here),
        )

    def filter_events(
        self,
        account_id: str,
        group: str,
        streams: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        start: int | None = None,
        end: int | None = None,
        pattern: str | None = None,
        limit: int | None = None,
        from_head: bool = True,
        token: str | None = None,
    ) -> FilteredPage:
        """Matching events of a group, interleaved across its streams in time order. A
        page ends at `limit` events, 1 MB, or SCAN_BUDGET events looked at; a nextToken
        means there may be more (the page before it may be short, even empty)."""
        if streams and stream_prefix:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        try:
            matcher = parse(pattern)
        except FilterPatternError as error:
            raise InvalidParameterException(str(error)) from None
        self._existing(account_id, group)
        query = EventQuery(
            account_id,
            group,
            streams or None,
            stream_prefix,
            start,
            None if end is None else end + 1,  # FilterLogEvents' endTime is inclusive
            ascending=from_head,
        )
        if token:
            kind, at, event_id = read_page_token(token, str, int, int)
            query = replace(query, after=Position(int(at), int(event_id)), ascending=kind == "f")
        limit = limit or DEFAULT_EVENTS
        horizon = None
        if not matcher.matches_everything:
            horizon = self._store.horizon(query, SCAN_BUDGET)
            query = replace(query, until=horizon)
        found = self._store.read(query, limit + 1, matcher)
        events = _fit(found[:limit])
        resume: Position | None = horizon
        if len(events) < len(found):
            resume = events[-1].position
        if resume is None:
            return FilteredPage(events, None)
        kind = "f" if query.ascending else "b"
        return FilteredPage(events, page_token(kind, resume.timestamp, resume.event_id))

    def _existing(self, account_id: str, group: str) -> LogGroup:
        found = self._store.group(account_id, group)
        if found is None:
            raise group_not_found()
        return found


def _fit(events: list[LogEvent]) -> list[LogEvent]:
    """The leading events that fit in one page's 1 MB (at least one, however large)."""
    total = 0
    for count, event in enumerate(events):
        total += len(event.message.encode()) + EVENT_OVERHEAD
        if total > PAGE_BYTES and count:
            return events[:count]
    return events
