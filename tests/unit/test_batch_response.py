"""mappings/batch_response.py: partial batch responses, as "Reporting batch item failures"
says AWS reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdalite.mappings.batch_response import MalformedResponse, failed_items

IDS = {"m-1", "m-2", "m-3"}


@pytest.mark.parametrize(
    "response", [b"", b"null", b"{}", b'{"batchItemFailures": []}', b'{"batchItemFailures": null}']
)
def test_empty_responses_mean_all_succeeded(response: bytes) -> None:
    assert failed_items(response, IDS) == set()


def test_reported_items_failed() -> None:
    response = {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    assert failed_items(json.dumps(response).encode(), IDS) == {"m-2", "m-3"}


@pytest.mark.parametrize(
    "response",
    [
        b"{not json",
        b'"ok"',
        b"[]",
        {"batchItemFailures": "m-1"},
        {"batchItemFailures": [{"itemIdentifier": "m-9"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"ItemIdentifier": "m-1"}]},
        {"batchItemFailures": ["m-1"]},
    ],
)
def test_malformed_responses_fail_the_whole_batch(response: Any) -> None:
    payload = response if isinstance(response, bytes) else json.dumps(response).encode()
    with pytest.raises(MalformedResponse):
        failed_items(payload, IDS)
