"""A Sandbox: one isolated runtime process serving one function version, one invocation
at a time, from its start to its destruction.

    STARTING --init ok--> IDLE <--> BUSY --(timeout | exit | OOM | any backend error)--> DESTROYED
        \\--init failed--------------------------------------------------------------^

The state machine lives here; how the process is isolated and started is the Backend's
(backend.py). `invoke()` always returns an `InvocationOutcome` for what the *function*
did — including timeouts, crashes and out-of-memory, which AWS reports as function
errors — and raises `BackendError` only for the platform's own failures. A sandbox whose
outcome says `sandbox_destroyed` is gone; the pool never hands it out again.

Errors, as AWS writes them (aws-reference/invoke-and-errors.md, section 2):

    Sandbox.Timedout     RequestId: <id> Error: Task timed out after 3.00 seconds
    Runtime.ExitError    RequestId: <id> Error: Runtime exited with error: exit status 1
    Runtime.OutOfMemory  RequestId: <id> Error: Runtime exited with error: signal: killed
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from lambdalite.sandbox.backend import Backend, SandboxProcess
from lambdalite.sandbox.channel import Channel
from lambdalite.sandbox.logbuffer import LogBuffer
from lambdalite.sandbox.runtime_api import RuntimeApiServer
from lambdalite.sandbox.session import Reply, RuntimeSession
from lambdalite.sandbox.spec import (
    ColdStart,
    InvocationOutcome,
    InvocationRequest,
    SandboxSpec,
)

# AWS gives the init phase 10 s for on-demand functions (Lambda quotas page).
INIT_TIMEOUT_S = 10.0
SETTLE_S = 0.5

# Go's names for signals: AWS's messages come from its Go runtime ("signal: killed").
_SIGNAL_NAMES = {
    1: "hangup", 2: "interrupt", 3: "quit", 4: "illegal instruction",
    5: "trace/breakpoint trap", 6: "aborted", 7: "bus error",
    8: "floating point exception", 9: "killed", 10: "user defined signal 1",
    11: "segmentation fault", 12: "user defined signal 2", 13: "broken pipe",
    14: "alarm clock", 15: "terminated",
}  # fmt: skip


class _Exited(Exception):
    """The runtime exited during an invocation without answering it."""


class _TimedOut(Exception):
    """The invocation's deadline passed."""


class SandboxState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DESTROYED = "destroyed"


def exit_reason(status: int) -> str:
    """`Runtime exited ...` as AWS words it for a wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = _SIGNAL_NAMES.get(sig, f"signal {sig}")
        core = " (core dumped)" if os.WCOREDUMP(status) else ""
        return f"Runtime exited with error: signal: {name}{core}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    if code == 0:
        return "Runtime exited without providing a reason"
    return f"Runtime exited with error: exit status {code}"


def _platform_error(request_id: str, error_type: str, reason: str) -> bytes:
    message = f"RequestId: {request_id} Error: {reason}"
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class Sandbox:
    def __init__(
        self,
        spec: SandboxSpec,
        process: SandboxProcess,
        log_stream: str,
        clock: Callable[[], float],
    ) -> None:
        self.spec = spec
        self.process = process
        self.log_stream = log_stream
        self.state = SandboxState.STARTING
        self.invocations = 0
        self.provisioned = False  # started ahead of traffic by SandboxPool.prewarm
        self._clock = clock
        self.last_used = clock()
        self.init_duration_ms: float | None = None
        # perf_counter() when Sandbox.start was called and when its process had started.
        self._asked = self._spawned = 0.0
        self._cold_start: ColdStart | None = None
        self._init_log = b""
        self._init_failure: Reply | None = None
        self._init_exit: int | None = None
        self._init_timed_out: float | None = None  # the init timeout that expired
        self._log = LogBuffer()
        self._session: RuntimeSession | None = None
        self._channel: Channel | None = None
        self._reply: asyncio.Future[Reply] | None = None  # of the invocation running now
        self._server: RuntimeApiServer | None = None
        self._destroying: asyncio.Task[None] | None = None
        self._destroyed = False
        self._peak = 0

    @property
    def id(self) -> str:
        return self.process.id

    @classmethod
    async def start(
        cls,
        spec: SandboxSpec,
        backend: Backend,
        clock: Callable[[], float] = time.monotonic,
        init_timeout_s: float = INIT_TIMEOUT_S,
    ) -> Sandbox:
        """Start a sandbox and run the function's init; raises BackendError only."""
        # Init Duration counts this sandbox's start and the function's init, not the
        # one-off preparation its version shares (the zygote).
        asked = time.perf_counter()
        await backend.prepare(spec)
        started = time.perf_counter()
        log_stream = spec.new_log_stream()
        process = await backend.start(spec, log_stream)
        sandbox = cls(spec, process, log_stream, clock)
        sandbox._asked, sandbox._spawned = asked, time.perf_counter()
        try:
            await sandbox._init(started, init_timeout_s)
        except BaseException:
            await sandbox.destroy()
            raise
        return sandbox

    async def _init(self, started: float, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        process = self.process
        self._session = session = RuntimeSession()
        loop.add_reader(process.log_fd, self._on_log)
        if process.channel is not None:
            self._channel = await Channel.open(process.channel, session)
        elif process.runtime_api is not None:
            self._server = RuntimeApiServer(session, process.runtime_api)
            await self._server.start()
        waiting: set[asyncio.Future[Any]] = {session.ready, process.exited}
        done, _ = await asyncio.wait(
            waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        ended = time.perf_counter()
        self.init_duration_ms = (ended - started) * 1000
        self._cold_start = self._breakdown(ended)
        if process.exited in done and not session.ready.done():
            await self._settle()
        if session.ready.done() and session.ready.result() is None and not process.exited.done():
            self.state = SandboxState.IDLE
            process.exited.add_done_callback(self._on_exit)
        elif session.ready.done() and session.ready.result() is not None:
            self._init_failure = session.ready.result()
        elif process.exited.done():
            self._init_exit = process.exited.result()
        else:
            self._init_timed_out = timeout_s
            process.kill()
        self._log.drain(process.log_fd)
        self._init_log = self._log.take()

    def _breakdown(self, ended: float) -> ColdStart:
        """Split the start into platform, runtime and function init (ColdStart's doc)."""
        created_ms = (self._spawned - self._asked) * 1000
        since_process = (ended - self._spawned) * 1000
        function_init = self._channel.init_ms if self._channel is not None else None
        if function_init is None:  # a provided runtime, or it never got as far as READY
            return ColdStart(created_ms, None, since_process)
        function_init = min(function_init, since_process)
        return ColdStart(created_ms, since_process - function_init, function_init)

    async def _settle(self) -> None:
        """The runtime died: let the channel deliver what it wrote before dying (its
        frames and the exit report travel on different sockets, in either order)."""
        if self._channel is not None:
            await asyncio.wait([self._channel.closed], timeout=SETTLE_S)

    def _on_log(self) -> None:
        if not self._log.drain(self.process.log_fd):
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.process.log_fd)

    def _on_exit(self, _: asyncio.Future[int]) -> None:
        loop = asyncio.get_running_loop()
        if self.state is SandboxState.IDLE:
            # Died while idle (a thread called os._exit, a left-over process OOMed it...).
            self._destroying = loop.create_task(self.destroy())
        elif self.state is SandboxState.BUSY and self._reply is not None:
            self._destroying = loop.create_task(self._exited_while_busy(self._reply))

    async def _exited_while_busy(self, reply: asyncio.Future[Reply]) -> None:
        # What the runtime wrote before dying may still be on its way (the exit report
        # and the channel are different sockets): an answer that arrives still stands.
        await self._settle()
        if not reply.done():
            reply.set_exception(_Exited())

    @staticmethod
    def _expire(reply: asyncio.Future[Reply]) -> None:
        if not reply.done():
            reply.set_exception(_TimedOut())

    def _outcome(
        self,
        request_id: str,
        payload: bytes,
        error_type: str | None,
        duration_ms: float = 0.0,
        tail: bytes = b"",
        drained: bool = False,
    ) -> InvocationOutcome:
        first = self.invocations == 0
        # A provisioned sandbox ran its init ahead of traffic: its first invocation is not
        # a cold start and reports no Init Duration (its init lines still go to its log).
        cold = first and not self.provisioned
        self.invocations += 1
        if not drained:
            self._log.drain(self.process.log_fd)
        return InvocationOutcome(
            request_id=request_id,
            payload=payload,
            function_error="Unhandled" if error_type else None,
            error_type=error_type,
            log=self._log.take() + tail,
            init_log=self._init_log if first else b"",
            log_stream=self.log_stream,
            cold=cold,
            init_duration_ms=self.init_duration_ms if cold else None,
            duration_ms=duration_ms,
            max_memory_used_mb=math.ceil(self._peak_memory() / (1024 * 1024)),
            sandbox_destroyed=self.state is SandboxState.DESTROYED,
            cold_start=self._cold_start if cold else None,
            provisioned=self.provisioned,
        )

    def _peak_memory(self) -> int:
        # Sampled before destroy() too: the cgroup that counts it goes with the sandbox.
        if not self._destroyed:
            self._peak = max(self._peak, self.process.peak_memory_bytes())
        return self._peak

    async def _init_failed(self, request_id: str) -> InvocationOutcome:
        await self.destroy()
        if self._init_failure is not None:
            payload = self._init_failure.payload
            return self._outcome(request_id, payload, self._init_failure.error_type)
        if self._init_timed_out is not None:
            reason = f"Task timed out after {self._init_timed_out:.2f} seconds"
            return self._outcome(
                request_id,
                _platform_error(request_id, "Sandbox.Timedout", reason),
                "Sandbox.Timedout",
            )
        reason = exit_reason(self._init_exit or 0)
        return self._outcome(
            request_id,
            _platform_error(request_id, "Runtime.ExitError", reason),
            "Runtime.ExitError",
        )

    async def invoke(self, request: InvocationRequest) -> InvocationOutcome:
        """Run one invocation; the outcome says what the function did."""
        if self.state is SandboxState.STARTING:
            return await self._init_failed(request.request_id)
        if self.state is not SandboxState.IDLE or self._session is None:
            raise RuntimeError(f"sandbox {self.id} is {self.state}, not idle")
        self.state = SandboxState.BUSY
        deadline = request.deadline
        if deadline is None:
            deadline = request.deadline = time.time() + self.spec.timeout_s
        started = time.perf_counter()
        # One future for the answer; a timer and the exit handler fail it instead of
        # racing it in asyncio.wait (which costs a waiter and callbacks per invocation).
        self._reply = reply = self._session.invoke(request)
        timer = asyncio.get_running_loop().call_later(
            max(deadline - time.time(), 0), self._expire, reply
        )
        rid = request.request_id
        try:
            answer = await reply
        except _Exited:
            duration_ms = (time.perf_counter() - started) * 1000
            oom = self.process.oom_kills() > 0
            await self.destroy()
            reason = exit_reason(self.process.exited.result())
            error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
            tail = f"RequestId: {rid} Error: {reason}\n{error_type}\n".encode()
            payload = _platform_error(rid, error_type, reason)
            return self._outcome(rid, payload, error_type, duration_ms, tail)
        except _TimedOut:
            duration_ms = (time.perf_counter() - started) * 1000
            self.process.kill()
            await self.destroy()
            reason = f"Task timed out after {self.spec.timeout_s:.2f} seconds"
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            tail = f"{stamp}Z {rid} {reason}\n".encode()
            payload = _platform_error(rid, "Sandbox.Timedout", reason)
            return self._outcome(rid, payload, "Sandbox.Timedout", duration_ms, tail)
        except BaseException:
            await self.destroy()  # cancelled mid-invoke: its runtime is in an unknown state
            raise
        finally:
            timer.cancel()
            self._reply = None
        duration_ms = (time.perf_counter() - started) * 1000
        if self.process.exited.done():
            await self.destroy()  # answered, then exited: the answer stands
        else:
            self.state = SandboxState.IDLE
            self.last_used = self._clock()
        # lambdalite's runtime flushes stdout and stderr before it sends its answer, so
        # whatever the function printed was in the log pipe before the answer reached
        # the channel; the event loop's reader for the pipe (_on_log) has drained it, in
        # the same poll of the loop or an earlier one, before this coroutine resumes. One
        # read() per invocation less (~5 µs on the loop). The Runtime API's HTTP path
        # has no such ordering (a runtime may buffer), so it still drains here.
        return self._outcome(
            rid,
            answer.payload,
            self._error_type(answer),
            duration_ms,
            drained=self._channel is not None,
        )

    @staticmethod
    def _error_type(answer: Reply) -> str | None:
        if answer.error_type is None:
            return None
        # The errorType the runtime put in its error object is what the caller sees.
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            body = json.loads(answer.payload)
            if isinstance(body, dict) and isinstance(body.get("errorType"), str):
                return str(body["errorType"])
        return answer.error_type

    async def destroy(self) -> None:
        """Kill the sandbox and release everything; idempotent, never raises."""
        if self._destroyed:
            return
        self._peak_memory()
        self._destroyed = True
        self.state = SandboxState.DESTROYED
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self.process.log_fd)
        self._log.drain(self.process.log_fd)
        if self._channel is not None:
            self._channel.close()
        if self._server is not None:
            await self._server.close()
        await self.process.destroy()
