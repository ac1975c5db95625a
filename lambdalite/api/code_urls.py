"""Download URLs for code packages (GetFunction's `Code.Location`).

AWS hands out a presigned S3 URL valid for 10 minutes; we hand out a URL to this server
carrying an expiry and an HMAC of (sha256, expiry) under the installation's secret, so
that any HTTP client can fetch the zip without signing the request.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

VALID_SECONDS = 600
PATH = "/_lambdalite/code/{sha256}"


class CodeUrlSigner:
    def __init__(
        self,
        secret: str,
        read: Callable[[str], bytes],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret.encode()
        self._read = read
        self._clock = clock

    def url(self, base_url: str, sha256: str) -> str:
        expires = int(self._clock()) + VALID_SECONDS
        path = PATH.format(sha256=sha256)
        return f"{base_url}{path}?expires={expires}&signature={self._sign(sha256, expires)}"

    async def download(self, request: Request) -> Response:
        sha256 = request.path_params["sha256"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if not expires.isdigit() or not hmac.compare_digest(
            signature, self._sign(sha256, int(expires))
        ):
            return _denied("The request signature does not match.")
        if int(expires) < self._clock():
            return _denied("Request has expired.")
        try:
            content = self._read(sha256)
        except LookupError:
            return Response(b"", status_code=404)
        return Response(content, media_type="application/zip")

    def _sign(self, sha256: str, expires: int) -> str:
        message = f"{sha256}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _denied(message: str) -> Response:
    # The body S3 gives a bad presigned URL; clients only look at the status.
    body = f"<Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"
    return Response(body, status_code=403, media_type="application/xml")
