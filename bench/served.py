"""A real lambdalite server in its own process, as an operator runs it
(`lambdalite serve` with a pinned root key), and what the benchmark needs around it:
boto3 for deploying, requests pre-signed with botocore's SigV4 for replaying, and a
blocking one-request client for the cases where every request differs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import botocore.config
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench.loadgen import RawRequest, read_response

ROOT_KEY = "AKIALAMBDALITEBENCH1"
ROOT_SECRET = "lambdalite-bench-secret-0123456789abcdef"
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/lambdalite-bench"
REPO = Path(__file__).resolve().parent.parent

# One handler for every case: hello by default; `exit` kills its sandbox (so the next
# invoke is a cold start from a ready zygote); `until` holds the sandbox busy until a
# Unix time (so concurrent invokes each get a sandbox of their own).
HANDLER = """\
import os
import time


def handler(event, context):
    if event.get("exit"):
        os._exit(1)
    until = event.get("until")
    if until:
        time.sleep(max(0.0, until - time.time()))
    return {"hello": "world"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def hello_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    latency_ms: float


class Connection:
    """One keep-alive connection; `send` times one request from write to whole answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send(self, wire: bytes) -> Response:
        try:
            return self._send(wire)
        except (ConnectionError, BrokenPipeError):
            # uvicorn closes a keep-alive connection idle for 5 s: reconnect once.
            self.sock.close()
            self.sock = self._connect()
            return self._send(wire)

    def _send(self, wire: bytes) -> Response:
        started = time.perf_counter_ns()
        self.sock.sendall(wire)
        head, body = read_response(self.sock)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        lines = head.split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(int(lines[0].split()[1]), headers, body, elapsed)

    def close(self) -> None:
        self.sock.close()


class ServedLambdalite:
    def __init__(
        self,
        data_dir: Path | None = None,
        port: int | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`command` replaces `lambdalite` (what-if experiments); `serve ...` follows it."""
        self.port = port or free_port()
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="lambdalite-bench-"))
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("wb")
        env = {
            **os.environ,
            "LAMBDALITE_ROOT_ACCESS_KEY_ID": ROOT_KEY,
            "LAMBDALITE_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
        }
        self.proc = subprocess.Popen(
            [
                *(command or [str(REPO / ".venv" / "bin" / "lambdalite")]),
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_listening(self.port, self.proc)
        self._credentials = Credentials(ROOT_KEY, ROOT_SECRET)
        self._zip = hello_zip()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, timeout_s: float = 60) -> Any:
        return boto3.client(
            "lambda",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ROOT_KEY,
            aws_secret_access_key=ROOT_SECRET,
            config=botocore.config.Config(
                retries={"max_attempts": 1},
                read_timeout=timeout_s,
                max_pool_connections=32,
            ),
        )

    def deploy(self, client: Any, name: str, timeout_s: int = 30) -> None:
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": self._zip},
            Timeout=timeout_s,
        )

    def signed(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> RawRequest:
        """`path` as it goes on the wire (percent-encoded); signed now, good for 5 min."""
        request = AWSRequest(method=method, url=self.endpoint + path, data=body, headers=headers)
        SigV4Auth(self._credentials, "lambda", REGION).add_auth(request)
        pairs = [("Host", f"127.0.0.1:{self.port}")]
        pairs += [(k, str(v)) for k, v in request.headers.items()]
        return RawRequest(method, path, tuple(pairs), body)

    def invoke_request(
        self, name: str, payload: dict[str, Any] | None = None, tail: bool = False
    ) -> RawRequest:
        path = f"/2015-03-31/functions/{quote(name, safe='')}/invocations"
        headers = {"X-Amz-Log-Type": "Tail"} if tail else None
        return self.signed("POST", path, json.dumps(payload or {}).encode(), headers)

    def health(self) -> dict[str, Any]:
        conn = Connection(self.port)
        try:
            wire = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
            answer = conn.send(wire)
        finally:
            conn.close()
        result: dict[str, Any] = json.loads(answer.body)
        return result

    def stop(self, timeout_s: float = 120) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def log_tail(response: Response) -> str:
    encoded = response.headers.get("x-amz-log-result", "")
    return base64.b64decode(encoded).decode(errors="replace") if encoded else ""
