"""The S3 notification webhook: S3-compatible stores (MinIO, Ceph RGW, AWS S3 through an
SNS HTTPS subscription) post their event notifications here, and each record reaches the
functions its bucket's configurations name, through the durable async path.

    POST /_lambdalite/webhooks/s3

Authentication is a webhook secret of the account (`lambdalite webhooks create`), sent
the ways these stores can send one: `Authorization: Bearer <secret>` (MinIO's
auth_token "Bearer <secret>"; a bare `Authorization: <secret>` is taken too), or HTTP
Basic with the secret as password (an SNS subscription or Ceph endpoint URL
`https://lambdalite:<secret>@host/...`). The answer is 200 only once every event of the
body is committed; a body that is malformed (400), unauthenticated (401), wrongly
authenticated (403), or names a bucket the account does not have (404) accepts nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging
import urllib.request
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambdalite.api.auth import read_body
from lambdalite.api.responses import error_response, internal_error
from lambdalite.buckets.inbound import InboundKind, MalformedNotification, parse
from lambdalite.buckets.service import BucketService
from lambdalite.buckets.webhook_secrets import WebhookSecrets
from lambdalite.errors import AccessDeniedException, ApiError, InvalidRequestContentException

log = logging.getLogger(__name__)

PATH = "/_lambdalite/webhooks/s3"
MAX_BODY_BYTES = 4 * 1024 * 1024
_CHALLENGE = 'Bearer realm="lambdalite", Basic realm="lambdalite"'


class UnauthorizedException(ApiError):
    status = 401


class S3Webhook:
    def __init__(self, service: BucketService, secrets: WebhookSecrets) -> None:
        self._service = service
        self._secrets = secrets

    async def receive(self, request: Request) -> Response:
        if request.method == "HEAD":
            # MinIO checks a webhook target is reachable with an unauthenticated HEAD.
            return Response(status_code=200)
        request_id = request.headers.get("x-amz-sns-message-id", "webhook")
        try:
            account_id = await run_in_threadpool(self._account, request)
            body = await read_body(request, MAX_BODY_BYTES)
            try:
                inbound = parse(body, request.headers.get("x-amz-sns-message-type"))
            except MalformedNotification as exc:
                raise InvalidRequestContentException(str(exc)) from None
            if inbound.kind is InboundKind.SUBSCRIPTION:
                assert inbound.subscribe_url is not None
                confirmed = await run_in_threadpool(_confirm, inbound.subscribe_url)
                return JSONResponse({"Confirmed": confirmed, "SubscribeURL": inbound.subscribe_url})
            accepted = 0
            if inbound.kind is InboundKind.RECORDS:
                accepted = await run_in_threadpool(
                    self._service.accept_records, account_id, inbound.records
                )
        except ApiError as error:
            response = error_response(error, request_id)
            if isinstance(error, UnauthorizedException):
                response.headers["WWW-Authenticate"] = _CHALLENGE
            return response
        except Exception as exc:
            return internal_error(exc, request_id)
        return JSONResponse({"Records": len(inbound.records), "Accepted": accepted})

    def _account(self, request: Request) -> str:
        secret = _presented_secret(request.headers.get("authorization"))
        if secret is None:
            raise UnauthorizedException(
                "The webhook needs a secret: Authorization: Bearer <secret>, or HTTP Basic "
                "auth with the secret as password (lambdalite webhooks create)."
            )
        account_id = self._secrets.account_of(secret)
        if account_id is None:
            raise AccessDeniedException("The webhook secret is not valid.")
        return account_id


def _presented_secret(header: str | None) -> str | None:
    if not header or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return header.strip()  # MinIO sends its auth_token exactly as configured


def _confirm(url: str) -> bool:
    """Visit an SNS SubscribeURL, if it is AWS's: the server fetches no other URL a
    caller names (that would let an account make it reach anything on its network)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not (
        host.endswith(".amazonaws.com") or host.endswith(".amazonaws.com.cn")
    ):
        log.warning("SNS subscription not confirmed automatically; visit %s", url)
        return False
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return bool(200 <= answer.status < 300)
    except OSError as exc:
        log.warning("SNS subscription confirmation failed (%s); visit %s", exc, url)
        return False
