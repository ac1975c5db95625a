"""Hostile and broken input: each a clear AWS-shaped error, and nothing stored."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

from tests.compat.test_functions import error_of
from tests.conftest import create
from tests.support.servers import ROOT_KEY, ROOT_SECRET


def stored_files(data_dir: Path) -> list[Path]:
    code = data_dir / "code"
    return sorted(p for p in code.rglob("*") if p.is_file()) if code.exists() else []


def signed(server: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """Send raw bytes, correctly signed, so the server sees exactly this input."""
    url = f"{server.endpoint}{path}"
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers)
    credentials = botocore.credentials.Credentials(ROOT_KEY, ROOT_SECRET)
    botocore.auth.SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(
        url, data=body, method=method, headers=dict(request.headers.items())
    )
    try:
        with urllib.request.urlopen(prepared) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def zip_with(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info, target.encode()


@pytest.mark.parametrize(
    ("package", "fragment"),
    [
        (b"this is not a zip", "Could not unzip uploaded file"),
        (zip_with([("../evil.py", b"x")]), "evil.py"),
        (zip_with([("/etc/cron.d/evil", b"x")]), "evil"),
        (zip_with([("app.py", b"x"), symlink("link", "/etc/shadow")]), "link"),
        (zip_with([("app.py", b"x"), symlink("up", "../../outside")]), "up"),
        (zip_with([("bomb.bin", b"\0" * 30_000_000)]), ""),
    ],
    ids=["not-a-zip", "dotdot", "absolute", "symlink-absolute", "symlink-escape", "bomb"],
)
def test_bad_packages_are_refused_and_leave_nothing(
    fresh_server: Any, name: str, package: bytes, fragment: str
) -> None:
    lam = fresh_server.client()
    with pytest.raises(ClientError) as excinfo:
        create(lam, name, Code={"ZipFile": package})
    code, message, status = error_of(excinfo)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert fragment in message
    assert stored_files(fresh_server.data_dir) == []
    assert lam.list_functions()["Functions"] == []


def test_bad_update_keeps_the_old_code(fresh_server: Any, name: str) -> None:
    lam = fresh_server.client()
    created = create(lam, name)
    before = stored_files(fresh_server.data_dir)
    with pytest.raises(ClientError):
        lam.update_function_code(FunctionName=name, ZipFile=zip_with([("../x", b"")]))
    assert stored_files(fresh_server.data_dir) == before
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == created["CodeSha256"]


def test_deleting_a_function_removes_its_code(fresh_server: Any, name: str) -> None:
    lam = fresh_server.client()
    create(lam, name, Publish=True)
    assert stored_files(fresh_server.data_dir)
    lam.delete_function(FunctionName=name)
    assert [p for p in stored_files(fresh_server.data_dir) if p.suffix == ".zip"] == []


def test_shared_code_is_kept_while_another_function_uses_it(fresh_server: Any, name: str) -> None:
    lam = fresh_server.client()
    create(lam, name)
    create(lam, f"{name}-twin")
    lam.delete_function(FunctionName=name)
    assert lam.get_function(FunctionName=f"{name}-twin")["Configuration"]["CodeSize"] > 0
    assert [p for p in stored_files(fresh_server.data_dir) if p.suffix == ".zip"]


def test_malformed_json_is_invalid_request_content(server: Any, name: str) -> None:
    status, headers, body = signed(
        server, "POST", "/2015-03-31/functions", b'{"FunctionName": ', {}
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert json.loads(body)["message"].startswith("Could not parse request body into json")


def test_wrong_json_types_are_invalid_request_content(server: Any) -> None:
    document = {"FunctionName": "f", "MemorySize": "lots", "Role": "r", "Code": {}}
    status, headers, _ = signed(
        server, "POST", "/2015-03-31/functions", json.dumps(document).encode(), {}
    )
    assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidRequestContentException")


def test_oversized_body_is_refused_before_reading_it(tmp_path: Path) -> None:
    from tests.support.servers import start_server

    running = start_server(tmp_path / "d", max_request_bytes=1000)
    try:
        status, headers, body = signed(
            running, "POST", "/2015-03-31/functions", b"{" + b" " * 5000 + b"}", {}
        )
    finally:
        running.stop()
    assert status == 413
    assert headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert json.loads(body) == {
        "Type": "User",
        "message": "Request must be smaller than 1000 bytes for the CreateFunction operation",
    }


def test_unsupported_operation_is_a_named_json_error(lam: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        lam.list_code_signing_configs()
    code, message, status = error_of(excinfo)
    assert (code, status) == ("UnsupportedOperationException", 501)
    assert "ListCodeSigningConfigs" in message


def test_unknown_path_is_a_json_error_not_html(server: Any) -> None:
    status, headers, body = signed(server, "GET", "/no/such/thing", b"", {})
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
    json.loads(body)


def test_trailing_slash_and_none_are_the_same_operation(server: Any, lam: Any, name: str) -> None:
    create(lam, name)
    for path in (f"/2015-03-31/functions/{name}", f"/2015-03-31/functions/{name}/"):
        status, _, body = signed(server, "GET", path, b"", {})
        assert status == 200
        assert json.loads(body)["Configuration"]["FunctionName"] == name
