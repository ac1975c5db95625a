"""Handlers: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions,
DeleteLayerVersion, Add/RemoveLayerVersionPermission, GetLayerVersionPolicy; and
lambdalite's own endpoints beside them, signed like the rest:

    POST /_lambdalite/layers   {}                                 `lambdalite layers ls`
    POST /_lambdalite/builds   {"FunctionName", "Qualifier", "Offset"}   a version's build
                                                                   and its log from Offset
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.responses import Reply, error_response, internal_error
from lambdalite.control.arns import parse_function_name
from lambdalite.control.functions import FunctionService
from lambdalite.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
)
from lambdalite.layers.arns import layer_arn
from lambdalite.layers.model import LayerVersion
from lambdalite.layers.report import LayerReport
from lambdalite.layers.service import LayerService, PublishRequest
from lambdalite.model import Code

MAX_BODY_BYTES = 64 * 1024


class LayersApi:
    def __init__(self, layers: LayerService, code_urls: CodeUrlSigner) -> None:
        self._layers = layers
        self._code_urls = code_urls

    def handlers(self) -> dict[str, Handler]:
        return {
            "PublishLayerVersion": self.publish,
            "GetLayerVersion": self.get,
            "GetLayerVersionByArn": self.get_by_arn,
            "ListLayers": self.list_layers,
            "ListLayerVersions": self.list_versions,
            "DeleteLayerVersion": self.delete,
            "AddLayerVersionPermission": self.add_permission,
            "GetLayerVersionPolicy": self.policy,
            "RemoveLayerVersionPermission": self.remove_permission,
        }

    def publish(self, call: Call) -> Reply:
        p = call.params
        content = p["Content"]
        if "ZipFile" not in content:
            if any(k in content for k in ("S3Bucket", "S3Key", "S3ObjectVersion")):
                raise InvalidParameterValueException(
                    "lambdalite accepts layer content as ZipFile only; S3 locations are not "
                    "supported."
                )
            raise InvalidParameterValueException("Please provide a source for layer content.")
        request = PublishRequest(
            description=p.get("Description", ""),
            compatible_runtimes=tuple(p.get("CompatibleRuntimes", ())),
            compatible_architectures=tuple(p.get("CompatibleArchitectures", ())),
            license_info=p.get("LicenseInfo"),
        )
        layer = self._layers.publish(call.account_id, p["LayerName"], content["ZipFile"], request)
        return Reply(self._render(layer, call), status=201)

    def get(self, call: Call) -> dict[str, Any]:
        p = call.params
        return self._render(
            self._layers.get(call.account_id, p["LayerName"], p["VersionNumber"]), call
        )

    def get_by_arn(self, call: Call) -> dict[str, Any]:
        return self._render(self._layers.get_by_arn(call.account_id, call.params["Arn"]), call)

    def list_layers(self, call: Call) -> dict[str, Any]:
        p = call.params
        newest, marker = self._layers.list_layers(
            call.account_id,
            p.get("CompatibleRuntime"),
            p.get("CompatibleArchitecture"),
            p.get("Marker"),
            p.get("MaxItems"),
        )
        region = self._layers.region
        body: dict[str, Any] = {
            "Layers": [
                {
                    "LayerName": v.layer_name,
                    "LayerArn": layer_arn(region, v.account_id, v.layer_name),
                    "LatestMatchingVersion": self._item(v),
                }
                for v in newest
            ]
        }
        if marker:
            body["NextMarker"] = marker
        return body

    def list_versions(self, call: Call) -> dict[str, Any]:
        p = call.params
        versions, marker = self._layers.list_versions(
            call.account_id,
            p["LayerName"],
            p.get("CompatibleRuntime"),
            p.get("CompatibleArchitecture"),
            p.get("Marker"),
            p.get("MaxItems"),
        )
        body: dict[str, Any] = {"LayerVersions": [self._item(v) for v in versions]}
        if marker:
            body["NextMarker"] = marker
        return body

    def delete(self, call: Call) -> Reply:
        p = call.params
        self._layers.delete(call.account_id, p["LayerName"], p["VersionNumber"])
        return Reply(status=204)

    def add_permission(self, call: Call) -> Reply:
        p = call.params
        statement, revision = self._layers.add_permission(
            call.account_id,
            p["LayerName"],
            p["VersionNumber"],
            p["StatementId"],
            p["Principal"],
            p.get("OrganizationId"),
            p.get("RevisionId"),
        )
        return Reply({"Statement": json.dumps(statement), "RevisionId": revision}, status=201)

    def policy(self, call: Call) -> dict[str, Any]:
        p = call.params
        document, revision = self._layers.policy(
            call.account_id, p["LayerName"], p["VersionNumber"]
        )
        return {"Policy": json.dumps(document), "RevisionId": revision}

    def remove_permission(self, call: Call) -> Reply:
        p = call.params
        self._layers.remove_permission(
            call.account_id,
            p["LayerName"],
            p["VersionNumber"],
            p["StatementId"],
            p.get("RevisionId"),
        )
        return Reply(status=204)

    def _item(self, layer: LayerVersion) -> dict[str, Any]:
        item: dict[str, Any] = {
            "LayerVersionArn": self._layers.arn(layer),
            "Version": layer.version,
            "Description": layer.description,
            "CreatedDate": layer.created_date,
            "CompatibleRuntimes": list(layer.compatible_runtimes),
            "CompatibleArchitectures": list(layer.compatible_architectures),
        }
        if layer.license_info is not None:
            item["LicenseInfo"] = layer.license_info
        return item

    def _render(self, layer: LayerVersion, call: Call) -> dict[str, Any]:
        code = Code(layer.code_sha256, layer.code_size)
        body = self._item(layer)
        body.update(
            Content={
                "Location": self._code_urls.url(call.base_url, layer.code_sha256),
                "CodeSha256": code.sha256_base64,
                "CodeSize": layer.code_size,
            },
            LayerArn=layer_arn(self._layers.region, layer.account_id, layer.layer_name),
        )
        return body


class LayerAdminApi:
    """lambdalite's own layer endpoints (the CLI's `layers ls` and `deploy`'s progress)."""

    def __init__(
        self, auth: Authenticator, report: LayerReport, functions: FunctionService
    ) -> None:
        self._auth = auth
        self._report = report
        self._functions = functions

    async def layers(self, request: Request) -> Response:
        return await self._answer(request, lambda caller, _doc: self._report.of_account(caller))

    async def builds(self, request: Request) -> Response:
        def answer(caller: str, document: dict[str, Any]) -> dict[str, Any]:
            name = document.get("FunctionName")
            if not isinstance(name, str):
                raise InvalidParameterValueException("FunctionName is required.")
            ref = parse_function_name(name, account_id=caller, region=self._functions.region)
            qualifier = document.get("Qualifier") or ref.qualifier
            version = self._functions.version(caller, ref.name, qualifier)
            offset = document.get("Offset", 0)
            if not isinstance(offset, int) or offset < 0:
                raise InvalidParameterValueException("Offset must be a non-negative integer.")
            return self._report.build_of(version, offset)

        return await self._answer(request, answer)

    async def _answer(
        self, request: Request, work: Callable[[str, dict[str, Any]], dict[str, Any]]
    ) -> Response:
        request_id = request.headers.get("x-amz-request-id", "layers")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            caller = await self._auth.authenticate(request, body)
            document = _document(body)
            result = await run_in_threadpool(work, caller, document)
        except ApiError as error:
            return error_response(error, request_id)
        except Exception as exc:
            return internal_error(exc, request_id)
        return JSONResponse(result)


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
