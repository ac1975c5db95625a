"""The payload 2.0 event built from a request, and a result mapped to a response,
against the examples of "Invoking Lambda function URLs"."""

from __future__ import annotations

import base64
import json

import pytest

from lambdalite.urls.request_event import Caller, UrlRequest, UrlTarget, request_event
from lambdalite.urls.response_mapping import from_result

TARGET = UrlTarget("urlid", "urlid.lambda-url.us-west-2.localhost", "123456789012")
NOW = 1583348638.390  # 04/Mar/2020:19:03:58.390 +0000


def request(**changes: object) -> UrlRequest:
    base: dict[str, object] = {
        "method": "POST",
        "raw_path": "/my/path",
        "raw_query": "parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            ("header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("cookie", "cookie1; cookie2"),
            ("user-agent", "agent"),
            ("content-type", "text/plain"),
        ],
        "body": b"Hello from client!",
        "source_ip": "123.123.123.123",
        "protocol": "HTTP/1.1",
    }
    base.update(changes)
    return UrlRequest(**base)  # type: ignore[arg-type]


def test_the_documented_request_payload() -> None:
    caller = Caller("AKIAEXAMPLE", "111122223333")
    event = request_event(request(), TARGET, "id", NOW, caller)
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1", "cookie2"],
        "headers": {
            "header1": "value1",
            "header2": "value1,value2",
            "user-agent": "agent",
            "content-type": "text/plain",
        },
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "111122223333",
            "apiId": "urlid",
            "authorizer": {
                "iam": {
                    "accessKey": "AKIAEXAMPLE",
                    "accountId": "111122223333",
                    "callerId": "111122223333",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": "arn:aws:iam::111122223333:root",
                    "userId": "111122223333",
                }
            },
            "domainName": "urlid.lambda-url.us-west-2.localhost",
            "domainPrefix": "urlid",
            "http": {
                "method": "POST",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "123.123.123.123",
                "userAgent": "agent",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": "Hello from client!",
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("content_type", "body", "as_text"),
    [
        ("application/json; charset=utf-8", b'{"a":1}', True),
        ("application/vnd.api+json", b"{}", True),
        ("text/csv", b"a,b", True),
        ("application/xml", b"<a/>", True),
        ("application/x-www-form-urlencoded", b"a=1", False),
        ("application/octet-stream", b"\x00\x01", False),
        ("text/plain", b"\xff\xfe", False),  # not UTF-8: cannot travel as text
        (None, b"raw", False),
    ],
)
def test_bodies_are_text_only_for_text_types(
    content_type: str | None, body: bytes, as_text: bool
) -> None:
    headers = [("content-type", content_type)] if content_type else []
    event = request_event(request(headers=headers, body=body), TARGET, "id", NOW, None)
    assert event["isBase64Encoded"] is not as_text
    assert event["body"] == (body.decode() if as_text else base64.b64encode(body).decode())
    assert event["requestContext"]["accountId"] == "anonymous"
    assert "authorizer" not in event["requestContext"]


def test_documented_response_mappings() -> None:
    custom = from_result(
        json.dumps(
            {
                "statusCode": 201,
                "headers": {"Content-Type": "application/json", "My-Custom-Header": "Custom Value"},
                "body": '{ "message": "Hello, world!" }',
                "cookies": ["Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT", "Cookie_2=Value2"],
                "isBase64Encoded": False,
            }
        ).encode(),
        None,
    )
    assert custom.status == 201
    assert custom.body == b'{ "message": "Hello, world!" }'
    assert custom.headers == [
        ("Content-Type", "application/json"),
        ("My-Custom-Header", "Custom Value"),
        ("set-cookie", "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT"),
        ("set-cookie", "Cookie_2=Value2"),
    ]
    string = from_result(b'"Hello, world!"', None)
    assert (string.status, string.body) == (200, b'"Hello, world!"')
    assert string.headers == [("content-type", "application/json")]
    failed = from_result(b'{"errorMessage": "boom"}', "Unhandled")
    assert (failed.status, json.loads(failed.body)) == (502, {"Message": "Internal Server Error"})
    framing = from_result(
        b'{"statusCode": 200, "headers": {"Content-Length": "999", "X-Ok": 1}, "body": "hi"}', None
    )
    assert framing.headers == [("X-Ok", "1"), ("content-type", "application/json")]
