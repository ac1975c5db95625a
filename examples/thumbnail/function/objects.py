"""Reading and writing lambdalite bucket objects from inside a function, with nothing but
the standard library: the objects API (/_lambdalite/buckets/{bucket}/objects/{key}),
signed with AWS Signature Version 4 the way lambdalite verifies its own endpoints.

A sandbox cannot see the server's data dir; it reaches the API over the network, at an
address the operator allows (LAMBDALITE_SANDBOX_NETWORK_ALLOW).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.request
from urllib.parse import quote, urlsplit

SERVICE = "lambda"  # the scope lambdalite's own endpoints are signed in, like the CLI's


class Objects:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    def get(self, bucket: str, key: str) -> bytes:
        with urllib.request.urlopen(self._request("GET", bucket, key, b""), timeout=30) as r:
            return bytes(r.read())

    def put(self, bucket: str, key: str, data: bytes) -> None:
        with urllib.request.urlopen(self._request("PUT", bucket, key, data), timeout=30) as r:
            r.read()

    def _request(self, method: str, bucket: str, key: str, body: bytes) -> urllib.request.Request:
        path = quote(f"/_lambdalite/buckets/{bucket}/objects/{key}", safe="/~")
        now = datetime.datetime.now(datetime.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        payload_hash = hashlib.sha256(body).hexdigest()
        host = urlsplit(self.endpoint).netloc
        headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                method,
                quote(path, safe="/~"),  # every service but S3 signs the path encoded twice
                "",
                "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
                signed,
                payload_hash,
            ]
        )
        scope = f"{day}/{self.region}/{SERVICE}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key_bytes = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, SERVICE, "aws4_request"):
            key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.endpoint + path, data=body or None, method=method)
        request.add_header("x-amz-date", amz_date)
        request.add_header("x-amz-content-sha256", payload_hash)
        request.add_header(
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}",
        )
        return request
