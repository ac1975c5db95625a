"""MappingService: Create/Get/Update/Delete/ListEventSourceMappings, AWS's rules and words.

Requests only record what the user wants (and move the mapping to a transitional state:
Creating, Enabling, Disabling, Updating, Deleting); the PollerSupervisor acts on it and
`settle`s the state. A mapping in a transitional state cannot be updated or deleted
(ResourceInUseException), as on AWS. A rejected request changes nothing.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from lambdalite.control.arns import FunctionRef
from lambdalite.control.functions import FunctionService
from lambdalite.control.pagination import page
from lambdalite.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from lambdalite.mappings.filters import FilterCriteria
from lambdalite.mappings.model import (
    USER_INITIATED,
    EventSourceMapping,
    MappingState,
    SourceKind,
    SourceRules,
)
from lambdalite.mappings.store import MappingExists, MappingStore
from lambdalite.mappings.validation import (
    SQS_DEFAULT_BATCH_SIZE,
    check_batching,
    check_sqs_members,
    check_visibility,
)
from lambdalite.model import FunctionVersion
from lambdalite.queues import QueueRef, QueueService
from lambdalite.queues.errors import QueueDoesNotExist
from lambdalite.queues.model import FIFO_SUFFIX, Queue

_ARN_SERVICE = re.compile(r"arn:[^:]+:([^:]+):")
# Sources AWS maps that lambdalite does not read (yet).
_AWS_SOURCES = {"kinesis", "dynamodb", "kafka", "mq", "rds", "docdb"}
NOT_FOUND = "The resource you requested does not exist."


class MappingService:
    def __init__(
        self,
        store: MappingStore,
        functions: FunctionService,
        queues: QueueService,
        clock: Callable[[], float] = time.time,
        sources: Sequence[SourceRules] = (),
    ) -> None:
        """`sources`: the rules of the other kinds of source (Redis streams)."""
        self._store = store
        self._functions = functions
        self._queues = queues
        self._clock = clock
        self._sources = {rules.kind: rules for rules in sources}
        self.region = functions.region

    # -- the API --------------------------------------------------------------------------
    def create(
        self, account_id: str, function: FunctionRef, params: Mapping[str, Any]
    ) -> EventSourceMapping:
        rules = self._rules_of_arn(params.get("EventSourceArn"))
        if rules is not None:
            version = self._version(account_id, function)
            new = rules.create(
                account_id, function, version, params, str(uuid.uuid4()), self._clock()
            )
            try:
                self._store.insert(new)
            except MappingExists as exists:
                raise _conflict(exists.existing, rules.label) from None
            return new
        ref = self._source(account_id, params.get("EventSourceArn"))
        check_sqs_members(params)
        patterns = _patterns(params)
        version = self._version(account_id, function)
        queue = self._queue(ref)
        batch_size = params.get("BatchSize", SQS_DEFAULT_BATCH_SIZE)
        window = params.get("MaximumBatchingWindowInSeconds", 0)
        check_batching(batch_size, window, queue.is_fifo)
        check_visibility(queue.visibility_timeout, version.config.timeout)
        mapping = EventSourceMapping(
            uuid=str(uuid.uuid4()),
            account_id=account_id,
            function_name=function.name,
            qualifier=function.qualifier,
            source_kind=SourceKind.SQS,
            source_arn=ref.arn(self.region),
            enabled=params.get("Enabled", True),
            state=MappingState.CREATING,
            state_reason=USER_INITIATED,
            last_modified=self._clock(),
            batch_size=batch_size,
            batching_window_s=window,
            function_response_types=tuple(params.get("FunctionResponseTypes", ())),
            maximum_concurrency=params.get("ScalingConfig", {}).get("MaximumConcurrency"),
            filter_patterns=patterns or (),
            tags=dict(params.get("Tags", {})),
        )
        try:
            self._store.insert(mapping)
        except MappingExists as exists:
            raise _conflict(exists.existing) from None
        return mapping

    def get(self, account_id: str, mapping_id: str) -> EventSourceMapping:
        found = self._store.get(mapping_id)
        if found is None or found.account_id != account_id:
            raise ResourceNotFoundException(NOT_FOUND)
        return found

    def update(
        self,
        account_id: str,
        mapping_id: str,
        function: FunctionRef | None,
        params: Mapping[str, Any],
    ) -> EventSourceMapping:
        current = self.get(account_id, mapping_id)
        rules = self._sources.get(current.source_kind)
        if rules is not None:
            found = rules.changes(current, params)
            if function is not None:
                self._version(account_id, function)
                found.update(function_name=function.name, qualifier=function.qualifier)
            return self._change(mapping_id, self._edit(found, rules.check))
        check_sqs_members(params)
        patterns = _patterns(params)
        fifo = current.source_arn.endswith(FIFO_SUFFIX)
        changes: dict[str, Any] = {}
        if function is not None:
            self._check_new_function(current, function)
            changes.update(function_name=function.name, qualifier=function.qualifier)
        for member, field in _SIMPLE_UPDATES.items():
            if member in params:
                changes[field] = params[member]
        if "FunctionResponseTypes" in params:
            changes["function_response_types"] = tuple(params["FunctionResponseTypes"])
        if "ScalingConfig" in params:  # an empty ScalingConfig removes the setting
            changes["maximum_concurrency"] = params["ScalingConfig"].get("MaximumConcurrency")
        if patterns is not None:
            changes["filter_patterns"] = patterns

        def check(new: EventSourceMapping) -> None:
            check_batching(new.batch_size, new.batching_window_s, fifo)

        return self._change(mapping_id, self._edit(changes, check))

    def members(self, mapping: EventSourceMapping) -> dict[str, Any]:
        """What Get shows of a mapping beyond the members every kind has."""
        rules = self._sources.get(mapping.source_kind)
        return rules.members(mapping) if rules is not None else {}

    def delete(self, account_id: str, mapping_id: str) -> EventSourceMapping:
        self.get(account_id, mapping_id)

        def edit(old: EventSourceMapping) -> EventSourceMapping:
            if not old.state.is_stable:
                raise ResourceInUseException(
                    "Cannot delete the event source mapping because it is in use."
                )
            return replace(
                old,
                state=MappingState.DELETING,
                state_reason=USER_INITIATED,
                last_modified=self._clock(),
            )

        return self._change(mapping_id, edit)

    def find(
        self,
        account_id: str,
        function: FunctionRef | None,
        source_arn: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[EventSourceMapping], str | None]:
        """The account's mappings, those of one function (all its qualifiers unless the
        name carries one) and of one source when given; a page from `marker`."""
        if function is not None:
            self._version(account_id, FunctionRef(function.name, None))
        found = [
            m
            for m in self._store.of_account(account_id)
            if (function is None or _of_function(m, function))
            and (source_arn is None or m.source_arn == source_arn)
        ]
        return page(found, lambda m: m.uuid, marker, max_items)

    # -- the supervisor -------------------------------------------------------------------
    def all(self) -> list[EventSourceMapping]:
        return self._store.all()

    def settle(self, mapping: EventSourceMapping) -> bool:
        """Finish a mapping's transition (Deleting: remove it); False if another server
        finished it first, or it changed since it was read."""
        if mapping.state is MappingState.DELETING:
            return self._store.remove(mapping.uuid, MappingState.DELETING)
        return self._store.settle(mapping.uuid, mapping.state, mapping.settled_state, self._clock())

    # -- helpers --------------------------------------------------------------------------
    def _edit(
        self, changes: dict[str, Any], check: Callable[[EventSourceMapping], None]
    ) -> Callable[[EventSourceMapping], EventSourceMapping]:
        """An update's edit of the stored mapping: refused while it is in transition."""

        def edit(old: EventSourceMapping) -> EventSourceMapping:
            if not old.state.is_stable:
                raise ResourceInUseException(
                    "Cannot update the event source mapping because it is in use."
                )
            new = replace(old, **changes)
            check(new)
            if new.enabled != old.enabled:
                state = MappingState.ENABLING if new.enabled else MappingState.DISABLING
            else:
                state = MappingState.UPDATING
            return replace(
                new, state=state, state_reason=USER_INITIATED, last_modified=self._clock()
            )

        return edit

    def _rules_of_arn(self, arn: str | None) -> SourceRules | None:
        return next((r for r in self._sources.values() if r.owns(arn)), None)

    def _change(
        self, mapping_id: str, edit: Callable[[EventSourceMapping], EventSourceMapping]
    ) -> EventSourceMapping:
        try:
            changed = self._store.change(mapping_id, edit)
        except MappingExists as exists:
            rules = self._sources.get(exists.existing.source_kind)
            raise _conflict(exists.existing, rules.label if rules else "SQS") from None
        if changed is None:  # deleted since we read it
            raise ResourceNotFoundException(NOT_FOUND)
        return changed

    def _source(self, account_id: str, arn: str | None) -> QueueRef:
        """The queue an EventSourceArn names, if it is one of the caller's queues here."""
        service = _ARN_SERVICE.match(arn or "")
        if arn is None or service is None:
            raise InvalidParameterValueException("Unrecognized event source.")
        if service[1] in _AWS_SOURCES:
            raise InvalidParameterValueException(
                f"lambdalite does not read {service[1]} event sources; it maps its own SQS "
                "queues (arn:aws:sqs:REGION:ACCOUNT:NAME)."
            )
        if service[1] != "sqs":
            raise InvalidParameterValueException("Unrecognized event source.")
        parts = arn.split(":")
        if len(parts) != 6 or parts[3] != self.region or parts[4] != account_id:
            raise _missing_queue()  # not one of the caller's queues: as if it did not exist
        return QueueRef(account_id, parts[5])

    def _queue(self, ref: QueueRef) -> Queue:
        try:
            return self._queues.queue(ref)
        except QueueDoesNotExist:
            raise _missing_queue() from None

    def _check_new_function(self, mapping: EventSourceMapping, function: FunctionRef) -> None:
        """The function an update names exists, and its timeout fits the queue's visibility
        timeout (unless the queue has gone: the mapping then waits for a new one)."""
        version = self._version(mapping.account_id, function)
        name = mapping.source_arn.rsplit(":", 1)[-1]
        try:
            queue = self._queues.queue(QueueRef(mapping.account_id, name))
        except QueueDoesNotExist:
            return
        check_visibility(queue.visibility_timeout, version.config.timeout)

    def _version(self, account_id: str, function: FunctionRef) -> FunctionVersion:
        try:
            return self._functions.version(account_id, function.name, function.qualifier)
        except ResourceNotFoundException:
            raise InvalidParameterValueException("Function does not exist") from None


# UpdateEventSourceMapping members that replace one field as they are.
_SIMPLE_UPDATES = {
    "Enabled": "enabled",
    "BatchSize": "batch_size",
    "MaximumBatchingWindowInSeconds": "batching_window_s",
}


def _patterns(params: Mapping[str, Any]) -> tuple[str, ...] | None:
    """FilterCriteria's patterns, checked (None: not in the request; () removes them)."""
    criteria = params.get("FilterCriteria")
    if criteria is None:
        return None
    texts = tuple(f.get("Pattern", "") for f in criteria.get("Filters", []))
    FilterCriteria.parse(texts)
    return texts


def _of_function(mapping: EventSourceMapping, function: FunctionRef) -> bool:
    if mapping.function_name != function.name:
        return False
    return function.qualifier is None or mapping.qualifier == function.qualifier


def _missing_queue() -> InvalidParameterValueException:
    # AWS reports the queue check as the poller's first ReceiveMessage failing.
    return InvalidParameterValueException(
        "Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
        "does not exist."
    )


def _conflict(existing: EventSourceMapping, label: str = "SQS") -> ResourceConflictException:
    function = existing.function_name
    if existing.qualifier:
        function = f"{function}:{existing.qualifier}"
    return ResourceConflictException(
        f'An event source mapping with {label} arn (" {existing.source_arn} ") and function '
        f'(" {function} ") already exists. Please update or delete the existing mapping '
        f"with UUID {existing.uuid}"
    )
