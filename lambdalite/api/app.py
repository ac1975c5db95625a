"""The ASGI application: lambdalite's own routes, then the Lambda REST API for the rest."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Lifespan

from lambdalite.api.admin import AdminApi
from lambdalite.api.code_urls import PATH as CODE_PATH
from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import LambdaApi
from lambdalite.api.json_protocol import JsonProtocolApi, JsonProtocolRouter
from lambdalite.urls.router import FunctionUrlRouter, UrlServer


def build_app(
    admin: AdminApi,
    code_urls: CodeUrlSigner,
    lambda_api: LambdaApi,
    json_api: JsonProtocolApi,
    lifespan: Lifespan[Starlette] | None = None,
    function_urls: UrlServer | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """`routes`: more of lambdalite's own (GET /metrics, /_lambdalite/bill...)."""
    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/health", admin.health, methods=["GET"]),
            Route(CODE_PATH, code_urls.download, methods=["GET"]),
            Route("/_lambdalite/accounts", admin.create_account, methods=["POST"]),
            *routes,
        ],
    )
    # Everything else is the Lambda API, which routes by botocore's model itself (and must
    # see paths with and without trailing slashes as boto3 sends them, unredirected).
    app.router.redirect_slashes = False
    app.router.default = lambda_api
    # SQS (and later EventBridge, CloudWatch Logs) speak AWS's JSON protocol: POST / with
    # an X-Amz-Target header naming the operation.
    app.add_middleware(JsonProtocolRouter, json_api=json_api)
    # Function URLs (`/_lambdalite/url/<url-id>/...`, or a `<url-id>.lambda-url.` Host)
    # come first: a request to one may carry any header, X-Amz-Target included.
    if function_urls is not None:
        app.add_middleware(FunctionUrlRouter, urls=function_urls)
    return app
