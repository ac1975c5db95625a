"""The ASGI application: lambdalite's own routes, then the Lambda REST API for the rest."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Lifespan

from lambdalite.api.admin import AdminApi
from lambdalite.api.code_urls import PATH as CODE_PATH
from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import LambdaApi
from lambdalite.api.json_protocol import JsonProtocolApi, JsonProtocolRouter


def build_app(
    admin: AdminApi,
    code_urls: CodeUrlSigner,
    lambda_api: LambdaApi,
    json_api: JsonProtocolApi,
    lifespan: Lifespan[Starlette] | None = None,
) -> Starlette:
    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/health", admin.health, methods=["GET"]),
            Route(CODE_PATH, code_urls.download, methods=["GET"]),
            Route("/_lambdalite/accounts", admin.create_account, methods=["POST"]),
        ],
    )
    # Everything else is the Lambda API, which routes by botocore's model itself (and must
    # see paths with and without trailing slashes as boto3 sends them, unredirected).
    app.router.redirect_slashes = False
    app.router.default = lambda_api
    # SQS (and later EventBridge, CloudWatch Logs) speak AWS's JSON protocol: POST / with
    # an X-Amz-Target header naming the operation.
    app.add_middleware(JsonProtocolRouter, json_api=json_api)
    return app
