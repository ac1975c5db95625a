"""Handlers: Create/Get/Update/Delete/ListEventSourceMappings."""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.responses import Reply
from lambdalite.control.arns import FunctionRef, function_arn
from lambdalite.mappings.model import EventSourceMapping
from lambdalite.mappings.service import MappingService


class EventSourceMappingsApi:
    def __init__(self, service: MappingService, names: FunctionsApi) -> None:
        self._service = service
        self._names = names

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateEventSourceMapping": self.create,
            "GetEventSourceMapping": self.get,
            "UpdateEventSourceMapping": self.update,
            "DeleteEventSourceMapping": self.delete,
            "ListEventSourceMappings": self.list,
        }

    def create(self, call: Call) -> Reply:
        mapping = self._service.create(call.account_id, self._names.ref(call), call.params)
        return Reply(self._render(mapping), status=202)

    def get(self, call: Call) -> dict[str, Any]:
        return self._render(self._service.get(call.account_id, call.params["UUID"]))

    def update(self, call: Call) -> Reply:
        mapping = self._service.update(
            call.account_id, call.params["UUID"], self._function(call), call.params
        )
        return Reply(self._render(mapping), status=202)

    def delete(self, call: Call) -> Reply:
        mapping = self._service.delete(call.account_id, call.params["UUID"])
        return Reply(self._render(mapping), status=202)

    def list(self, call: Call) -> dict[str, Any]:
        p = call.params
        mappings, marker = self._service.find(
            call.account_id,
            self._function(call),
            p.get("EventSourceArn"),
            p.get("Marker"),
            p.get("MaxItems"),
        )
        body: dict[str, Any] = {"EventSourceMappings": [self._render(m) for m in mappings]}
        if marker:
            body["NextMarker"] = marker
        return body

    def _function(self, call: Call) -> FunctionRef | None:
        return self._names.ref(call) if "FunctionName" in call.params else None

    def _render(self, mapping: EventSourceMapping) -> dict[str, Any]:
        """An EventSourceMappingConfiguration, with the members AWS shows for SQS."""
        region = self._service.region
        body: dict[str, Any] = {
            "UUID": mapping.uuid,
            "BatchSize": mapping.batch_size,
            "MaximumBatchingWindowInSeconds": mapping.batching_window_s,
            "EventSourceArn": mapping.source_arn,
            "FunctionArn": function_arn(
                region, mapping.account_id, mapping.function_name, mapping.qualifier
            ),
            "LastModified": round(mapping.last_modified, 3),
            "State": mapping.state.value,
            "StateTransitionReason": mapping.state_reason,
            "FunctionResponseTypes": list(mapping.function_response_types),
            "EventSourceMappingArn": (
                f"arn:aws:lambda:{region}:{mapping.account_id}:event-source-mapping:{mapping.uuid}"
            ),
        }
        if mapping.filter_patterns:
            body["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in mapping.filter_patterns]}
        if mapping.maximum_concurrency is not None:
            body["ScalingConfig"] = {"MaximumConcurrency": mapping.maximum_concurrency}
        body.update(self._service.members(mapping))  # a stream's StartingPosition...
        return body
