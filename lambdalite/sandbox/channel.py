"""Drives a `RuntimeSession` from lambdalite's Python runtime over the private channel.

The frames are `lambdalite.runtime.protocol`'s; each maps to one Runtime API call, so the
session enforces the same rules as for an HTTP runtime. The channel is an asyncio
Protocol, not a task: an event goes out in the call that invokes it (the session pushes
it), and an answer resolves the invocation's future in the callback that reads it. A
warm invocation therefore wakes only the coroutine waiting for its answer — a task in
between cost two extra wake-ups and a queue per invocation (decision 0006).
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from lambdalite.runtime import protocol
from lambdalite.runtime.protocol import Kind
from lambdalite.sandbox.session import RuntimeApiError, RuntimeSession, RuntimeState
from lambdalite.sandbox.spec import InvocationRequest

_HEADER = protocol.HEADER
_HEADER_SIZE = protocol.HEADER.size


def _headers(request: InvocationRequest) -> dict[str, object]:
    meta: dict[str, object] = {
        "requestId": request.request_id,
        "deadlineMs": int((request.deadline or 0) * 1000),
        "invokedFunctionArn": request.invoked_function_arn,
    }
    if request.trace_id:
        meta["traceId"] = request.trace_id
    if request.client_context:
        meta["clientContext"] = request.client_context
    if request.cognito_identity:
        meta["cognitoIdentity"] = request.cognito_identity
    return meta


class Channel(asyncio.Protocol):
    """One sandbox's end of the channel. `closed` resolves once the runtime's side is
    gone and everything it wrote before has been handled."""

    def __init__(self, session: RuntimeSession) -> None:
        self._session = session
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        # How long the function's init took inside the runtime (READY's "initMs").
        self.init_ms: float | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, sock: socket.socket, session: RuntimeSession) -> Channel:
        loop = asyncio.get_running_loop()
        channel = cls(session)
        await loop.create_connection(lambda: channel, sock=sock)
        session.attach(channel._send_event)
        return channel

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _send_event(self, request: InvocationRequest) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(protocol.encode(Kind.INVOKE, _headers(request), request.payload))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _HEADER_SIZE:
            length, kind, meta_len = _HEADER.unpack_from(buffer)
            if length > protocol.MAX_FRAME or meta_len > length:
                self.close()  # a corrupt frame: the runtime is not ours to trust any more
                return
            end = _HEADER_SIZE + length
            if len(buffer) < end:
                return
            rest = bytes(buffer[_HEADER_SIZE:end])
            del buffer[:end]
            try:
                self._frame(*protocol.decode(kind, meta_len, rest))
            except ValueError:  # unknown kind, bad metadata
                self.close()
                return

    def _frame(self, kind: Kind, meta: dict[str, object], body: bytes) -> None:
        session = self._session
        try:
            if kind is Kind.READY:
                init_ms = meta.get("initMs")
                if isinstance(init_ms, int | float) and self.init_ms is None:
                    self.init_ms = float(init_ms)
                session.waiting()
            elif kind is Kind.INIT_ERROR:
                session.post_init_error(body, str(meta.get("errorType") or ""))
            elif kind is Kind.RESPONSE or kind is Kind.ERROR:
                request_id = str(meta.get("requestId", ""))
                if kind is Kind.RESPONSE:
                    session.post_response(request_id, body)
                else:
                    session.post_error(request_id, body, str(meta.get("errorType") or ""))
                # After answering, the runtime waits for the next event (as awslambdaric
                # calls GET .../next straight after posting).
                session.waiting()
        except RuntimeApiError:
            # The HTTP Runtime API would answer 400/403; the channel has no answer to
            # give, and the session already failed the invocation where AWS would.
            if session.state is RuntimeState.RUNNING:
                session.waiting()
