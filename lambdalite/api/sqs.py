"""The SQS API (JSON protocol, `X-Amz-Target: AmazonSQS.<Operation>`): parse, call the
QueueService, render. botocore's SQS model (`sqs/2012-11-05`) is the spec."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.json_protocol import JsonService
from lambdalite.api.validation import validate
from lambdalite.errors import ApiError, ValidationException
from lambdalite.queues.batches import check_batch_ids, check_batch_size
from lambdalite.queues.errors import (
    InvalidAttributeName,
    InvalidParameterValue,
    QueueDoesNotExist,
    SqsError,
    UnsupportedOperation,
    invalid_parameter,
    missing_parameter,
)
from lambdalite.queues.md5 import md5_of_attributes
from lambdalite.queues.model import (
    SYSTEM_ATTRIBUTE_NAMES,
    AttributeValue,
    OutgoingMessage,
    QueueRef,
    ReceivedMessage,
    ReceiveRequest,
    SendResult,
    system_attributes,
)
from lambdalite.queues.names import is_queue_name, parse_queue_url
from lambdalite.queues.service import QueueService

# The legacy Query codes of the front end's own errors (SigV4, JSON), for the
# x-amzn-query-error header of a query-compatible service.
_LEGACY_CODES = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "IncompleteSignatureException": "IncompleteSignature",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "ServiceException": "InternalError",
}
# Where an operation names queue attributes: an unknown name is InvalidAttributeName.
_ATTRIBUTE_NAME_MEMBERS = {
    "CreateQueue": "Attributes",
    "SetQueueAttributes": "Attributes",
    "GetQueueAttributes": "AttributeNames",
}


class SqsApi(JsonService):
    target_prefix = "AmazonSQS"
    model_name = "sqs"

    def __init__(self, queues: QueueService) -> None:
        self._queues = queues

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "PurgeQueue": self.purge_queue,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "TagQueue": self.tag_queue,
            "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags,
        }

    # -- the JSON protocol's hooks: SQS's own error names --------------------------------
    def check_input(self, operation: Any, params: dict[str, Any]) -> None:
        """SQS names a missing member MissingParameter and an unknown attribute
        InvalidAttributeName; whatever else the model rejects is InvalidParameterValue."""
        _check_required(operation.input_shape, params, "")
        member = _ATTRIBUTE_NAME_MEMBERS.get(operation.name)
        if member is not None:
            shape = operation.input_shape.members[member]
            known = (shape.key if shape.type_name == "map" else shape.member).enum
            for name in params.get(member, []):
                if name not in known:
                    raise InvalidAttributeName(f"Unknown Attribute {name}.")
        checked = dict(params)
        if operation.name == "ReceiveMessage":
            # Checked against the message system attribute names in `_system_names`.
            checked.pop("AttributeNames", None)
            checked.pop("MessageSystemAttributeNames", None)
        try:
            validate(operation.input_shape, checked)
        except ValidationException as error:
            raise InvalidParameterValue(error.message) from None

    def unsupported(self, operation: str) -> ApiError:
        return UnsupportedOperation(f"lambdalite does not support the {operation} operation yet.")

    def error_type(self, error: ApiError) -> str:
        if isinstance(error, SqsError):
            return f"com.amazonaws.sqs#{error.error_type}"
        return f"com.amazon.coral.service#{error.error_type}"

    def error_headers(self, error: ApiError) -> dict[str, str]:
        if isinstance(error, SqsError):
            legacy = error.legacy_code
        else:
            legacy = _LEGACY_CODES.get(error.error_type, error.error_type)
        fault = "Sender" if error.status < 500 else "Receiver"
        return {"x-amzn-query-error": f"{legacy};{fault}"}

    # -- queues ---------------------------------------------------------------------------
    def create_queue(self, call: Call) -> dict[str, Any]:
        p = call.params
        queue = self._queues.create_queue(
            call.account_id, p["QueueName"], p.get("Attributes", {}), p.get("tags", {})
        )
        return {"QueueUrl": queue.ref.url(call.base_url)}

    def get_queue_url(self, call: Call) -> dict[str, Any]:
        owner = call.params.get("QueueOwnerAWSAccountId", call.account_id)
        if owner != call.account_id:
            raise QueueDoesNotExist()  # no cross-account grants: never reveal it exists
        name = call.params["QueueName"]
        if not is_queue_name(name):
            raise QueueDoesNotExist()
        queue = self._queues.queue(QueueRef(call.account_id, name))
        return {"QueueUrl": queue.ref.url(call.base_url)}

    def list_queues(self, call: Call) -> dict[str, Any]:
        p = call.params
        queues = self._queues.list_queues(call.account_id, p.get("QueueNamePrefix", ""))
        names, token = _page([q.ref.name for q in queues], p.get("MaxResults"), p.get("NextToken"))
        result: dict[str, Any] = {}
        if names:
            result["QueueUrls"] = [QueueRef(call.account_id, n).url(call.base_url) for n in names]
        if token:
            result["NextToken"] = token
        return result

    def delete_queue(self, call: Call) -> None:
        self._queues.delete_queue(_queue(call))

    def get_queue_attributes(self, call: Call) -> dict[str, Any]:
        found = self._queues.attributes(_queue(call), call.params.get("AttributeNames", []))
        return {"Attributes": found} if found else {}

    def set_queue_attributes(self, call: Call) -> None:
        self._queues.set_attributes(_queue(call), call.params["Attributes"])

    def purge_queue(self, call: Call) -> None:
        self._queues.purge(_queue(call))

    def list_dead_letter_source_queues(self, call: Call) -> dict[str, Any]:
        p = call.params
        sources = self._queues.dead_letter_sources(_queue(call))
        names, token = _page([q.ref.name for q in sources], p.get("MaxResults"), p.get("NextToken"))
        result: dict[str, Any] = {
            "queueUrls": [QueueRef(call.account_id, n).url(call.base_url) for n in names]
        }
        if token:
            result["NextToken"] = token
        return result

    def tag_queue(self, call: Call) -> None:
        self._queues.tag(_queue(call), call.params["Tags"])

    def untag_queue(self, call: Call) -> None:
        self._queues.untag(_queue(call), call.params["TagKeys"])

    def list_queue_tags(self, call: Call) -> dict[str, Any]:
        tags = self._queues.tags(_queue(call))
        return {"Tags": tags} if tags else {}

    # -- messages -------------------------------------------------------------------------
    def send_message(self, call: Call) -> dict[str, Any]:
        (result,) = self._queues.send(_queue(call), call.account_id, [_outgoing(call.params)])
        if isinstance(result, SqsError):
            raise result
        return _sent(result)

    def send_message_batch(self, call: Call) -> dict[str, Any]:
        entries = call.params["Entries"]
        check_batch_ids([e["Id"] for e in entries], "SendMessageBatchRequestEntry")
        ref = _queue(call)
        messages: list[OutgoingMessage] = []
        failed: list[dict[str, Any]] = []
        ids: list[str] = []
        for entry in entries:
            try:
                messages.append(_outgoing(entry))
                ids.append(entry["Id"])
            except SqsError as error:
                failed.append(_failure(entry["Id"], error))
        check_batch_size(messages)
        successful: list[dict[str, Any]] = []
        for entry_id, outcome in zip(
            ids, self._queues.send(ref, call.account_id, messages), strict=True
        ):
            if isinstance(outcome, SqsError):
                failed.append(_failure(entry_id, outcome))
            else:
                successful.append({"Id": entry_id, **_sent(outcome)})
        return {"Successful": successful, "Failed": failed}

    async def receive_message(self, call: Call) -> dict[str, Any]:
        p = call.params
        request = ReceiveRequest(
            max_messages=p.get("MaxNumberOfMessages", 1),
            visibility_timeout=p.get("VisibilityTimeout"),
            wait_seconds=p.get("WaitTimeSeconds"),
        )
        wanted = _system_names(
            p.get("AttributeNames", []) + p.get("MessageSystemAttributeNames", [])
        )
        filters = p.get("MessageAttributeNames", [])
        received = await self._queues.receive(_queue(call), request)
        if not received:
            return {}
        return {"Messages": [_message(r, wanted, filters) for r in received]}

    def delete_message(self, call: Call) -> None:
        self._queues.delete_message(_queue(call), call.params["ReceiptHandle"])

    def delete_message_batch(self, call: Call) -> dict[str, Any]:
        entries = call.params["Entries"]
        check_batch_ids([e["Id"] for e in entries], "DeleteMessageBatchRequestEntry")
        ref = _queue(call)
        self._queues.queue(ref)
        successful, failed = [], []
        for entry in entries:
            try:
                self._queues.delete_message(ref, entry["ReceiptHandle"])
                successful.append({"Id": entry["Id"]})
            except SqsError as error:
                failed.append(_failure(entry["Id"], error))
        return {"Successful": successful, "Failed": failed}

    def change_message_visibility(self, call: Call) -> None:
        p = call.params
        self._queues.change_visibility(_queue(call), p["ReceiptHandle"], p["VisibilityTimeout"])

    def change_message_visibility_batch(self, call: Call) -> dict[str, Any]:
        entries = call.params["Entries"]
        check_batch_ids([e["Id"] for e in entries], "ChangeMessageVisibilityBatchRequestEntry")
        ref = _queue(call)
        self._queues.queue(ref)
        successful, failed = [], []
        for entry in entries:
            try:
                timeout = entry.get("VisibilityTimeout")
                if timeout is None:
                    raise missing_parameter("VisibilityTimeout")
                self._queues.change_visibility(ref, entry["ReceiptHandle"], timeout)
                successful.append({"Id": entry["Id"]})
            except SqsError as error:
                failed.append(_failure(entry["Id"], error))
        return {"Successful": successful, "Failed": failed}


def _queue(call: Call) -> QueueRef:
    """The queue a QueueUrl names, if it is the caller's: another account's queue does
    not exist for the caller, whether or not it exists."""
    ref = parse_queue_url(call.params["QueueUrl"])
    if ref.account_id != call.account_id:
        raise QueueDoesNotExist()
    return ref


def _outgoing(params: dict[str, Any]) -> OutgoingMessage:
    return OutgoingMessage(
        body=params.get("MessageBody", ""),
        attributes=_attribute_values(params.get("MessageAttributes", {})),
        system_attributes=_attribute_values(params.get("MessageSystemAttributes", {})),
        delay_seconds=params.get("DelaySeconds"),
        group_id=params.get("MessageGroupId"),
        deduplication_id=params.get("MessageDeduplicationId"),
    )


def _attribute_values(raw: dict[str, dict[str, Any]]) -> dict[str, AttributeValue]:
    values: dict[str, AttributeValue] = {}
    for name, value in raw.items():
        if value.get("StringListValues") or value.get("BinaryListValues"):
            raise InvalidParameterValue(
                "Message attribute list values in SendMessage operation are not supported."
            )
        values[name] = AttributeValue(
            value["DataType"], value.get("StringValue"), value.get("BinaryValue")
        )
    return values


def _sent(result: SendResult) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "MessageId": result.message_id,
        "MD5OfMessageBody": result.md5_of_body,
    }
    if result.md5_of_attributes:
        rendered["MD5OfMessageAttributes"] = result.md5_of_attributes
    if result.md5_of_system_attributes:
        rendered["MD5OfMessageSystemAttributes"] = result.md5_of_system_attributes
    if result.sequence_number:
        rendered["SequenceNumber"] = result.sequence_number
    return rendered


def _message(received: ReceivedMessage, wanted: set[str], filters: Sequence[str]) -> dict[str, Any]:
    message = received.message
    rendered: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": received.receipt_handle,
        "MD5OfBody": message.md5_of_body,
        "Body": message.body,
    }
    every = system_attributes(message)
    chosen = {k: v for k, v in every.items() if "All" in wanted or k in wanted}
    if chosen:
        rendered["Attributes"] = chosen
    attributes = {
        name: value for name, value in message.attributes.items() if _selected(name, filters)
    }
    if attributes:
        # The digest of what is returned, which is what an SDK can check.
        rendered["MD5OfMessageAttributes"] = md5_of_attributes(attributes)
        rendered["MessageAttributes"] = {
            name: _attribute_json(value) for name, value in attributes.items()
        }
    return rendered


def _attribute_json(value: AttributeValue) -> dict[str, Any]:
    if value.binary_value is not None:
        return {
            "DataType": value.data_type,
            "BinaryValue": base64.b64encode(value.binary_value).decode(),
        }
    return {"DataType": value.data_type, "StringValue": value.string_value or ""}


def _selected(name: str, filters: Sequence[str]) -> bool:
    """MessageAttributeNames: "All" or ".*" for every one, "prefix.*" for a family."""
    for pattern in filters:
        if pattern in ("All", ".*") or pattern == name:
            return True
        if pattern.endswith(".*") and name.startswith(pattern[:-1]):
            return True
    return False


def _system_names(names: Sequence[str]) -> set[str]:
    for name in names:
        if name != "All" and name not in SYSTEM_ATTRIBUTE_NAMES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
    return set(names)


def _failure(entry_id: str, error: SqsError) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": error.legacy_code,
        "Message": error.message,
    }


def _page(
    names: list[str], max_results: int | None, token: str | None
) -> tuple[list[str], str | None]:
    """ListQueues' paging: up to 1000 without MaxResults, NextToken only with it."""
    if max_results is not None and not 1 <= max_results <= 1000:
        raise invalid_parameter(
            "MaxResults", max_results, "MaxResults must be an integer between 1 and 1000."
        )
    after = ""
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise invalid_parameter("NextToken", token, "Invalid NextToken value.") from None
    remaining = [n for n in names if n > after]
    limit = max_results or 1000
    chunk = remaining[:limit]
    more = max_results is not None and len(remaining) > limit
    return chunk, base64.urlsafe_b64encode(chunk[-1].encode()).decode() if more else None


def _check_required(shape: Any, value: Any, path: str) -> None:
    """MissingParameter, named as SQS names it ("SendMessageBatchRequestEntry.1.Id")."""
    if shape is None:
        return
    if shape.type_name == "structure":
        for name in shape.required_members:
            if value.get(name) is None:
                raise missing_parameter(f"{path}{name}")
        for name, member in shape.members.items():
            if value.get(name) is not None and member.type_name == "list":
                for index, item in enumerate(value[name], 1):
                    _check_required(member.member, item, f"{member.member.name}.{index}.")
