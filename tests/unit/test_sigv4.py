"""SigV4 verification against requests signed by botocore itself.

Requests come from a real boto3 client (captured at 'before-send', i.e. exactly what
would go on the wire) or from botocore's signers applied to a hand-made AWSRequest.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials

from lambdalite.api.sigv4 import Credential, SignedRequest, verify
from lambdalite.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://localhost:9000"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


def secret_for(access_key_id: str) -> str | None:
    return {ACCESS_KEY: SECRET}.get(access_key_id)


class _Sent(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def _stop(request: AWSPreparedRequest, **_: Any) -> None:
    raise _Sent(request)


def boto3_request(service: str, operation: str, **params: Any) -> SignedRequest:
    """What a real boto3 client sends for `operation`, caught before it leaves."""
    session = boto3.Session(ACCESS_KEY, SECRET, region_name="us-east-1")
    client = session.client(service, endpoint_url=ENDPOINT)
    client.meta.events.register("before-send", _stop)
    with pytest.raises(_Sent) as sent:
        getattr(client, operation)(**params)
    return to_signed(sent.value.request)


def botocore_signed(
    method: str,
    path_and_query: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    region: str = "us-east-1",
    service: str = "lambda",
    secret: str = SECRET,
) -> SignedRequest:
    request = AWSRequest(method=method, url=ENDPOINT + path_and_query, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, secret), service, region).add_auth(request)
    return to_signed(request.prepare())


def presigned(
    path_and_query: str, expires: int = 60, signer: type = SigV4QueryAuth
) -> SignedRequest:
    request = AWSRequest(method="GET", url=ENDPOINT + path_and_query)
    signer(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1", expires=expires).add_auth(
        request
    )
    return to_signed(request.prepare())


def to_signed(prepared: AWSPreparedRequest) -> SignedRequest:
    url = urlsplit(prepared.url)
    # urllib3 adds Host from the URL; botocore signs the same value (_host_from_url).
    headers = {"host": url.netloc}
    for name, value in prepared.headers.items():
        headers[name.lower()] = value.decode() if isinstance(value, bytes) else value
    body = prepared.body or b""
    return SignedRequest(
        method=prepared.method,
        raw_path=url.path,
        query_string=url.query,
        headers=headers,
        body=body.encode() if isinstance(body, str) else body,
    )


def signed_at(request: SignedRequest) -> datetime:
    amz_date = (
        request.headers.get("x-amz-date") or dict(parse_qsl(request.query_string))["X-Amz-Date"]
    )
    return datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def check(request: SignedRequest, *, after: int = 0) -> Credential:
    """Verify `request` as if `after` seconds had passed since it was signed."""
    return verify(request, secret_for, signed_at(request) + timedelta(seconds=after))


def with_headers(request: SignedRequest, **changes: str | None) -> SignedRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    return replace(request, headers=headers)


# --- what boto3 really sends -----------------------------------------------------------

BOTO3_CALLS = {
    "get-function-arn-latest": (
        "lambda",
        "get_function",
        {"FunctionName": ARN, "Qualifier": "$LATEST"},
    ),
    "invoke-post-body": ("lambda", "invoke", {"FunctionName": "f:$LATEST", "Payload": b'{"x": 1}'}),
    "list-functions-query": ("lambda", "list_functions", {"MaxItems": 5, "Marker": "a b/c+d$~é"}),
    "list-versions": ("lambda", "list_versions_by_function", {"FunctionName": "f", "MaxItems": 5}),
    "get-configuration-qualifier": (
        "lambda",
        "get_function_configuration",
        {"FunctionName": "f", "Qualifier": "1"},
    ),
    "update-code-put-body": (
        "lambda",
        "update_function_code",
        {"FunctionName": "f", "ZipFile": b"PK\x03\x04"},
    ),
    "delete-function": ("lambda", "delete_function", {"FunctionName": ARN, "Qualifier": "2"}),
    "tag-resource-arn": ("lambda", "tag_resource", {"Resource": ARN, "Tags": {"team": "a b"}}),
    "create-function": (
        "lambda",
        "create_function",
        {
            "FunctionName": "f",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Code": {"ZipFile": b"PK"},
            "Runtime": "python3.12",
            "Handler": "app.handler",
        },
    ),
    "sqs-json-post-root": (
        "sqs",
        "send_message",
        {"QueueUrl": ENDPOINT + "/123456789012/q", "MessageBody": "hi"},
    ),
    "logs-json-post-root": (
        "logs",
        "put_log_events",
        {
            "logGroupName": "g",
            "logStreamName": "s",
            "logEvents": [{"timestamp": 1, "message": "m"}],
        },
    ),
}


@pytest.mark.parametrize("call", BOTO3_CALLS.values(), ids=BOTO3_CALLS.keys())
def test_boto3_requests_verify(call: tuple[str, str, dict[str, Any]]) -> None:
    service, operation, params = call
    request = boto3_request(service, operation, **params)

    credential = check(request)

    assert credential == Credential(
        access_key_id=ACCESS_KEY,
        date=signed_at(request).strftime("%Y%m%d"),
        region="us-east-1",
        service=service,
    )


def test_lambda_paths_travel_encoded_once() -> None:
    # The quirk the canonical URI must undo: the wire path is already percent-encoded,
    # and botocore signs it encoded a second time.
    request = boto3_request("lambda", "invoke", FunctionName=f"{ARN}:$LATEST")
    assert request.raw_path == (
        "/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn%3A%24LATEST/invocations"
    )
    assert check(request).access_key_id == ACCESS_KEY


@pytest.mark.parametrize(
    "path",
    ["/2015-03-31/functions/", "/", "", "/2015-03-31//functions/./f/../g", "/a/%7E~b%20c/"],
)
def test_paths_botocore_normalizes(path: str) -> None:
    assert check(botocore_signed("GET", path)).service == "lambda"


def test_scope_region_and_service_are_taken_as_signed() -> None:
    request = botocore_signed("POST", "/", b"{}", region="eu-west-3", service="sqs")
    credential = check(request)
    assert (credential.region, credential.service) == ("eu-west-3", "sqs")


def test_repeated_query_keys_sort_by_value() -> None:
    assert check(botocore_signed("GET", "/2015-03-31/functions?b=2&a=2&a=1")).region == "us-east-1"


def test_query_signed_in_spec_form_but_sent_unencoded() -> None:
    # A signer following the AWS spec encodes '$' and ':' in the canonical query even
    # when its HTTP client leaves them raw on the wire.
    request = AWSRequest(
        method="GET",
        url=ENDPOINT + "/2015-03-31/functions/f",
        params={"Qualifier": "$LATEST", "x": "a:b"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), "lambda", "us-east-1").add_auth(request)
    signed = replace(to_signed(request.prepare()), query_string="Qualifier=$LATEST&x=a:b")
    assert check(signed).access_key_id == ACCESS_KEY


def test_header_inner_whitespace_is_collapsed() -> None:
    # HTTP servers strip the ends of a header value but keep its inside as sent.
    request = botocore_signed("GET", "/", headers={"X-Custom": "a   b \t c"})
    assert "x-custom" in request.headers["authorization"]
    assert check(request).access_key_id == ACCESS_KEY
    with pytest.raises(InvalidSignatureException):
        check(with_headers(request, x_custom="a b d"))


def test_date_header_stands_in_for_x_amz_date() -> None:
    request = botocore_signed("GET", "/", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert "x-amz-date" not in request.headers
    sent_at = parsedate_to_datetime(request.headers["date"]).replace(tzinfo=UTC)
    assert verify(request, secret_for, sent_at).date == sent_at.strftime("%Y%m%d")


def test_payload_hash_header_binds_the_body() -> None:
    body = b'{"x": 1}'
    declared = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    request = botocore_signed("POST", "/2015-03-31/functions/f/invocations", body, declared)
    assert check(request).access_key_id == ACCESS_KEY
    with pytest.raises(InvalidSignatureException) as error:
        check(replace(request, body=b'{"x": 2}'))
    assert error.value.message == (
        "The provided 'x-amz-content-sha256' header does not match what was computed."
    )


def test_unsigned_payload_header_leaves_the_body_unsigned() -> None:
    unsigned = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    request = botocore_signed("PUT", "/2015-03-31/functions/f/code", b"one", unsigned)
    assert check(replace(request, body=b"two")).access_key_id == ACCESS_KEY


# --- presigned URLs --------------------------------------------------------------------


def test_boto3_presigned_url_verifies() -> None:
    client = boto3.Session(ACCESS_KEY, SECRET, region_name="us-east-1").client(
        "lambda", endpoint_url=ENDPOINT
    )
    url = urlsplit(
        client.generate_presigned_url(
            "get_function", Params={"FunctionName": ARN, "Qualifier": "$LATEST"}, ExpiresIn=60
        )
    )
    request = SignedRequest("GET", url.path, url.query, {"host": url.netloc}, b"")
    assert "authorization" not in request.headers
    assert check(request, after=60).service == "lambda"


@pytest.mark.parametrize("signer", [SigV4QueryAuth, S3SigV4QueryAuth])
def test_presigned_with_body_hash_or_unsigned_payload(signer: type) -> None:
    # SigV4QueryAuth hashes the empty body; S3SigV4QueryAuth signs UNSIGNED-PAYLOAD.
    request = presigned("/2015-03-31/functions/f?Qualifier=1", signer=signer)
    assert check(request).access_key_id == ACCESS_KEY


def test_presigned_url_expires() -> None:
    request = presigned("/2015-03-31/functions/f", expires=60)
    sent = signed_at(request)
    with pytest.raises(InvalidSignatureException) as error:
        check(request, after=61)
    now = sent + timedelta(seconds=61)
    assert error.value.message == (
        f"Signature expired: {sent:%Y%m%dT%H%M%SZ} is now earlier than "
        f"{now - timedelta(seconds=60):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 1 min.)"
    )


def test_presigned_url_from_the_future_is_refused() -> None:
    with pytest.raises(InvalidSignatureException, match=r"^Signature not yet current: "):
        check(presigned("/2015-03-31/functions/f"), after=-301)


def test_presigned_query_is_signed() -> None:
    request = presigned("/2015-03-31/functions/f?Qualifier=1")
    tampered = request.query_string.replace("Qualifier=1", "Qualifier=2")
    with pytest.raises(InvalidSignatureException, match=f"^{BAD_SIGNATURE}$"):
        check(replace(request, query_string=tampered))


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        (
            "X-Amz-Credential",
            "AWS query-string parameters must include 'X-Amz-Credential'. "
            "Re-examine the query-string parameters.",
        ),
        (
            "X-Amz-Date",
            "AWS query-string parameters must include 'X-Amz-Date'. "
            "Re-examine the query-string parameters.",
        ),
    ],
)
def test_presigned_url_missing_a_parameter(drop: str, message: str) -> None:
    request = presigned("/2015-03-31/functions/f")
    query = "&".join(p for p in request.query_string.split("&") if not p.startswith(drop + "="))
    with pytest.raises(IncompleteSignatureException) as error:
        verify(replace(request, query_string=query), secret_for, datetime.now(UTC))
    assert error.value.message == message


def test_presigned_url_may_not_outlive_a_week() -> None:
    request = presigned("/2015-03-31/functions/f", expires=604801)
    with pytest.raises(IncompleteSignatureException, match="less than a week"):
        check(request)


# --- tampering and wrong keys ----------------------------------------------------------


def _invoke() -> SignedRequest:
    return boto3_request("lambda", "invoke", FunctionName="f:$LATEST", Payload=b'{"x": 1}')


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: replace(r, body=b'{"x": 2}'), id="body"),
        pytest.param(
            lambda r: replace(r, raw_path=r.raw_path.replace("/f%3A", "/g%3A")), id="path"
        ),
        pytest.param(
            lambda r: replace(r, raw_path=r.raw_path.replace("%24", "$")), id="path-encoding"
        ),
        pytest.param(lambda r: replace(r, method="PUT"), id="method"),
        pytest.param(lambda r: replace(r, query_string="Qualifier=1"), id="query"),
        pytest.param(lambda r: with_headers(r, host="evil.example:9000"), id="host-header"),
    ],
)
def test_tampered_request_is_refused(tamper: Any) -> None:
    request = _invoke()
    assert check(request).access_key_id == ACCESS_KEY
    with pytest.raises(InvalidSignatureException) as error:
        check(tamper(request))
    assert error.value.message == BAD_SIGNATURE


def test_wrong_secret_is_refused() -> None:
    request = botocore_signed("GET", "/2015-03-31/functions", secret="not-the-secret")
    with pytest.raises(InvalidSignatureException, match=f"^{BAD_SIGNATURE}$"):
        check(request)


def test_unknown_access_key_is_refused() -> None:
    request = _invoke()
    with pytest.raises(UnrecognizedClientException) as error:
        verify(request, lambda key: None, signed_at(request))
    assert error.value.message == "The security token included in the request is invalid."


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    request = _invoke()
    auth = request.headers["authorization"]
    forged = auth[: auth.index("Signature=")] + "Signature=é"
    with pytest.raises(InvalidSignatureException):
        check(with_headers(request, authorization=forged))


# --- clock skew --------------------------------------------------------------------------


def test_clock_skew_within_five_minutes_is_accepted() -> None:
    request = _invoke()
    assert check(request, after=300) == check(request, after=-300)


def test_signature_expired() -> None:
    request = _invoke()
    sent = signed_at(request)
    now = sent + timedelta(seconds=301)
    with pytest.raises(InvalidSignatureException) as error:
        check(request, after=301)
    assert error.value.message == (
        f"Signature expired: {sent:%Y%m%dT%H%M%SZ} is now earlier than "
        f"{now - timedelta(minutes=5):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 5 min.)"
    )


def test_signature_not_yet_current() -> None:
    request = _invoke()
    sent = signed_at(request)
    now = sent - timedelta(seconds=301)
    with pytest.raises(InvalidSignatureException) as error:
        check(request, after=-301)
    assert error.value.message == (
        f"Signature not yet current: {sent:%Y%m%dT%H%M%SZ} is still later than "
        f"{now + timedelta(minutes=5):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} + 5 min.)"
    )


def test_scope_date_must_match_x_amz_date() -> None:
    request = _invoke()
    day = signed_at(request).strftime("%Y%m%d")
    auth = request.headers["authorization"].replace(f"/{day}/", "/20200101/")
    with pytest.raises(InvalidSignatureException) as error:
        check(with_headers(request, authorization=auth))
    assert error.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        f"HTTP: '20200101' != '{day}', from '{request.headers['x-amz-date']}'."
    )


# --- missing and malformed authentication ------------------------------------------------


def test_no_authentication_at_all() -> None:
    request = SignedRequest("GET", "/2015-03-31/functions", "", {"host": "localhost"}, b"")
    with pytest.raises(MissingAuthenticationTokenException) as error:
        verify(request, secret_for, datetime.now(UTC))
    assert error.value.message == "Missing Authentication Token"


def test_bearer_token_gets_aws_list_of_missing_parameters() -> None:
    request = with_headers(_invoke(), authorization="Bearer abc", x_amz_date=None)
    with pytest.raises(IncompleteSignatureException) as error:
        verify(request, secret_for, datetime.now(UTC))
    assert error.value.message == (
        "Authorization header requires 'Credential' parameter. "
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=Bearer abc"
    )


def test_authorization_without_signature() -> None:
    request = _invoke()
    auth = request.headers["authorization"]
    truncated = auth[: auth.index(", Signature=")]
    with pytest.raises(IncompleteSignatureException) as error:
        check(with_headers(request, authorization=truncated))
    assert error.value.message == (
        f"Authorization header requires 'Signature' parameter. Authorization={truncated}"
    )


def test_authorization_pair_without_equal_sign() -> None:
    request = _invoke()
    auth = request.headers["authorization"].replace(f"{ACCESS_KEY}/", f"{ACCESS_KEY} /")
    with pytest.raises(IncompleteSignatureException) as error:
        check(with_headers(request, authorization=auth))
    assert error.value.message == (
        f"'/{signed_at(request):%Y%m%d}/us-east-1/lambda/aws4_request' not a valid key=value "
        f"pair (missing equal-sign) in Authorization header: '{auth}'."
    )


def test_malformed_credential() -> None:
    request = _invoke()
    auth = request.headers["authorization"].replace("/aws4_request", "")
    with pytest.raises(IncompleteSignatureException, match=r"^Credential should be of the form"):
        check(with_headers(request, authorization=auth))


def test_x_amz_date_missing() -> None:
    request = with_headers(_invoke(), x_amz_date=None)
    with pytest.raises(IncompleteSignatureException) as error:
        verify(request, secret_for, datetime.now(UTC))
    assert error.value.message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def test_malformed_x_amz_date() -> None:
    request = with_headers(_invoke(), x_amz_date="2024-01-01T00:00:00Z")
    with pytest.raises(IncompleteSignatureException, match="ISO-8601 'basic format'"):
        verify(request, secret_for, datetime.now(UTC))


def test_signed_header_absent_from_request() -> None:
    request = botocore_signed("POST", "/", b"{}", {"X-Amz-Target": "AmazonSQS.SendMessage"})
    with pytest.raises(IncompleteSignatureException, match="'x-amz-target'"):
        check(with_headers(request, x_amz_target=None))


def test_host_must_be_signed() -> None:
    request = _invoke()
    auth = request.headers["authorization"].replace("SignedHeaders=host;", "SignedHeaders=")
    with pytest.raises(IncompleteSignatureException) as error:
        check(with_headers(request, authorization=auth))
    assert error.value.message == (
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    )
