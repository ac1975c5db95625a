"""EventSourceMapping: a trigger that reads a queue (later also a stream) and invokes a
function with batches of what it read; and the Poller seam that does the reading.

A mapping keeps what every kind of source shares in fields of its own (function, source
ARN, batch size and window, response types, concurrency, filters) and what only one kind
uses in `source_settings`, under AWS's member names (a stream's StartingPosition, say), so
a new kind of source adds a `SourceKind`, a Poller and keys, never columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

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
