"""Buckets, their notification configurations, their objects and the webhook's secrets
over HTTP: lambdalite's own endpoints, signed with SigV4 like the Lambda API.

    POST   /_lambdalite/buckets                      {"Name", "Path"?, "External"?}
    GET    /_lambdalite/buckets                      the account's buckets
    GET    /_lambdalite/buckets/{bucket}             one, with its configurations
    DELETE /_lambdalite/buckets/{bucket}             forget it (its files stay on disk)
    GET    /_lambdalite/buckets/{bucket}/notification
    PUT    /_lambdalite/buckets/{bucket}/notification  S3's NotificationConfiguration
                                                     ({"LambdaFunctionConfigurations": []})
    POST   /_lambdalite/buckets/{bucket}/notification  one LambdaFunctionConfiguration,
                                                     added (replacing one of the same Id)
    GET    /_lambdalite/buckets/{bucket}/objects?prefix=P   keys, sizes
    PUT    /_lambdalite/buckets/{bucket}/objects/{key}      the body, written atomically
    GET    /_lambdalite/buckets/{bucket}/objects/{key}      the content
    DELETE /_lambdalite/buckets/{bucket}/objects/{key}
    POST   /_lambdalite/webhook-secrets              {"Description"?}: the secret, once
    GET    /_lambdalite/webhook-secrets              ids and descriptions
    DELETE /_lambdalite/webhook-secrets/{id}

Writes through the objects API are files like any other: the bucket watcher notices
them and notifies (docs/decisions/0503-buckets.md). Errors are AWS-shaped JSON
(`x-amzn-ErrorType` and a message), as on the other endpoints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.responses import error_response, internal_error
from lambdalite.buckets import files
from lambdalite.buckets.model import Bucket
from lambdalite.buckets.names import UnsafePath, check_key, object_path
from lambdalite.buckets.service import BucketService, NoSuchBucket
from lambdalite.buckets.webhook_secrets import WebhookSecrets
from lambdalite.control.accounts import AccountService
from lambdalite.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
)

MAX_DOCUMENT_BYTES = 256 * 1024
_CHUNK = 256 * 1024
# (caller's account id, request, body) -> the response; runs on a worker thread.
Work = Callable[[str, Request, bytes], Response]


class NoSuchKey(ApiError):
    status = 404


class BucketsApi:
    def __init__(
        self,
        service: BucketService,
        secrets: WebhookSecrets,
        auth: Authenticator,
        accounts: AccountService,
        max_object_bytes: int,
    ) -> None:
        self._service = service
        self._secrets = secrets
        self._auth = auth
        self._accounts = accounts
        self._max_object_bytes = max_object_bytes

    def routes(self) -> list[Route]:
        base = "/_lambdalite/buckets"
        objects = f"{base}/{{bucket}}/objects"
        return [
            Route(base, self._endpoint(self._create), methods=["POST"]),
            Route(base, self._endpoint(self._list), methods=["GET"]),
            Route(f"{base}/{{bucket}}", self._endpoint(self._describe), methods=["GET"]),
            Route(f"{base}/{{bucket}}", self._endpoint(self._delete), methods=["DELETE"]),
            Route(
                f"{base}/{{bucket}}/notification",
                self._endpoint(self._notification),
                methods=["GET", "PUT", "POST"],
            ),
            Route(objects, self._endpoint(self._list_objects), methods=["GET"]),
            Route(
                f"{objects}/{{key:path}}",
                self._endpoint(self._object, self._max_object_bytes),
                methods=["GET", "PUT", "DELETE"],
            ),
            Route(
                "/_lambdalite/webhook-secrets",
                self._endpoint(self._webhook_secrets),
                methods=["GET", "POST"],
            ),
            Route(
                "/_lambdalite/webhook-secrets/{secret_id}",
                self._endpoint(self._delete_webhook_secret),
                methods=["DELETE"],
            ),
        ]

    def _endpoint(self, work: Work, limit: int = MAX_DOCUMENT_BYTES) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            request_id = request.headers.get("x-amz-request-id", "buckets")
            try:
                body = await read_body(request, limit)
                caller = await self._auth.authenticate(request, body)
                response: Response = await run_in_threadpool(work, caller, request, body)
            except ApiError as error:
                return error_response(error, request_id)
            except UnsafePath as exc:
                return error_response(InvalidParameterValueException(str(exc)), request_id)
            except Exception as exc:
                return internal_error(exc, request_id)
            return response

        return endpoint

    # -- buckets --------------------------------------------------------------------------
    def _create(self, caller: str, request: Request, body: bytes) -> Response:
        document = _document(body)
        name = document.get("Name")
        path = document.get("Path")
        external = document.get("External", False)
        if not isinstance(name, str) or not (path is None or isinstance(path, str)):
            raise InvalidRequestContentException("Name (a string) is required; Path is a string.")
        if not isinstance(external, bool):
            raise InvalidRequestContentException("External must be true or false.")
        bucket = self._service.create(caller, name, path, external, self._accounts.is_root(caller))
        return JSONResponse(_bucket_json(bucket), status_code=201)

    def _list(self, caller: str, request: Request, body: bytes) -> Response:
        return JSONResponse(
            {"Buckets": [_bucket_json(b) for b in self._service.of_account(caller)]}
        )

    def _describe(self, caller: str, request: Request, body: bytes) -> Response:
        return JSONResponse(_bucket_json(self._service.get(caller, request.path_params["bucket"])))

    def _delete(self, caller: str, request: Request, body: bytes) -> Response:
        self._service.delete(caller, request.path_params["bucket"])
        return Response(status_code=204)

    def _notification(self, caller: str, request: Request, body: bytes) -> Response:
        name = request.path_params["bucket"]
        if request.method == "PUT":
            bucket = self._service.put_notifications(caller, name, _document(body))
        elif request.method == "POST":
            bucket = self._service.add_notification(caller, name, _document(body))
        else:
            bucket = self._service.get(caller, name)
        return JSONResponse(_configurations(bucket))

    # -- objects --------------------------------------------------------------------------
    def _list_objects(self, caller: str, request: Request, body: bytes) -> Response:
        root = self._service.directory(caller, request.path_params["bucket"])
        prefix = request.query_params.get("prefix", "")
        found = files.scan(root)
        contents = [
            {"Key": key, "Size": item.state.size, "LastModified": item.state.mtime_ns / 1e9}
            for key, item in sorted(found.items())
            if key.startswith(prefix)
        ]
        return JSONResponse({"Contents": contents})

    def _object(self, caller: str, request: Request, body: bytes) -> Response:
        name = request.path_params["bucket"]
        key = request.path_params["key"]
        root = self._service.directory(caller, name)
        check_key(key)
        if request.method == "PUT":
            written = files.write_atomically(root, key, body)
            return JSONResponse(
                {
                    "Bucket": name,
                    "Key": key,
                    "Size": written.state.size,
                    "ETag": f'"{written.etag}"',
                }
            )
        if request.method == "DELETE":
            if not files.remove(root, key):
                raise NoSuchKey(f"The specified key does not exist: {key}")
            return Response(status_code=204)
        return _stream(root, key)

    # -- webhook secrets ------------------------------------------------------------------
    def _webhook_secrets(self, caller: str, request: Request, body: bytes) -> Response:
        if request.method == "GET":
            found = self._secrets.of_account(caller)
            return JSONResponse(
                {
                    "WebhookSecrets": [
                        {
                            "SecretId": s.secret_id,
                            "Description": s.description,
                            "CreatedAt": s.created_at,
                        }
                        for s in found
                    ]
                }
            )
        description = _document(body).get("Description", "")
        if not isinstance(description, str) or len(description) > 256:
            raise InvalidRequestContentException("Description is a string of at most 256.")
        record, secret = self._secrets.create(caller, description)
        return JSONResponse(
            {"SecretId": record.secret_id, "Secret": secret, "Description": description},
            status_code=201,
        )

    def _delete_webhook_secret(self, caller: str, request: Request, body: bytes) -> Response:
        if not self._secrets.delete(caller, request.path_params["secret_id"]):
            raise NoSuchBucket("No such webhook secret.")
        return Response(status_code=204)


def _stream(root: Path, key: str) -> Response:
    try:
        fd = os.open(object_path(root, key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NoSuchKey(f"The specified key does not exist: {key}") from None
    size = os.fstat(fd).st_size

    def chunks() -> Iterator[bytes]:
        with os.fdopen(fd, "rb") as file:
            while chunk := file.read(_CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException("The request body must be a JSON object.")
    return document


def _bucket_json(bucket: Bucket) -> dict[str, Any]:
    found: dict[str, Any] = {
        "Name": bucket.name,
        "Kind": bucket.kind.value,
        "Arn": bucket.arn,
        "CreatedAt": bucket.created_at,
    }
    if bucket.path is not None:
        found["Path"] = bucket.path
    found.update(_configurations(bucket))
    return found


def _configurations(bucket: Bucket) -> dict[str, Any]:
    return {"LambdaFunctionConfigurations": [n.to_json() for n in bucket.notifications]}
