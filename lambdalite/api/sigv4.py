"""Server side of AWS Signature Version 4: verify a signed request, no web framework.

The canonical request is rebuilt the way botocore's `SigV4Auth` builds it (botocore is
what boto3 and the AWS CLI sign with), checked against the IAM User Guide page
"Create a signed AWS API request", and the errors carry AWS's own messages.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from lambdalite.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# "Authenticating Requests: Using Query Parameters" (S3 API reference): a presigned URL
# lives at most seven days.
MAX_PRESIGN_EXPIRES = 604800

_PARAM_SEPARATORS = re.compile(r"[\s,]+")
# The Authorization header as botocore and the other SDKs write it: read in one match.
# Anything else is taken apart item by item, which gives AWS's messages for what is wrong.
_SDK_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^\s,]+), ?SignedHeaders=([^\s,]+), ?Signature=([^\s,]+)"
)
# A path made only of characters `quote(safe="/~")` leaves alone.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")

_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # as sent on the wire, still percent-encoded, latin-1 decoded, no query
    query_string: str  # as sent, without '?'
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ','
    body: bytes


@dataclass(frozen=True)
class Credential:
    """What a verified request was signed with (its credential scope)."""

    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str


@dataclass(slots=True)  # not frozen: made for every request, and never changed
class _Signature:
    """The signing material of a request, read from its header or its query."""

    credential: Credential
    amz_date: str
    signed_headers: list[str]
    signature: str
    expires: int | None  # seconds, for a presigned URL only


def verify(
    request: SignedRequest,
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew_seconds: int = 300,
) -> Credential:
    """Return the credential `request` was validly signed with, or raise an ApiError."""
    query = _query_pairs(request.query_string)
    if "authorization" in request.headers:
        sig = _from_header(request.headers["authorization"], request.headers)
    elif any(k in ("X-Amz-Algorithm", "X-Amz-Signature") for k, _ in query):
        sig = _from_query(query)
        # "Create a presigned URL": the signature cannot sign itself.
        query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    else:
        raise MissingAuthenticationTokenException("Missing Authentication Token")

    signed_at = _parse_amz_date(sig.amz_date)
    if sig.credential.date != sig.amz_date[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{sig.credential.date}' != '{sig.amz_date[:8]}', "
            f"from '{sig.amz_date}'."
        )
    _check_time(signed_at, sig.expires, now, max_skew_seconds)
    if "host" not in sig.signed_headers:
        raise IncompleteSignatureException(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    for name in sig.signed_headers:
        if name not in request.headers:
            raise IncompleteSignatureException(
                f"Signed header '{name}' is listed in SignedHeaders but absent from the request."
            )

    secret = secret_for(sig.credential.access_key_id)
    if secret is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")

    key = _signing_key(secret, sig.credential)
    provided = sig.signature.encode()
    presigned = sig.expires is not None
    for canonical in _canonical_requests(request, query, sig.signed_headers, presigned):
        string_to_sign = "\n".join(
            [ALGORITHM, sig.amz_date, _scope(sig.credential), _sha256_hex(canonical.encode())]
        )
        expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
        if hmac.compare_digest(expected.encode(), provided):
            return sig.credential
    raise InvalidSignatureException(_BAD_SIGNATURE)


def _from_header(authorization: str, headers: Mapping[str, str]) -> _Signature:
    amz_date = headers.get("x-amz-date")
    sdk = _SDK_AUTHORIZATION.fullmatch(authorization)
    if sdk is not None and amz_date:
        credential, signed_headers, signature = sdk.groups()
        return _Signature(
            _parse_credential(credential), amz_date, signed_headers.split(";"), signature, None
        )
    algorithm, _, rest = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    # Anything but SigV4 (a bearer token, SigV2) has none of the parameters, and AWS
    # answers it with the same "requires ..." list. AWS splits the parameters on commas
    # and on whitespace alike: a stray space inside a value is a "missing equal-sign".
    if algorithm == ALGORITHM:
        for item in filter(None, _PARAM_SEPARATORS.split(rest)):
            name, eq, value = item.partition("=")
            if not eq:
                raise IncompleteSignatureException(
                    f"'{item}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{authorization}'."
                )
            params[name] = value
    amz_date = amz_date or _amz_date_from_http_date(headers.get("date"))
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in params
    ]
    if amz_date is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if missing or amz_date is None:
        raise IncompleteSignatureException(" ".join([*missing, f"Authorization={authorization}"]))
    return _Signature(
        credential=_parse_credential(params["Credential"]),
        amz_date=amz_date,
        signed_headers=params["SignedHeaders"].split(";"),
        signature=params["Signature"],
        expires=None,
    )


def _from_query(query: list[tuple[str, str]]) -> _Signature:
    params: dict[str, str] = {}
    for name, value in query:
        params.setdefault(unquote(name), unquote(value))
    for name in (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    ):
        if name not in params:
            raise IncompleteSignatureException(
                f"AWS query-string parameters must include '{name}'. "
                "Re-examine the query-string parameters."
            )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignatureException(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise IncompleteSignatureException("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise IncompleteSignatureException("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise IncompleteSignatureException(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
        )
    return _Signature(
        credential=_parse_credential(params["X-Amz-Credential"]),
        amz_date=params["X-Amz-Date"],
        signed_headers=params["X-Amz-SignedHeaders"].split(";"),
        signature=params["X-Amz-Signature"],
        expires=expires,
    )


@functools.lru_cache(maxsize=256)  # a client sends the same one all day
def _parse_credential(value: str) -> Credential:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignatureException(
            f"Credential should be of the form "
            f"'<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request', not '{value}'."
        )
    if parts[4] != "aws4_request":
        raise IncompleteSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', "
            f"not '{parts[4]}'."
        )
    return Credential(access_key_id=parts[0], date=parts[1], region=parts[2], service=parts[3])


def _amz_date_from_http_date(value: str | None) -> str | None:
    # SigV4 accepts the HTTP Date header when X-Amz-Date is absent; botocore signs that
    # way when a request already carries Date (SigV4Auth._set_necessary_date_headers).
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _utc(parsed).strftime(AMZ_DATE_FORMAT)


@functools.lru_cache(maxsize=256)  # a busy client sends the same one many times a second
def _parse_amz_date(value: str) -> datetime:
    # Sliced by hand: strptime costs ~14 µs a request on the invoke hot path.
    try:
        if len(value) != 16 or value[8] != "T" or value[15] != "Z":
            raise ValueError(value)
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{value}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


def _check_time(signed_at: datetime, expires: int | None, now: datetime, skew: int) -> None:
    # A presigned URL is good until its own expiry; a header-signed request only
    # within the clock skew AWS allows (5 minutes). Compared as epoch seconds: this
    # runs on every request, and the messages are only formatted for a failure.
    window = skew if expires is None else expires
    age = now.timestamp() - signed_at.timestamp()
    if -skew <= age <= window:
        return
    now = _utc(now)
    amz = signed_at.strftime(AMZ_DATE_FORMAT)
    if signed_at < now - timedelta(seconds=window):
        raise InvalidSignatureException(
            f"Signature expired: {amz} is now earlier than "
            f"{_fmt(now - timedelta(seconds=window))} ({_fmt(now)} - {_duration(window)})"
        )
    if signed_at > now + timedelta(seconds=skew):
        raise InvalidSignatureException(
            f"Signature not yet current: {amz} is still later than "
            f"{_fmt(now + timedelta(seconds=skew))} ({_fmt(now)} + {_duration(skew)})"
        )


def _canonical_requests(
    request: SignedRequest, query: list[tuple[str, str]], signed: list[str], presigned: bool
) -> Iterator[str]:
    """Yield each canonical request a legitimate signer may have built, most likely first."""
    values = request.headers
    headers = "".join([f"{name}:{' '.join(values[name].split())}\n" for name in signed])
    head = [request.method.upper(), _canonical_uri(request.raw_path)]
    tail = [headers, ";".join(signed)]
    tried: set[str] = set()
    for canonical_query in _canonical_queries(query):  # lazily: the second is rarely needed
        if canonical_query in tried:
            continue
        tried.add(canonical_query)
        for payload in _payload_hashes(request, presigned):
            yield "\n".join([*head, canonical_query, *tail, payload])


def _canonical_uri(raw_path: str) -> str:
    plain = raw_path.startswith("/") and _PLAIN_PATH.fullmatch(raw_path) is not None
    if plain and "//" not in raw_path and "/." not in raw_path:
        return raw_path  # nothing to normalise or encode (the common case)
    # "Create a canonical request": for every service but S3, each path segment is
    # URI-encoded twice. botocore gets there by normalizing the already-encoded wire path
    # (dot segments and empty segments removed) and quoting it again with only '/' and '~'
    # safe: '$LATEST' travels as '%24LATEST' and is signed as '%2524LATEST', an ARN's ':'
    # travels as '%3A' and is signed as '%253A'.
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if segments and raw_path.endswith("/"):
        path += "/"
    return quote(path.encode("latin-1"), safe="/~")


def _canonical_queries(query: list[tuple[str, str]]) -> Iterator[str]:
    # botocore signs the query exactly as it put it on the wire (pairs sorted, nothing
    # re-encoded: SigV4Auth._canonical_query_string_url). AWS's spec decodes and
    # re-encodes each name and value with only A-Z a-z 0-9 - _ . ~ unreserved, which is
    # what other signers (and botocore given `params=`) do. For botocore's own requests
    # the two agree, so the second is tried only when the wire encoding is unusual.
    yield _join_sorted(query)
    yield _join_sorted(
        [(quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")) for k, v in query]
    )


def _payload_hashes(request: SignedRequest, presigned: bool) -> list[str]:
    declared = request.headers.get("x-amz-content-sha256")
    actual = _sha256_hex(request.body)
    if declared is not None:
        if declared != UNSIGNED_PAYLOAD and declared.lower() != actual:
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        return [declared]
    # botocore's SigV4QueryAuth hashes the (empty) body; S3-style presigners
    # (S3SigV4QueryAuth, most other SDKs) sign the constant UNSIGNED-PAYLOAD instead.
    return [actual, UNSIGNED_PAYLOAD] if presigned else [actual]


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    if not query_string:
        return []
    return [(k, v) for k, _, v in (pair.partition("=") for pair in query_string.split("&"))]


def _join_sorted(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


@functools.lru_cache(maxsize=1024)
def _derived_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _signing_key(secret: str, credential: Credential) -> bytes:
    # The key changes once a day per (secret, region, service): derive it once, not on
    # every request (four HMACs).
    return _derived_key(secret, credential.date, credential.region, credential.service)


def _scope(credential: Credential) -> str:
    return f"{credential.date}/{credential.region}/{credential.service}/aws4_request"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(moment: datetime) -> datetime:
    # A naive datetime is taken as UTC (email.utils returns one for '-0000').
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime(AMZ_DATE_FORMAT)


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min." if seconds % 60 == 0 else f"{seconds} sec."
