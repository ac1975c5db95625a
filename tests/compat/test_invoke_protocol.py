"""The Invoke fast path at the HTTP level (lambdalite/api/invoke_protocol.py): an Invoke
answered outside uvicorn's ASGI cycle must still behave as HTTP/1.1 and uvicorn do, for
every way a connection can mix it with other requests, lose its client or be shut down.
Raw sockets, requests signed by botocore."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdalite.sandbox.sandbox import SandboxState
from tests.compat.test_invoke import deploy
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

pytestmark = pytest.mark.sandbox

ECHO = "def handler(event, context):\n    return {'event': event, 'id': context.aws_request_id}\n"
NAPPING = (
    "import time\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('nap', 0))\n"
    "    return {'napped': event.get('nap', 0)}\n"
)


def signed(endpoint: str, method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    """A request as boto3 would put it on the wire (SigV4), as bytes."""
    host = urlsplit(endpoint).netloc
    request = AWSRequest(
        method=method, url=f"{endpoint}{path}", data=body, headers={"Host": host, **headers}
    )
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    head = [f"{method} {path} HTTP/1.1"]
    head += [
        f"{k}: {v.decode() if isinstance(v, bytes) else v}" for k, v in prepared.headers.items()
    ]
    if "Content-Length" not in prepared.headers and method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def invocation(endpoint: str, name: str, event: Any, **headers: str) -> bytes:
    path = f"/2015-03-31/functions/{name}/invocations"
    return signed(endpoint, "POST", path, json.dumps(event).encode(), **headers)


class Connection:
    """One client connection; responses are read in order from one buffered reader, so
    pipelined responses are split where HTTP says."""

    def __init__(self, endpoint: str) -> None:
        address = urlsplit(endpoint)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=30)
        self._reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        response = http.client.HTTPResponse(_Reader(self._reader))  # type: ignore[arg-type]
        response.begin()
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, body

    def interim(self) -> bytes:
        """An interim (1xx) response's status line (http.client skips them)."""
        status = self._reader.readline().rstrip()
        assert self._reader.readline() == b"\r\n"
        return status

    def closed_by_server(self) -> bool:
        return self._reader.read(1) == b""

    def close(self) -> None:
        self._reader.close()
        self.sock.close()


class _Reader:
    """What http.client.HTTPResponse takes for a socket: it reads through `makefile()`
    and closes what that returned once it has the body; the connection's reader must
    stay open for the next response."""

    def __init__(self, reader: IO[bytes]) -> None:
        self._reader = reader

    def makefile(self, *_: Any, **__: Any) -> _Reader:
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def close(self) -> None:
        pass


@pytest.fixture
def connection(server: RunningServer) -> Any:
    opened = Connection(server.endpoint)
    yield opened
    opened.close()


def test_invokes_and_other_calls_share_a_keep_alive_connection(
    server: RunningServer, lam: Any, name: str, connection: Connection
) -> None:
    deploy(lam, name, ECHO)
    endpoint = server.endpoint
    for n in range(2):
        connection.send(invocation(endpoint, name, {"n": n}))
        status, headers, body = connection.response()
        assert status == 200
        assert json.loads(body)["event"] == {"n": n}
        assert headers["x-amzn-requestid"] == json.loads(body)["id"]
        assert headers["x-amz-executed-version"] == "$LATEST"
        assert headers["content-type"] == "application/json"
        assert "date" in headers  # as uvicorn answers every other request
        connection.send(signed(endpoint, "GET", f"/2015-03-31/functions/{name}"))
        status, _, body = connection.response()
        assert status == 200
        assert json.loads(body)["Configuration"]["FunctionName"] == name


def test_pipelined_requests_are_answered_in_order(
    server: RunningServer, lam: Any, name: str, connection: Connection
) -> None:
    deploy(lam, name, NAPPING)
    endpoint = server.endpoint
    # The first naps: the second and third arrive while it is in flight, and must wait.
    connection.send(
        invocation(endpoint, name, {"nap": 0.3})
        + signed(endpoint, "GET", f"/2015-03-31/functions/{name}")
        + invocation(endpoint, name, {"nap": 0})
    )
    first, second, third = (connection.response() for _ in range(3))
    assert (first[0], json.loads(first[2])) == (200, {"napped": 0.3})
    assert second[0] == 200 and json.loads(second[2])["Configuration"]["FunctionName"] == name
    assert (third[0], json.loads(third[2])) == (200, {"napped": 0})


def test_connection_close_is_honoured(
    server: RunningServer, lam: Any, name: str, connection: Connection
) -> None:
    deploy(lam, name, ECHO)
    connection.send(invocation(server.endpoint, name, {}, Connection="close"))
    status, headers, _ = connection.response()
    assert status == 200
    assert headers["connection"] == "close"
    assert connection.closed_by_server()


def test_an_http_1_0_client_gets_its_answer_and_the_connection_closes(
    server: RunningServer, lam: Any, name: str, connection: Connection
) -> None:
    deploy(lam, name, ECHO)
    request = invocation(server.endpoint, name, {"old": True})
    connection.send(request.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1))
    status, headers, body = connection.response()
    assert status == 200 and json.loads(body)["event"] == {"old": True}
    assert headers["connection"] == "close"
    assert connection.closed_by_server()


def test_expect_100_continue_gets_its_continue(
    server: RunningServer, lam: Any, name: str, connection: Connection
) -> None:
    deploy(lam, name, ECHO)
    request = invocation(server.endpoint, name, {"big": "x" * 100}, Expect="100-continue")
    head, _, body = request.partition(b"\r\n\r\n")
    connection.send(head + b"\r\n\r\n")
    assert connection.interim() == b"HTTP/1.1 100 Continue"
    connection.send(body)
    status, _, answer = connection.response()
    assert status == 200 and json.loads(answer)["event"] == {"big": "x" * 100}


def test_errors_of_the_fast_path_are_aws_shaped(
    server: RunningServer, connection: Connection
) -> None:
    connection.send(invocation(server.endpoint, "no-such-function-here", {}))
    status, headers, body = connection.response()
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["Type"] == "User"
    tampered = invocation(server.endpoint, "no-such-function-here", {}).replace(b"{}", b"[]")
    connection.send(tampered)  # the body no longer matches the signature
    status, headers, body = connection.response()
    assert status == 403
    assert headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "does not match" in json.loads(body)["message"]


def test_a_client_gone_mid_invoke_does_not_disturb_the_server(
    server: RunningServer, lam: Any, name: str
) -> None:
    deploy(lam, name, NAPPING)
    leaving = Connection(server.endpoint)
    leaving.send(invocation(server.endpoint, name, {"nap": 0.3}))
    leaving.close()  # before the answer
    staying = Connection(server.endpoint)
    try:
        staying.send(invocation(server.endpoint, name, {"nap": 0}))
        status, _, body = staying.response()
        assert (status, json.loads(body)) == (200, {"napped": 0})
    finally:
        staying.close()


def test_a_graceful_stop_finishes_an_invoke_in_flight(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data")
    try:
        deploy(running.client(), "napper", NAPPING)
        connection = Connection(running.endpoint)
        connection.send(invocation(running.endpoint, "napper", {"nap": 0.5}))
        answered: list[tuple[int, dict[str, str], bytes]] = []
        reader = threading.Thread(target=lambda: answered.append(connection.response()))
        reader.start()
        # Wait until the invocation holds a sandbox, then ask the server to stop.
        pool = running.platform.engine.pool
        wait_until(lambda: pool.counts().get(SandboxState.BUSY, 0) == 1)
        running._server.should_exit = True
        reader.join(timeout=10)
        status, headers, body = answered[0]
        assert (status, json.loads(body)) == (200, {"napped": 0.5})
        assert headers["connection"] == "close"
        assert connection.closed_by_server()
        connection.close()
    finally:
        running.stop()


def wait_until(condition: Any, timeout_s: float = 10) -> None:
    event = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not met")
