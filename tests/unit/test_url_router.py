"""Which requests are function URL requests, and what path the function sees."""

from __future__ import annotations

from typing import Any

import pytest

from lambdalite.urls.router import UrlMatch, match_url

URL_ID = "abcdefghijklmnopqrstuvwxyz234567"


def scope(path: str, host: str = "127.0.0.1:9000") -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "raw_path": path.encode(),
        "headers": [(b"host", host.encode()), (b"accept", b"*/*")],
    }


@pytest.mark.parametrize(
    ("path", "host", "expected"),
    [
        (f"/_lambdalite/url/{URL_ID}/", "127.0.0.1:9000", UrlMatch(URL_ID, "/", None)),
        (f"/_lambdalite/url/{URL_ID}", "127.0.0.1:9000", UrlMatch(URL_ID, "/", None)),
        (
            f"/_lambdalite/url/{URL_ID}/a/b%20c",
            "localhost",
            UrlMatch(URL_ID, "/a/b%20c", None),
        ),
        (
            "/orders/7",
            f"{URL_ID}.lambda-url.us-east-1.localhost:9000",
            UrlMatch(URL_ID, "/orders/7", f"{URL_ID}.lambda-url.us-east-1.localhost"),
        ),
        (
            "/",
            f"{URL_ID.upper()}.LAMBDA-URL.eu-west-1.on.aws",
            UrlMatch(URL_ID, "/", f"{URL_ID}.lambda-url.eu-west-1.on.aws"),
        ),
    ],
)
def test_url_requests_are_recognised(path: str, host: str, expected: UrlMatch) -> None:
    assert match_url(scope(path, host)) == expected


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/2015-03-31/functions/f/invocations", "127.0.0.1:9000"),  # the Lambda API
        ("/_lambdalite/url/", "127.0.0.1:9000"),
        ("/_lambdalite/url/Not-An-Id/", "127.0.0.1:9000"),
        ("/_lambdalite/accounts", "127.0.0.1:9000"),
        ("/", "lambda-url.us-east-1.localhost"),
        ("/", "example.com"),
    ],
)
def test_other_requests_pass_through(path: str, host: str) -> None:
    assert match_url(scope(path, host)) is None
