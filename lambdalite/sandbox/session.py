"""The Runtime API's state machine for one sandbox, independent of how it is spoken.

Both transports drive the same `RuntimeSession`: the HTTP Runtime API for `provided.*`
runtimes (runtime_api.py) and the private channel of lambdalite's Python runtime
(channel.py). So the rules of aws-reference/runtime-api.md hold for both:

    INIT --next--> READY --event delivered--> INVOKING --response|error--> RUNNING --next--> READY
    INIT --init/error--> INIT_FAILED

- a post for an unknown or already answered request id: 400 InvalidRequestID;
- a call the current state does not allow (a response before any next, next while an
  event is open, init/error after init): 403 InvalidStateTransition;
- a response over 6 MiB + 100 bytes: 413 to the runtime, and the invocation fails with
  Function.ResponseSizeTooLarge, as on AWS.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from lambdalite.sandbox.spec import MAX_RESPONSE_BYTES, InvocationRequest


class RuntimeState(StrEnum):
    INIT = "Init"
    READY = "Ready"
    INVOKING = "Invoking"
    RUNNING = "Running"  # answered the last event, not yet asking for the next
    INIT_FAILED = "InitFailed"


class RuntimeApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"errorMessage": self.message, "errorType": self.error_type}).encode()


@dataclass(frozen=True)
class Reply:
    """What the runtime answered: a result, or an error object with its type."""

    payload: bytes
    error_type: str | None = None


def _transition(current: RuntimeState, target: str) -> RuntimeApiError:
    return RuntimeApiError(
        403,
        "InvalidStateTransition",
        f"State transition from {current} to {target} failed for runtime. "
        "Error: State transition is not allowed",
    )


class RuntimeSession:
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.state = RuntimeState.INIT
        self.ready: asyncio.Future[Reply | None] = loop.create_future()  # Reply: init error
        self._events: asyncio.Queue[InvocationRequest] = asyncio.Queue(maxsize=1)
        # A push transport (the private channel) takes each event as it is invoked
        # instead of awaiting `next_event`: no task wakes up between platform and runtime.
        self._push: Callable[[InvocationRequest], None] | None = None
        self._pending: InvocationRequest | None = None
        self._current: InvocationRequest | None = None
        self._reply: asyncio.Future[Reply] | None = None
        # Recent ids only: enough to tell a repeated post from an unknown id.
        self._answered: deque[str] = deque(maxlen=64)

    # -- the platform's side --------------------------------------------------------

    def invoke(self, request: InvocationRequest) -> asyncio.Future[Reply]:
        """Queue one event; the future resolves when the runtime answers it."""
        if self._reply is not None and not self._reply.done():
            raise RuntimeError("one invocation at a time per sandbox")
        self._reply = reply = asyncio.get_running_loop().create_future()
        if self._push is None:
            self._events.put_nowait(request)
        elif self.state is RuntimeState.READY:
            self._deliver(request)
        else:
            self._pending = request  # delivered when the runtime next waits
        return reply

    # -- the runtime's side ---------------------------------------------------------

    def attach(self, push: Callable[[InvocationRequest], None]) -> None:
        """Deliver events through `push` (called with each, once the runtime waits)."""
        self._push = push

    def waiting(self) -> None:
        """The runtime asks for the next event (a push transport's implicit `next`)."""
        if self.state in (RuntimeState.INVOKING, RuntimeState.INIT_FAILED):
            raise _transition(self.state, "Ready")
        self.state = RuntimeState.READY
        if not self.ready.done():
            self.ready.set_result(None)
        pending, self._pending = self._pending, None
        if pending is not None:
            self._deliver(pending)

    async def next_event(self) -> InvocationRequest:
        self.waiting()
        request = await self._events.get()
        self._current = request
        self.state = RuntimeState.INVOKING
        return request

    def _deliver(self, request: InvocationRequest) -> None:
        self._current = request
        self.state = RuntimeState.INVOKING
        assert self._push is not None
        self._push(request)

    def _answer(self, request_id: str, reply: Reply, target: str) -> None:
        current = self._current
        open_here = current is not None and current.request_id == request_id
        if self.state is not RuntimeState.INVOKING or not open_here:
            if self.state in (RuntimeState.INIT, RuntimeState.INIT_FAILED):
                raise _transition(self.state, target)
            # An id answered before, or never given: the emulator says InvalidRequestID.
            raise RuntimeApiError(400, "InvalidRequestID", "Invalid request ID")
        self._answered.append(request_id)
        self._current = None
        self.state = RuntimeState.RUNNING
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(reply)

    def post_response(self, request_id: str, payload: bytes) -> None:
        current = self._current
        if len(payload) > MAX_RESPONSE_BYTES and current and current.request_id == request_id:
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload "
                f"size ({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            reply = Reply(json.dumps(error).encode(), "Function.ResponseSizeTooLarge")
            self._answer(request_id, reply, "InvocationResponse")
            raise RuntimeApiError(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            )
        self._answer(request_id, Reply(payload), "InvocationResponse")

    def post_error(self, request_id: str, payload: bytes, error_type: str | None) -> None:
        self._answer(
            request_id, Reply(payload, error_type or "Unhandled"), "InvocationErrorResponse"
        )

    def post_init_error(self, payload: bytes, error_type: str | None) -> None:
        if self.state is not RuntimeState.INIT:
            raise _transition(self.state, "InitError")
        self.state = RuntimeState.INIT_FAILED
        if not self.ready.done():
            self.ready.set_result(Reply(payload, error_type or "Runtime.Unknown"))
