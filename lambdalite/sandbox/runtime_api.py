"""The Runtime API (2018-06-01) over HTTP, for `provided.*` runtimes such as awslambdaric.

Served by the platform's event loop on the listening socket the backend opened *inside*
the sandbox's network namespace at 127.0.0.1:9001: the runtime reaches it as a loopback
address of its own, and nothing on the host's loopback is exposed (docs/decisions/0101).

A deliberately small HTTP/1.1 server: one runtime, a handful of routes, keep-alive,
Content-Length or chunked bodies, `Expect: 100-continue` (curl, under awslambdaric's
native client, sends it for large posts). Replies follow AWS's emulator: 202
`{"status":"OK"}`, and the error bodies of session.py. Every request line is parsed
strictly: anything unexpected gets a 4xx, never an exception in the platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket

from lambdalite.sandbox.session import RuntimeApiError, RuntimeSession
from lambdalite.sandbox.spec import MAX_RESPONSE_BYTES

PREFIX = "/2018-06-01/runtime"
_INVOCATION = re.compile(rf"^{PREFIX}/invocation/([^/]+)/(response|error)$")
_ERROR_TYPE = re.compile(r"^(Runtime|Function)\.[A-Z][a-zA-Z]+$")
_MAX_HEAD = 64 * 1024
_ACCEPTED = json.dumps({"status": "OK"}).encode()


def normalise_error_type(value: str | None) -> str:
    """The emulator's rule (fatalerror.go): keep `Runtime.X`/`Function.X`, else Unknown."""
    if value and _ERROR_TYPE.match(value):
        return value
    return "Function.Unknown" if (value or "").startswith("Function.") else "Runtime.Unknown"


class _BadRequest(Exception):
    pass


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    limit = MAX_RESPONSE_BYTES * 2
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            length = int(line.split(b";")[0].strip() or b"0", 16)
            if length == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            size += length
            if size > limit:
                raise _BadRequest("body too large")
            chunks.append(await reader.readexactly(length))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or "0")
    if length < 0 or length > limit:
        raise _BadRequest("bad content-length")
    return await reader.readexactly(length) if length else b""


def _render(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden",
              404: "Not Found", 413: "Request Entity Too Large"}.get(status, "Error")  # fmt: skip
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
             f"Content-Length: {len(body)}"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in (headers or {}).items() if v]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RuntimeApiServer:
    def __init__(self, session: RuntimeSession, listener: socket.socket) -> None:
        self.session = session
        self.listener = listener
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, sock=self.listener)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Nagle plus delayed ACK would add 40-88 ms per call (platform-facts).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > _MAX_HEAD:
                    break
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = [*lines[0].split(" "), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await _read_body(reader, headers)
                writer.write(await self._route(method, path.split("?")[0], headers, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except (_BadRequest, ValueError, UnicodeError):
            with contextlib.suppress(ConnectionError):
                writer.write(
                    _render(400, b'{"errorMessage":"Bad request","errorType":"BadRequest"}')
                )
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        session = self.session
        try:
            if method == "GET" and path == f"{PREFIX}/invocation/next":
                request = await session.next_event()
                return _render(
                    200,
                    request.payload,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(int((request.deadline or 0) * 1000)),
                        "Lambda-Runtime-Invoked-Function-Arn": request.invoked_function_arn,
                        "Lambda-Runtime-Trace-Id": request.trace_id or "",
                        "Lambda-Runtime-Client-Context": request.client_context or "",
                        "Lambda-Runtime-Cognito-Identity": request.cognito_identity or "",
                    },
                )
            if method == "POST" and path == f"{PREFIX}/init/error":
                error_type = headers.get("lambda-runtime-function-error-type")
                session.post_init_error(body, normalise_error_type(error_type))
                return _render(202, _ACCEPTED)
            match = _INVOCATION.match(path)
            if method == "POST" and match:
                request_id, what = match.groups()
                mode = headers.get("lambda-runtime-function-response-mode")
                if what == "response" and mode and mode != "streaming":
                    raise RuntimeApiError(
                        400, "InvalidFunctionResponseMode", "Invalid function response mode"
                    )
                if what == "response":
                    session.post_response(request_id, body)
                else:
                    error_type = headers.get("lambda-runtime-function-error-type")
                    session.post_error(request_id, body, normalise_error_type(error_type))
                return _render(202, _ACCEPTED)
        except RuntimeApiError as e:
            return _render(e.status, e.body())
        return _render(404, b'{"errorMessage":"Not found","errorType":"NotFound"}')
