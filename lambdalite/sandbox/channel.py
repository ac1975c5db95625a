"""Drives a `RuntimeSession` from lambdalite's Python runtime over the private channel.

The frames are `lambdalite.runtime.protocol`'s; each maps to one Runtime API call, so the
session enforces the same rules as for an HTTP runtime. One task per sandbox, alive as
long as the channel: it waits on the session for the next event and on the socket for
the answer, and ends quietly on EOF (the sandbox's exit is observed by the Sandbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from lambdalite.runtime import protocol
from lambdalite.runtime.protocol import Kind
from lambdalite.sandbox.session import RuntimeApiError, RuntimeSession
from lambdalite.sandbox.spec import InvocationRequest


def _headers(request: InvocationRequest, deadline_ms: int) -> dict[str, object]:
    meta: dict[str, object] = {
        "requestId": request.request_id,
        "deadlineMs": deadline_ms,
        "invokedFunctionArn": request.invoked_function_arn,
    }
    if request.trace_id:
        meta["traceId"] = request.trace_id
    if request.client_context:
        meta["clientContext"] = request.client_context
    if request.cognito_identity:
        meta["cognitoIdentity"] = request.cognito_identity
    return meta


async def _read_frame(reader: asyncio.StreamReader) -> tuple[Kind, dict[str, object], bytes]:
    length, kind, meta_len = protocol.HEADER.unpack(await reader.readexactly(protocol.HEADER.size))
    if length > protocol.MAX_FRAME or meta_len > length:
        raise protocol.ChannelClosed("corrupt frame")
    return protocol.decode(kind, meta_len, await reader.readexactly(length))


async def serve_channel(sock: socket.socket, session: RuntimeSession) -> None:
    reader, writer = await asyncio.open_connection(sock=sock, limit=protocol.MAX_FRAME)
    try:
        kind, meta, body = await _read_frame(reader)
        if kind is Kind.INIT_ERROR:
            session.post_init_error(body, str(meta.get("errorType") or ""))
            return
        while True:
            request = await session.next_event()
            deadline_ms = int((request.deadline or 0) * 1000)
            writer.write(
                protocol.encode(Kind.INVOKE, _headers(request, deadline_ms), request.payload)
            )
            kind, meta, body = await _read_frame(reader)
            request_id = str(meta.get("requestId", ""))
            with contextlib.suppress(RuntimeApiError):
                if kind is Kind.RESPONSE:
                    session.post_response(request_id, body)
                elif kind is Kind.ERROR:
                    session.post_error(request_id, body, str(meta.get("errorType") or ""))
    except (asyncio.IncompleteReadError, ConnectionError, protocol.ChannelClosed, ValueError):
        return
    finally:
        writer.close()
