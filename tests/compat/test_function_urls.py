"""Function URLs through boto3 and plain HTTP: configurations, the payload 2.0 event the
function sees (field by field against "Invoking Lambda function URLs"), the response
mapping, binary bodies, errors, CORS, AWS_IAM with SigV4, and the resource policy."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.compat.test_functions import error_of
from tests.conftest import create, make_zip
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer

runs = pytest.mark.sandbox  # the tests that run functions need real sandboxes

ECHO = "def handler(event, context):\n    return event\n"
# Returns, as its result, the JSON document the client sent as the body.
MIRROR = """
import base64, json

def handler(event, context):
    body = event.get("body") or "null"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)
"""
# Sends the request body back byte for byte, as a binary response.
BINARY = """
def handler(event, context):
    assert event["isBase64Encoded"], "a binary body arrives base64-encoded"
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/octet-stream"},
        "body": event["body"],
        "isBase64Encoded": True,
    }
"""
FAILING = "def handler(event, context):\n    raise RuntimeError('boom')\n"
VERSION = (
    "def handler(event, context):\n"
    "    return {'version': context.function_version, 'arn': context.invoked_function_arn}\n"
)
URL_FORM = re.compile(r"^http://127\.0\.0\.1:\d+/_lambdalite/url/([a-z0-9]{32})/$")
CLF_TIME = re.compile(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$")


def deploy(lam: Any, name: str, source: str, **extra: Any) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": source})}, **extra)


def url_of(lam: Any, name: str, source: str, **config: Any) -> str:
    deploy(lam, name, source)
    config.setdefault("AuthType", "NONE")
    url: str = lam.create_function_url_config(FunctionName=name, **config)["FunctionUrl"]
    return url


def signed(
    method: str,
    url: str,
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A request signed as AWS's tools sign one for a function URL: SigV4, service lambda."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(request)
    return httpx.request(
        method, url, content=body, headers=dict(request.headers.items()), timeout=60
    )


# -- configurations -----------------------------------------------------------------------
def test_create_get_update_list_delete(lam: Any, name: str, account: str) -> None:
    deploy(lam, name, ECHO)
    cors = {"AllowOrigins": ["https://example.com"], "MaxAge": 300}
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert URL_FORM.match(created["FunctionUrl"])
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    assert created["AuthType"] == "NONE"
    assert created["Cors"] == cors
    assert created["InvokeMode"] == "BUFFERED"
    assert "LastModifiedTime" not in created

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["CreationTime"] == created["CreationTime"]

    updated = lam.update_function_url_config(
        FunctionName=name, AuthType="AWS_IAM", Cors={"AllowMethods": ["GET"]}
    )
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["Cors"] == {"AllowMethods": ["GET"]}  # a Cors given replaces the old one
    assert updated["FunctionUrl"] == created["FunctionUrl"]  # the address never changes
    kept = lam.update_function_url_config(FunctionName=name, InvokeMode="BUFFERED")
    assert kept["AuthType"] == "AWS_IAM" and kept["Cors"] == {"AllowMethods": ["GET"]}

    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]

    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(ClientError) as excinfo:
        lam.get_function_url_config(FunctionName=name)
    assert error_of(excinfo) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    again = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert again["FunctionUrl"] != created["FunctionUrl"]  # a new URL is a new address


def test_a_second_url_conflicts_and_bad_requests_change_nothing(
    lam: Any, name: str, account: str
) -> None:
    deploy(lam, name, ECHO)
    first = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    with pytest.raises(ClientError) as excinfo:
        lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    arn = f"arn:aws:lambda:us-east-1:{account}:function:{name}"
    assert error_of(excinfo) == (
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function",
        409,
    )
    with pytest.raises(ClientError) as streaming:
        lam.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    code, message, status = error_of(streaming)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "BUFFERED only" in message
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "NONE"
    assert (
        lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"][0]["FunctionUrl"]
        == first["FunctionUrl"]
    )


def test_urls_belong_to_functions_and_aliases_only(lam: Any, name: str, account: str) -> None:
    with pytest.raises(ClientError) as missing:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert error_of(missing)[::2] == ("ResourceNotFoundException", 404)
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as no_alias:
        lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert error_of(no_alias) == (
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:us-east-1:{account}:function:{name}:live",
        404,
    )
    lam.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as version:
        lam.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")
    assert error_of(version)[::2] == ("ValidationException", 400)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    on_alias = lam.create_function_url_config(
        FunctionName=f"{name}:live", AuthType="NONE"
    )  # the qualifier may come in the name, as AWS allows
    assert on_alias["FunctionArn"].endswith(f":function:{name}:live")
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[-1] for c in listed) == sorted(["live", name])
    with pytest.raises(ClientError) as bad_auth:
        lam.create_function_url_config(FunctionName=name, Qualifier="other", AuthType="OPEN")
    assert error_of(bad_auth)[::2] == ("ValidationException", 400)
    lam.delete_alias(FunctionName=name, Name="live")  # its URL goes with it
    remaining = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[-1] for c in remaining] == [name]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    fresh = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert fresh["FunctionUrl"] != on_alias["FunctionUrl"]


# -- the event ----------------------------------------------------------------------------
@runs
def test_get_request_event_matches_the_documented_payload(lam: Any, name: str) -> None:
    url = url_of(lam, name, ECHO)
    url_id = URL_FORM.match(url)[1]  # type: ignore[index]
    response = httpx.get(
        f"{url}my/path?parameter1=value1&parameter1=value2&parameter2=a%20b",
        headers=[
            ("Cookie", "cookie1=a; cookie2=b"),
            ("Header2", "value1"),
            ("Header2", "value2"),
            ("User-Agent", "agent"),
        ],
        timeout=60,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    event = response.json()
    # The documented request payload's keys, minus those function URLs leave out
    # (pathParameters, stageVariables; body when there is none).
    assert list(event) == [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "requestContext",
        "isBase64Encoded",
    ]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path"
    assert event["rawQueryString"] == "parameter1=value1&parameter1=value2&parameter2=a%20b"
    assert event["cookies"] == ["cookie1=a", "cookie2=b"]
    headers = event["headers"]
    assert headers["header2"] == "value1,value2"
    assert headers["user-agent"] == "agent"
    assert "cookie" not in headers  # cookies travel in `cookies` only
    assert all(k == k.lower() for k in headers)
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", headers["x-amzn-trace-id"])
    assert event["queryStringParameters"] == {"parameter1": "value1,value2", "parameter2": "a b"}
    context = event["requestContext"]
    assert set(context) == {
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "http",
        "requestId",
        "routeKey",
        "stage",
        "time",
        "timeEpoch",
    }
    assert context["accountId"] == "anonymous"  # AuthType NONE
    assert context["apiId"] == context["domainPrefix"] == url_id
    assert context["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert context["http"] == {
        "method": "GET",
        "path": "/my/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "agent",
    }
    assert context["requestId"] == response.headers["x-amzn-requestid"]
    assert context["routeKey"] == context["stage"] == "$default"
    assert CLF_TIME.match(context["time"])
    assert isinstance(context["timeEpoch"], int) and context["timeEpoch"] > 1.7e12
    assert event["isBase64Encoded"] is False


@runs
def test_text_bodies_arrive_as_text_and_others_as_base64(lam: Any, name: str) -> None:
    url = url_of(lam, name, ECHO)
    as_json = httpx.post(url, json={"example": "test"}, timeout=60).json()
    assert as_json["body"] == '{"example":"test"}'
    assert as_json["isBase64Encoded"] is False
    assert "queryStringParameters" not in as_json and as_json["rawQueryString"] == ""
    as_text = httpx.post(url, content="héllo", headers={"Content-Type": "text/plain"}, timeout=60)
    assert as_text.json()["body"] == "héllo"
    form = httpx.post(url, data={"a": "1"}, timeout=60).json()
    assert form["isBase64Encoded"] is True  # function URLs base64 form posts too
    assert base64.b64decode(form["body"]) == b"a=1"


@runs
def test_binary_bodies_round_trip(lam: Any, name: str) -> None:
    url = url_of(lam, name, BINARY)
    data = os.urandom(64 * 1024) + bytes(range(256))
    response = httpx.put(
        url, content=data, headers={"Content-Type": "application/octet-stream"}, timeout=60
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == data


@runs
def test_host_header_routes_to_the_url_too(lam: Any, name: str, server: RunningServer) -> None:
    url = url_of(lam, name, ECHO)
    url_id = URL_FORM.match(url)[1]  # type: ignore[index]
    host = f"{url_id}.lambda-url.us-east-1.localhost"
    event = httpx.get(
        f"{server.endpoint}/2015-03-31/functions?x=1", headers={"Host": host}, timeout=60
    ).json()
    assert event["rawPath"] == "/2015-03-31/functions"  # the function's path, not the API's
    assert event["requestContext"]["domainName"] == host


# -- the response -------------------------------------------------------------------------
@runs
def test_results_map_to_responses_as_aws_documents(lam: Any, name: str) -> None:
    url = url_of(lam, name, MIRROR)

    def answer(result: Any) -> httpx.Response:
        return httpx.post(url, json=result, timeout=60)

    string = answer("Hello, world!")
    assert (string.status_code, string.text) == (200, '"Hello, world!"')
    assert string.headers["content-type"] == "application/json"
    plain = answer({"message": "Hello, world!"})
    assert (plain.status_code, plain.json()) == (200, {"message": "Hello, world!"})
    assert plain.headers["content-type"] == "application/json"

    custom = answer(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/html", "My-Custom-Header": "Custom Value"},
            "body": "<p>made</p>",
            "cookies": [
                "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT",
                "Cookie_2=Value2; Max-Age=78000",
            ],
            "isBase64Encoded": False,
        }
    )
    assert custom.status_code == 201
    assert custom.text == "<p>made</p>"
    assert custom.headers["content-type"] == "text/html"
    assert custom.headers["my-custom-header"] == "Custom Value"
    assert custom.headers.get_list("set-cookie") == [
        "Cookie_1=Value1; Expires=21 Oct 2021 07:48 GMT",
        "Cookie_2=Value2; Max-Age=78000",
    ]
    empty = answer({"statusCode": 204})
    assert (empty.status_code, empty.content) == (204, b"")
    encoded = answer(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True}
    )
    assert encoded.content == b"\x00\xff"

    for broken in ({"statusCode": "200"}, {"statusCode": 99}, {"statusCode": 200, "headers": []}):
        bad = answer(broken)
        assert (bad.status_code, bad.json()) == (502, {"Message": "Internal Server Error"})


@runs
def test_function_errors_are_502_and_throttles_429(lam: Any, name: str) -> None:
    url = url_of(lam, name, FAILING)
    failed = httpx.get(url, timeout=60)
    assert (failed.status_code, failed.json()) == (502, {"Message": "Internal Server Error"})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    throttled = httpx.get(url, timeout=60)
    assert throttled.status_code == 429
    assert throttled.json() == {"Message": "Rate Exceeded."}


@runs
def test_request_payload_limit_is_6_mb(lam: Any, name: str) -> None:
    url = url_of(lam, name, ECHO)
    too_big = httpx.post(
        url,
        content=b"x" * (6 * 1024 * 1024 + 1),
        headers={"Content-Type": "text/plain"},
        timeout=60,
    )
    assert too_big.status_code == 413
    assert too_big.json() == {
        "Message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    }
    # Fits as a body, but not once base64-encoded into the event.
    binary = httpx.post(
        url,
        content=b"\x00" * (5 * 1024 * 1024),
        headers={"Content-Type": "image/png"},
        timeout=60,
    )
    assert binary.status_code == 413


def test_unknown_url_ids_are_forbidden(server: RunningServer) -> None:
    response = httpx.get(f"{server.endpoint}/_lambdalite/url/{'a' * 32}/", timeout=30)
    assert (response.status_code, response.json()) == (403, {"Message": "Forbidden"})


@runs
def test_alias_urls_run_the_aliased_version(lam: Any, name: str, account: str) -> None:
    deploy(lam, name, VERSION)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    latest = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert httpx.get(live["FunctionUrl"], timeout=60).json() == {
        "version": "1",
        "arn": f"arn:aws:lambda:us-east-1:{account}:function:{name}:live",
    }
    assert httpx.get(latest["FunctionUrl"], timeout=60).json()["version"] == "$LATEST"
    lam.delete_function(FunctionName=name)
    gone = httpx.get(latest["FunctionUrl"], timeout=60)
    assert gone.status_code == 403  # a deleted function's URLs go with it


# -- CORS ---------------------------------------------------------------------------------
CORS = {
    "AllowOrigins": ["https://app.example.com"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["x-custom"],
    "ExposeHeaders": ["x-request"],
    "MaxAge": 300,
    "AllowCredentials": True,
}


@runs
def test_cors_preflight_is_answered_from_the_config(lam: Any, name: str) -> None:
    url = url_of(lam, name, FAILING, Cors=CORS)  # a preflight that ran it would be a 502
    preflight = httpx.options(
        url,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-custom",
        },
        timeout=60,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert preflight.headers["access-control-allow-methods"] == "GET,POST"
    assert preflight.headers["access-control-allow-headers"] == "x-custom"
    assert preflight.headers["access-control-max-age"] == "300"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    refused = httpx.options(
        url,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=60,
    )
    assert refused.status_code == 200
    assert "access-control-allow-origin" not in refused.headers


@runs
def test_cors_headers_replace_the_functions_own(lam: Any, name: str) -> None:
    url = url_of(lam, name, MIRROR, Cors=CORS)
    result = {
        "statusCode": 200,
        "headers": {"Access-Control-Allow-Origin": "*", "X-Request": "r1"},
        "body": "ok",
    }
    allowed = httpx.post(
        url, json=result, headers={"Origin": "https://app.example.com"}, timeout=60
    )
    assert allowed.headers.get_list("access-control-allow-origin") == ["https://app.example.com"]
    assert allowed.headers["access-control-expose-headers"] == "x-request"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    other = httpx.post(url, json=result, headers={"Origin": "https://evil.example"}, timeout=60)
    assert other.headers.get_list("access-control-allow-origin") == ["*"]  # the function's
    assert other.text == "ok"


# -- AWS_IAM and the resource policy ------------------------------------------------------
@runs
def test_aws_iam_urls_need_a_signature_of_the_owner(
    lam: Any, name: str, account: str, server: RunningServer
) -> None:
    url = url_of(lam, name, ECHO, AuthType="AWS_IAM")
    unsigned = httpx.get(url, timeout=60)
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    forged = signed("GET", url, secret="wrong-secret-wrong-secret-wrong-secret-00")
    assert forged.status_code == 403
    assert "signature" in forged.json()["Message"]

    response = signed(
        "POST", f"{url}orders?id=7", body=b'{"n":1}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    event = response.json()
    assert event["body"] == '{"n":1}'
    context = event["requestContext"]
    assert context["accountId"] == account
    assert context["authorizer"] == {
        "iam": {
            "accessKey": ROOT_KEY,
            "accountId": account,
            "callerId": account,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account}:root",
            "userId": account,
        }
    }

    other_account, key = server.platform.accounts.create(f"acct-{name}")
    other = signed("GET", url, key.access_key_id, key.secret_access_key)
    assert (other.status_code, other.json()) == (403, {"Message": "Forbidden"})

    # The function's policy can let that account in, for AWS_IAM URLs only.
    lam.add_permission(
        FunctionName=name,
        StatementId="public-none",
        Action="lambda:InvokeFunctionUrl",
        Principal=other_account.account_id,
        FunctionUrlAuthType="NONE",
    )
    assert signed("GET", url, key.access_key_id, key.secret_access_key).status_code == 403
    added = lam.add_permission(
        FunctionName=name,
        StatementId="partner",
        Action="lambda:InvokeFunctionUrl",
        Principal=other_account.account_id,
        FunctionUrlAuthType="AWS_IAM",
    )
    assert json.loads(added["Statement"]) == {
        "Sid": "partner",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{other_account.account_id}:root"},
        "Action": "lambda:InvokeFunctionUrl",
        "Resource": f"arn:aws:lambda:us-east-1:{account}:function:{name}",
        "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
    }
    allowed = signed("GET", url, key.access_key_id, key.secret_access_key)
    assert allowed.status_code == 200
    assert allowed.json()["requestContext"]["accountId"] == other_account.account_id

    lam.remove_permission(FunctionName=name, StatementId="partner")
    assert signed("GET", url, key.access_key_id, key.secret_access_key).status_code == 403


def test_policy_statements_round_trip(lam: Any, name: str, account: str) -> None:
    deploy(lam, name, ECHO)
    with pytest.raises(ClientError) as none_yet:
        lam.get_policy(FunctionName=name)
    assert error_of(none_yet) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:us-east-1:{account}:rule/nightly",
    )
    with pytest.raises(ClientError) as duplicate:
        lam.add_permission(
            FunctionName=name, StatementId="events", Action="lambda:InvokeFunction", Principal="*"
        )
    assert error_of(duplicate) == (
        "ResourceConflictException",
        "The statement id (events) provided already exists. Please provide a new statement "
        "id, or remove the existing statement.",
        409,
    )
    policy = lam.get_policy(FunctionName=name)
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17"
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert by_sid["FunctionURLAllowPublicAccess"]["Principal"] == "*"
    assert by_sid["events"]["Principal"] == {"Service": "events.amazonaws.com"}
    assert by_sid["events"]["Condition"] == {
        "ArnLike": {"AWS:SourceArn": f"arn:aws:events:us-east-1:{account}:rule/nightly"}
    }
    assert (
        policy["RevisionId"] == lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    )
    lam.remove_permission(FunctionName=name, StatementId="events")
    with pytest.raises(ClientError) as gone:
        lam.remove_permission(FunctionName=name, StatementId="events")
    assert error_of(gone) == (
        "ResourceNotFoundException",
        "Statement events is not found in resource policy.",
        404,
    )
    assert [
        s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    ] == ["FunctionURLAllowPublicAccess"]
