"""The CloudWatch Logs API (JSON protocol, `X-Amz-Target: Logs_20140328.<Operation>`):
parse, call the LogService, render. botocore's model (`logs/2014-03-28`) is the spec.

The subset that reads Lambda's logs (`boto3.client("logs")`, `aws logs ...`): groups,
streams, GetLogEvents, FilterLogEvents, retention, and creating and deleting groups.
"""

from __future__ import annotations

from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.json_protocol import JsonService
from lambdalite.api.validation import validate
from lambdalite.errors import ValidationException
from lambdalite.logs.errors import InvalidParameterException
from lambdalite.logs.service import LogService
from lambdalite.store.logs import LogEvent, LogGroup, LogStream


class LogsApi(JsonService):
    target_prefix = "Logs_20140328"
    model_name = "logs"

    def __init__(self, logs: LogService) -> None:
        self._logs = logs

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
        }

    def check_input(self, operation: Any, params: dict[str, Any]) -> None:
        """CloudWatch Logs reports the model's constraints as InvalidParameterException,
        with the front end's usual "1 validation error detected: ..." message."""
        try:
            validate(operation.input_shape, params)
        except ValidationException as error:
            raise InvalidParameterException(error.message) from None

    # -- groups -----------------------------------------------------------------------------
    def create_log_group(self, call: Call) -> None:
        self._logs.create_group(call.account_id, call.params["logGroupName"])

    def delete_log_group(self, call: Call) -> None:
        self._logs.delete_group(call.account_id, call.params["logGroupName"])

    def put_retention_policy(self, call: Call) -> None:
        p = call.params
        self._logs.put_retention(call.account_id, p["logGroupName"], p["retentionInDays"])

    def delete_retention_policy(self, call: Call) -> None:
        self._logs.delete_retention(call.account_id, call.params["logGroupName"])

    def describe_log_groups(self, call: Call) -> dict[str, Any]:
        p = call.params
        containing = p.get("logGroupNamePattern")
        groups, token = self._logs.describe_groups(
            call.account_id,
            prefix=p.get("logGroupNamePrefix"),
            containing=containing,
            names=p.get("logGroupIdentifiers"),
            limit=p.get("limit"),
            token=p.get("nextToken"),
        )
        # "If you specify logGroupNamePattern ... only arn, creationTime, and
        # logGroupName are included in the response."
        rendered = [self._group(call.account_id, g, brief=bool(containing)) for g in groups]
        return _with_token({"logGroups": rendered}, token)

    def _group(self, account_id: str, group: LogGroup, brief: bool) -> dict[str, Any]:
        arn = self._logs.group_arn(account_id, group.name)
        body: dict[str, Any] = {
            "logGroupName": group.name,
            "creationTime": group.created_at,
            "arn": f"{arn}:*",
        }
        if brief:
            return body
        if group.retention_days is not None:
            body["retentionInDays"] = group.retention_days
        body.update(
            metricFilterCount=0,
            storedBytes=group.stored_bytes,
            logGroupClass="STANDARD",
            logGroupArn=arn,
        )
        return body

    # -- streams ----------------------------------------------------------------------------
    def describe_log_streams(self, call: Call) -> dict[str, Any]:
        p = call.params
        group = self._group_of(call)
        streams, token = self._logs.describe_streams(
            call.account_id,
            group,
            prefix=p.get("logStreamNamePrefix"),
            order_by=p.get("orderBy"),
            descending=p.get("descending", False),
            limit=p.get("limit"),
            token=p.get("nextToken"),
        )
        arn = self._logs.group_arn(call.account_id, group)
        return _with_token({"logStreams": [_stream(arn, s) for s in streams]}, token)

    # -- events -----------------------------------------------------------------------------
    def get_log_events(self, call: Call) -> dict[str, Any]:
        p = call.params
        page = self._logs.get_events(
            call.account_id,
            self._group_of(call),
            p["logStreamName"],
            start=p.get("startTime"),
            end=p.get("endTime"),
            limit=p.get("limit"),
            from_head=p.get("startFromHead", False),
            token=p.get("nextToken"),
        )
        return {
            "events": [
                {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}
                for e in page.events
            ],
            "nextForwardToken": page.forward,
            "nextBackwardToken": page.backward,
        }

    def filter_log_events(self, call: Call) -> dict[str, Any]:
        p = call.params
        page = self._logs.filter_events(
            call.account_id,
            self._group_of(call),
            streams=p.get("logStreamNames"),
            stream_prefix=p.get("logStreamNamePrefix"),
            start=p.get("startTime"),
            end=p.get("endTime"),
            pattern=p.get("filterPattern"),
            limit=p.get("limit"),
            from_head=p.get("startFromHead", True),
            token=p.get("nextToken"),
        )
        # searchedLogStreams: "As of May 15, 2020, this parameter is no longer supported.
        # This parameter returns an empty list."
        body = {"events": [_filtered(e) for e in page.events], "searchedLogStreams": []}
        return _with_token(body, page.next_token)

    def _group_of(self, call: Call) -> str:
        p = call.params
        return self._logs.group_name(
            call.account_id, p.get("logGroupName"), p.get("logGroupIdentifier")
        )


def _stream(group_arn: str, stream: LogStream) -> dict[str, Any]:
    body: dict[str, Any] = {
        "logStreamName": stream.name,
        "creationTime": stream.created_at,
        "arn": f"{group_arn}:log-stream:{stream.name}",
        # "As of June 17, 2019, this parameter is no longer supported for log streams,
        # and is always reported as zero."
        "storedBytes": 0,
    }
    for key, value in (
        ("firstEventTimestamp", stream.first_event_at),
        ("lastEventTimestamp", stream.last_event_at),
        ("lastIngestionTime", stream.last_ingested_at),
    ):
        if value is not None:
            body[key] = value
    return body


def _filtered(event: LogEvent) -> dict[str, Any]:
    return {
        "logStreamName": event.log_stream,
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_time,
        "eventId": str(event.id),
    }


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["nextToken"] = token
    return body
