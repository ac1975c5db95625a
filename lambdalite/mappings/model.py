"""EventSourceMapping: a trigger that reads a queue or a stream and invokes a function
with batches of what it read; the Poller seam that does the reading, and the SourceRules
seam through which a kind of source other than lambdalite's queues sets its API rules.

A mapping keeps what every kind of source shares in fields of its own (function, source
ARN, batch size and window, response types, concurrency, filters) and what only one kind
uses in `source_settings`, under AWS's member names (a stream's StartingPosition, say), so
a new kind of source adds a `SourceKind`, SourceRules, a Poller and keys, never columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lambdalite.control.arns import FunctionRef
    from lambdalite.model import FunctionVersion

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
USER_INITIATED = "USER_INITIATED"


class MappingState(StrEnum):
    """AWS's states ("EventSourceMappingConfiguration.State"). Only Enabled and Disabled
    are stable: the others are on their way there, moved on by the PollerSupervisor."""

    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    UPDATING = "Updating"
    DELETING = "Deleting"

    @property
    def is_stable(self) -> bool:
        return self in (MappingState.ENABLED, MappingState.DISABLED)


class SourceKind(StrEnum):
    SQS = "sqs"
    REDIS_STREAM = "redis_stream"  # a Redis stream under a Kinesis ARN (docs/decisions/0504)


@dataclass(frozen=True)
class EventSourceMapping:
    uuid: str
    account_id: str
    function_name: str
    qualifier: str | None
    source_kind: SourceKind
    source_arn: str
    enabled: bool  # what the user asked for; `state` is how far the platform got
    state: MappingState
    state_reason: str
    last_modified: float  # epoch seconds
    batch_size: int
    batching_window_s: int
    function_response_types: tuple[str, ...] = ()
    maximum_concurrency: int | None = None  # ScalingConfig; None: scale on our own
    filter_patterns: tuple[str, ...] = ()  # FilterCriteria patterns, as given (JSON text)
    source_settings: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def reports_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.function_response_types

    @property
    def settled_state(self) -> MappingState:
        """The stable state a transition ends in."""
        return MappingState.ENABLED if self.enabled else MappingState.DISABLED


class Poller(Protocol):
    """Reads one mapping's source and invokes its function, one round per `run_once()`.

    The PollerSupervisor owns pollers: it creates one per enabled mapping (by kind),
    hands it the mapping again after every update, and stops it when the mapping is
    disabled or deleted.
    """

    mapping: EventSourceMapping

    def configure(self, mapping: EventSourceMapping) -> None:
        """Use this version of the mapping from the next round on."""

    async def run_once(self) -> int:
        """One round: read, invoke, acknowledge. Returns how many records the function
        was handed; never waits for records to arrive."""

    async def wait(self) -> None:
        """Idle until records may be there (or a batching window ends): bounded."""

    async def stop(self) -> None:
        """Give back anything read but not yet invoked, so it is delivered again soon."""


class SourceRules(Protocol):
    """The API's rules for a kind of source other than lambdalite's own queues (which
    MappingService knows itself): what a create accepts and stores, what an update
    changes, and what Get shows beyond the common members."""

    kind: SourceKind
    label: str  # how AWS's messages name the kind ("Kinesis")

    def owns(self, arn: str | None) -> bool:
        """Whether an EventSourceArn is of this kind."""

    def create(
        self,
        account_id: str,
        function: FunctionRef,
        version: FunctionVersion,
        params: Mapping[str, Any],
        mapping_id: str,
        now: float,
    ) -> EventSourceMapping:
        """The new mapping (in Creating), or an ApiError saying what is wrong."""

    def changes(self, current: EventSourceMapping, params: Mapping[str, Any]) -> dict[str, Any]:
        """The fields an update sets (FunctionName aside), checked."""

    def check(self, mapping: EventSourceMapping) -> None:
        """Rules on the updated mapping as a whole."""

    def members(self, mapping: EventSourceMapping) -> dict[str, Any]:
        """EventSourceMappingConfiguration members of this kind."""
