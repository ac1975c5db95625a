"""SQS event source mappings through boto3, on real sandboxes: the API — errors, states
and their transitions, pagination, another account's view. What functions receive and how
batches end: test_mapping_batches.py. The harness: tests/support/mappings.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.mappings import (
    RECORDER,
    ClockedServer,
    counts,
    deploy,
    error_of,
    make_queue,
    send,
)
from tests.support.servers import (
    boto_client,
)

pytestmark = pytest.mark.sandbox


# -- the API -------------------------------------------------------------------------------


def test_mapping_lifecycle_moves_through_aws_states(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    function_arn = deploy(lam, name, RECORDER)
    _, queue_arn = make_queue(sqs, name)
    created = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    mapping_id = created["UUID"]
    assert {k: v for k, v in created.items() if k not in ("ResponseMetadata", "LastModified")} == {
        "UUID": mapping_id,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": queue_arn,
        "FunctionArn": function_arn,
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            f"arn:aws:lambda:us-east-1:{esm_server.account}:event-source-mapping:{mapping_id}"
        ),
    }
    assert created["LastModified"].timestamp() == pytest.approx(esm_server.clock.now, abs=0.01)

    def state() -> str:
        return str(lam.get_event_source_mapping(UUID=mapping_id)["State"])

    assert state() == "Creating"
    esm_server.poll()
    assert state() == "Enabled"

    disabling = lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)
    assert (disabling["State"], disabling["ResponseMetadata"]["HTTPStatusCode"]) == (
        "Disabling",
        202,
    )
    # In a transitional state it can be neither updated nor deleted.
    with pytest.raises(lam.exceptions.ResourceInUseException) as busy:
        lam.update_event_source_mapping(UUID=mapping_id, BatchSize=5)
    assert error_of(busy) == (
        "ResourceInUseException",
        "Cannot update the event source mapping because it is in use.",
        400,
    )
    with pytest.raises(lam.exceptions.ResourceInUseException) as busy:
        lam.delete_event_source_mapping(UUID=mapping_id)
    assert error_of(busy)[1] == "Cannot delete the event source mapping because it is in use."
    esm_server.poll()
    assert state() == "Disabled"

    assert lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)["State"] == "Enabling"
    esm_server.poll()
    assert state() == "Enabled"

    updated = lam.update_event_source_mapping(
        UUID=mapping_id,
        BatchSize=5,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig={"MaximumConcurrency": 3},
    )
    assert updated["State"] == "Updating"
    esm_server.poll()
    got = lam.get_event_source_mapping(UUID=mapping_id)
    assert (got["State"], got["BatchSize"], got["FunctionResponseTypes"], got["ScalingConfig"]) == (
        "Enabled",
        5,
        ["ReportBatchItemFailures"],
        {"MaximumConcurrency": 3},
    )
    # An empty ScalingConfig removes it ("ScalingConfig": pass an empty value).
    lam.update_event_source_mapping(UUID=mapping_id, ScalingConfig={})
    esm_server.poll()
    assert "ScalingConfig" not in lam.get_event_source_mapping(UUID=mapping_id)

    deleting = lam.delete_event_source_mapping(UUID=mapping_id)
    assert (deleting["State"], deleting["ResponseMetadata"]["HTTPStatusCode"]) == ("Deleting", 202)
    assert state() == "Deleting"
    esm_server.poll()
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as gone:
        lam.get_event_source_mapping(UUID=mapping_id)
    assert error_of(gone) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )


def test_a_disabled_mapping_does_not_poll(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    url, arn = make_queue(sqs, name)
    send(sqs, url, "waiting")
    mapping_id = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, Enabled=False
    )["UUID"]
    esm_server.poll(3)
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Disabled"
    assert counts(sqs, url) == (1, 0), "the message was never received"
    assert esm_server.printed(name) == []

    lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)
    esm_server.poll()
    assert [r["body"] for r in esm_server.records(name)] == ["waiting"]
    assert counts(sqs, url) == (0, 0)


def test_updating_the_function_moves_the_batches(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    old, new, taken = name, f"{name}-new", f"{name}-taken"
    for function in (old, new, taken):
        deploy(lam, function, RECORDER)
    url, arn = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(FunctionName=old, EventSourceArn=arn)["UUID"]
    lam.create_event_source_mapping(FunctionName=taken, EventSourceArn=arn)
    esm_server.poll()
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.update_event_source_mapping(UUID=mapping_id, FunctionName=taken)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as missing:
        lam.update_event_source_mapping(UUID=mapping_id, FunctionName=f"{name}-missing")
    assert error_of(missing)[1] == "Function does not exist"

    updated = lam.update_event_source_mapping(UUID=mapping_id, FunctionName=new)
    assert (updated["State"], updated["FunctionArn"].split(":")[-1]) == ("Updating", new)
    esm_server.poll()  # settles the update; the next round reads for the new function
    send(sqs, url, "for the new one")
    esm_server.poll()
    assert esm_server.printed(old) == []
    got = esm_server.records(new) + esm_server.records(taken)
    assert [r["body"] for r in got] == ["for the new one"]


def test_a_duplicate_mapping_is_a_conflict(lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    first = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
    with pytest.raises(lam.exceptions.ResourceConflictException) as conflict:
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn, BatchSize=3)
    assert error_of(conflict) == (
        "ResourceConflictException",
        f'An event source mapping with SQS arn (" {arn} ") and function (" {name} ") already '
        f"exists. Please update or delete the existing mapping with UUID {first}",
        409,
    )
    assert len(lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]) == 1


# Create requests lambdalite refuses, with AWS's error and words ("{account}": the caller's).
REFUSALS = [
    pytest.param(
        {"BatchSize": 11},
        "InvalidParameterValueException",
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10",
        id="batch>10-no-window",
    ),
    pytest.param(
        {"BatchSize": 10_001},
        "ValidationException",
        "1 validation error detected: Value '10001' at 'batchSize' failed to satisfy "
        "constraint: Member must have value less than or equal to 10000",
        id="batch-range",
    ),
    pytest.param(
        {"MaximumBatchingWindowInSeconds": 301},
        "ValidationException",
        "1 validation error detected: Value '301' at 'maximumBatchingWindowInSeconds' failed "
        "to satisfy constraint: Member must have value less than or equal to 300",
        id="window-range",
    ),
    pytest.param(
        {"ScalingConfig": {"MaximumConcurrency": 1}},
        "ValidationException",
        "1 validation error detected: Value '1' at 'scalingConfig.maximumConcurrency' failed "
        "to satisfy constraint: Member must have value greater than or equal to 2",
        id="concurrency-range",
    ),
    pytest.param(
        {"FunctionResponseTypes": ["Everything"]}, "ValidationException", None, id="response-type"
    ),
    pytest.param(
        {"StartingPosition": "LATEST"},
        "InvalidParameterValueException",
        "StartingPosition is not valid for SQS event sources.",
        id="starting-position",
    ),
    pytest.param(
        {"MaximumRetryAttempts": 3},
        "InvalidParameterValueException",
        "MaximumRetryAttempts is not valid for SQS event sources.",
        id="stream-only",
    ),
    pytest.param(
        {"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}},
        "InvalidParameterValueException",
        "Invalid filter pattern definition.",
        id="filter-not-json",
    ),
    pytest.param(
        {"FilterCriteria": {"Filters": [{"Pattern": '{"body": {"a": [{"wildcard": "x*"}]}}'}]}},
        "InvalidParameterValueException",
        "lambdalite does not support the 'wildcard' filter operator yet; it applies exact "
        "values and prefix, suffix, equals-ignore-case, anything-but, numeric, exists.",
        id="filter-unsupported",
    ),
    pytest.param(
        {"EventSourceArn": None},
        "InvalidParameterValueException",
        "Unrecognized event source.",
        id="no-source",
    ),
    pytest.param(
        {"EventSourceArn": "arn:aws:sqs:us-east-1:{account}:no-such-queue"},
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue "
        "does not exist.",
        id="no-queue",
    ),
    pytest.param(
        {"FunctionName": "no-such-function"},
        "InvalidParameterValueException",
        "Function does not exist",
        id="no-function",
    ),
]


@pytest.mark.parametrize(("extra", "code", "message"), REFUSALS)
def test_a_refused_create_leaves_nothing(
    esm_server: ClockedServer,
    sqs: Any,
    name: str,
    extra: dict[str, Any],
    code: str,
    message: str | None,
) -> None:
    lam = esm_server.client(validate=False)
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    params: dict[str, Any] = {"FunctionName": name, "EventSourceArn": arn}
    for key, value in extra.items():
        if isinstance(value, str):
            value = value.replace("{account}", esm_server.account)
        params[key] = value
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(ClientError) as excinfo:
        lam.create_event_source_mapping(**params)
    got_code, got_message, status = error_of(excinfo)
    assert (got_code, status) == (code, 400)
    if message is not None:
        assert got_message == message
    assert lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []


def test_queue_rules_are_checked(esm_server: ClockedServer, lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER, Timeout=3)
    _, fifo = make_queue(sqs, f"{name}.fifo", FifoQueue="true")
    _, short = make_queue(sqs, f"{name}-short", VisibilityTimeout="2")

    def refused(**params: Any) -> str:
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
            lam.create_event_source_mapping(FunctionName=name, **params)
        return error_of(excinfo)[1]

    assert refused(EventSourceArn=fifo, BatchSize=11, MaximumBatchingWindowInSeconds=1) == (
        "Maximum batch size must be between 1 and 10 inclusive"
    )
    assert refused(EventSourceArn=fifo, MaximumBatchingWindowInSeconds=5) == (
        "Batching window is not supported for FIFO queues"
    )
    assert refused(EventSourceArn=short) == (
        "Queue visibility timeout: 2 seconds is less than Function timeout: 3 seconds"
    )
    elsewhere = f"arn:aws:sqs:us-east-1:999999999999:{name}"
    assert refused(EventSourceArn=elsewhere).startswith("Error occurred while ReceiveMessage.")
    # A standard queue's batch over 10 with a window is fine; so is the update rule.
    _, standard = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=standard, BatchSize=100, MaximumBatchingWindowInSeconds=1
    )["UUID"]
    esm_server.poll()
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.update_event_source_mapping(UUID=mapping_id, MaximumBatchingWindowInSeconds=0)
    assert "greater than 0 if maximum batch size is greater than 10" in error_of(excinfo)[1]
    assert lam.get_event_source_mapping(UUID=mapping_id)["MaximumBatchingWindowInSeconds"] == 1


def test_list_filters_and_pages(esm_server: ClockedServer, lam: Any, sqs: Any, name: str) -> None:
    deploy(lam, name, RECORDER)
    deploy(lam, f"{name}-other", RECORDER)
    arns = [make_queue(sqs, f"{name}-{i}")[1] for i in range(3)]
    mine = {
        lam.create_event_source_mapping(FunctionName=name, EventSourceArn=a)["UUID"] for a in arns
    }
    theirs = lam.create_event_source_mapping(FunctionName=f"{name}-other", EventSourceArn=arns[0])

    first = lam.list_event_source_mappings(FunctionName=name, MaxItems=2)
    assert len(first["EventSourceMappings"]) == 2
    rest = lam.list_event_source_mappings(FunctionName=name, MaxItems=2, Marker=first["NextMarker"])
    assert len(rest["EventSourceMappings"]) == 1 and "NextMarker" not in rest
    listed = first["EventSourceMappings"] + rest["EventSourceMappings"]
    assert {m["UUID"] for m in listed} == mine
    paged = lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    assert {m["UUID"] for page in paged for m in page["EventSourceMappings"]} == mine

    by_source = lam.list_event_source_mappings(EventSourceArn=arns[0])["EventSourceMappings"]
    assert {m["UUID"] for m in by_source} >= {theirs["UUID"]}
    assert {m["FunctionArn"].split(":")[-1] for m in by_source} == {name, f"{name}-other"}
    both = lam.list_event_source_mappings(FunctionName=f"{name}-other", EventSourceArn=arns[1])
    assert both["EventSourceMappings"] == []
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as excinfo:
        lam.list_event_source_mappings(FunctionName=f"{name}-missing")
    assert error_of(excinfo)[1] == "Function does not exist"


def test_another_accounts_mapping_does_not_exist(
    esm_server: ClockedServer, lam: Any, sqs: Any, name: str
) -> None:
    deploy(lam, name, RECORDER)
    _, arn = make_queue(sqs, name)
    mapping_id = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)["UUID"]
    _, key = esm_server.platform.accounts.create(f"acct-{uuid.uuid4().hex[:8]}")
    other = boto_client(esm_server.endpoint, key=key.access_key_id, secret=key.secret_access_key)
    for call in (
        lambda: other.get_event_source_mapping(UUID=mapping_id),
        lambda: other.delete_event_source_mapping(UUID=mapping_id),
        lambda: other.update_event_source_mapping(UUID=mapping_id, Enabled=False),
    ):
        with pytest.raises(other.exceptions.ResourceNotFoundException):
            call()
    assert other.list_event_source_mappings()["EventSourceMappings"] == []
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] == "Creating"
