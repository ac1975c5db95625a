"""InvokeHttpProtocol: uvicorn's httptools protocol, with a synchronous Invoke served
without ASGI.

A warm invocation through uvicorn's ASGI cycle paid for a RequestResponseCycle, its
asyncio.Event, the scope and message dicts, four layers of middleware (uvicorn's proxy
headers, Starlette's error handler, lambdalite's two routers), a `receive` coroutine and
two `send`s, each its own socket write. Serving an Invoke here instead took the loop's
cost of a request answered right after SigV4 from 104 to 79 µs on the benchmark VM, and
of a whole warm invocation from ~190 to ~160 µs (decision 0009).

This subclass looks at each request once its headers are parsed. An Invoke that
`InvokeFastPath.route` takes is read, answered and written here, headers and body in
one write; every other request — and an Invoke pipelined behind another request, or
sent with `Expect: 100-continue` — goes on to uvicorn and the ASGI app unchanged.

While a fast request is in flight, `self.cycle` is its `_FastCycle`, which has the
attributes uvicorn's own callbacks read and write on a cycle (`response_complete`,
`keep_alive`, `disconnected`, `message_event`): a pipelined request then queues behind
it, a lost connection marks it disconnected, and a graceful shutdown lets it finish
before the connection closes. It relies on uvicorn internals, so pyproject.toml pins
uvicorn's minor version and tests/compat/test_invoke_protocol.py covers each of them.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from lambdalite.api.fast_invoke import FastInvoke, InvokeFastPath


class _Event:
    """What uvicorn's `connection_lost` calls on a cycle's message event."""

    def set(self) -> None:
        pass


class _FastCycle:
    __slots__ = ("body", "disconnected", "keep_alive", "request", "response_complete")
    message_event: ClassVar[_Event] = _Event()

    def __init__(self, request: FastInvoke, keep_alive: bool) -> None:
        self.request = request
        self.keep_alive = keep_alive
        self.body = bytearray()
        self.response_complete = False
        self.disconnected = False


class InvokeHttpProtocol(HttpToolsProtocol):
    """Use `protocol_for(fast_path)`: uvicorn makes one per connection, by class."""

    fast_path: ClassVar[InvokeFastPath]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._reading: _FastCycle | None = None  # a fast request whose body is arriving

    def on_headers_complete(self) -> None:
        current = self.cycle
        if (
            (current is None or current.response_complete)
            and not self.pipeline
            and not self.expect_100_continue
            and self.limit_concurrency is None
            and not self.parser.should_upgrade()
        ):
            request = self.fast_path.route(self.parser.get_method(), self.url, self.headers)
            if request is not None:
                keep_alive = (
                    self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
                )
                self._reading = _FastCycle(request, keep_alive)
                self.cycle = self._reading  # type: ignore[assignment]
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._reading is None:
            super().on_body(body)
        else:
            self._reading.body += body  # at most the Invoke limit: route() checked

    def on_message_complete(self) -> None:
        cycle = self._reading
        if cycle is None:
            super().on_message_complete()
            return
        self._reading = None
        task = self.loop.create_task(self._serve(cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _serve(self, cycle: _FastCycle) -> None:
        answer = await self.fast_path.answer(cycle.request, bytes(cycle.body))
        if cycle.disconnected or self.transport.is_closing():
            return  # the client went away (or a malformed request behind this one)
        if self.flow.write_paused:
            await self.flow.drain()
        self.transport.write(answer.encode(self.server_state.default_headers, cycle.keep_alive))
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        # uvicorn's own bookkeeping: counts the request, resumes reading, starts a
        # pipelined request or arms the keep-alive timeout.
        self.on_response_complete()


def protocol_for(fast_path: InvokeFastPath) -> type[InvokeHttpProtocol]:
    """The protocol class to give uvicorn (`Config(http=...)`) for this fast path."""
    return type("BoundInvokeHttpProtocol", (InvokeHttpProtocol,), {"fast_path": fast_path})
