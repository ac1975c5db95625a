"""What a firing delivers: EventBridge's "Scheduled Event" (AWS Lambda Developer Guide,
"Using AWS Lambda with Amazon EventBridge"; sample in aws-reference/events/
scheduled-event.json), or a target's Input verbatim.

`time` is the time the rule was due, in UTC to the second ("2025-03-01T01:00:00Z"), not
when the event happened to be built; every target of one firing gets the same event id.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def scheduled_event(
    account_id: str, region: str, rule_arn: str, due_at: float, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.fromtimestamp(due_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def payload(event: dict[str, Any], target_input: str | None) -> bytes:
    if target_input is not None:
        return target_input.encode()
    return json.dumps(event, separators=(",", ":")).encode()
