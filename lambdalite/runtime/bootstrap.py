"""lambdalite's Python runtime: the loop a python3.x sandbox runs after it is forked.

Init (import the handler module once), then for each INVOKE frame: build the event and
the context, call the handler, send RESPONSE or ERROR — the same sequence awslambdaric
runs against the Runtime API, over the private channel of `protocol.py`. What a handler
can observe is the same: its module globals and /tmp persist across warm invocations,
`print` and the root logger go to the invocation's log, an uncaught exception becomes
`{"errorMessage", "errorType", "requestId", "stackTrace"}` and an `[ERROR]` log line.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import select
import socket
import sys
import time
from typing import Any

from lambdalite.runtime import protocol
from lambdalite.runtime.context import LambdaContext
from lambdalite.runtime.handler import (
    FaultError,
    Handler,
    Precompiled,
    error_from_exception,
    error_log_line,
    from_json,
    load_handler,
    to_json,
)
from lambdalite.runtime.protocol import Kind

_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


def prepare() -> None:
    """What does not depend on the sandbox, done while it is still a spare (~0.6 ms)."""
    # Lines reach the log as they are printed, so a timed-out invocation keeps its log.
    # fd 1 itself is replaced at activation; these objects keep writing to fd 1.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    # The root logger awslambdaric installs: tab-separated, with the request id.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.terminator = ""
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().handlers = [handler]


def _set_log_level() -> None:
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        logging.getLogger().setLevel(level)


def _report(error: dict[str, Any]) -> None:
    sys.stdout.write(error_log_line(error))
    sys.stdout.flush()


def _init(channel: socket.socket, handler_name: str, pre: Precompiled | None) -> Handler:
    try:
        return load_handler(handler_name, pre)
    except Exception as exc:
        error = error_from_exception(exc)
        _report(error)
        meta = {"errorType": error["errorType"]}
        protocol.send_frame(channel, Kind.INIT_ERROR, meta, json.dumps(error).encode())
        # awslambdaric exits 1 after reporting an init error; the platform expects that.
        sys.stdout.flush()
        os._exit(1)


def _invoke(handler: Handler, meta: dict[str, Any], body: bytes) -> tuple[Kind, bytes, str]:
    global _request_id
    request_id = str(meta["requestId"])
    _request_id = request_id
    trace_id = meta.get("traceId")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        client_context = meta.get("clientContext")
        identity = meta.get("cognitoIdentity")
        context = LambdaContext(
            request_id,
            int(meta["deadlineMs"]),
            str(meta["invokedFunctionArn"]),
            json.loads(client_context) if client_context else None,
            json.loads(identity) if identity else None,
        )
        result = to_json(handler(from_json(body), context))
        return Kind.RESPONSE, result, ""
    except Exception as exc:
        error = error_from_exception(exc, request_id)
        _report(error)
        return Kind.ERROR, json.dumps(error).encode(), str(error["errorType"])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve(channel: socket.socket, handler_name: str, pre: Precompiled | None = None) -> None:
    """Run the sandbox's runtime until the platform closes the channel. `prepare()`
    must have run in this process before."""
    _set_log_level()
    began = time.perf_counter()
    handler = _init(channel, handler_name, pre)
    init_ms = (time.perf_counter() - began) * 1000
    sys.stdout.flush()
    protocol.send_frame(channel, Kind.READY, {"initMs": round(init_ms, 3)})
    batch = False
    # Wait for each event in poll(), then read it. A task asleep in recv() on a Unix
    # socket is woken by any wake-up of the socket's queue, and the platform's read of
    # the answer just sent frees its buffer, which is one ("write space"): a second,
    # empty wake-up per invocation, two more context switches of the sandbox's CPU
    # time. poll()'s wait only wakes for what it asked, POLLIN (decision 0009).
    next_event = select.poll()
    next_event.register(channel, select.POLLIN)
    while True:
        next_event.poll()
        try:
            kind, meta, body = protocol.recv_frame(channel)
        except protocol.ChannelClosed:
            return
        if kind is not Kind.INVOKE:
            continue
        reply, payload, error_type = _invoke(handler, meta, body)
        reply_meta: dict[str, Any] = {"requestId": meta["requestId"]}
        if error_type:
            reply_meta["errorType"] = error_type
        protocol.send_frame(channel, reply, reply_meta, payload)
        if not batch:
            # From its second invocation on, the runtime is SCHED_BATCH (inherited by
            # anything the function starts): a warm sandbox woken by its next event
            # never preempts the platform's server that wrote it, and runs when that
            # vCPU next schedules or on an idle one. The preemption cost the server a
            # context switch per invocation: at c=64 warm hello went from 4,227 to
            # 4,782/s, the sandboxes' CPU per invoke from 104 to 75 µs (decision 0006).
            # Not before: a cold start's first invocation waited ~0.7 ms more for a CPU.
            _run_as_batch()
            batch = True


def _run_as_batch() -> None:
    # Linux only (the rlimits-only fallback may run elsewhere); a refusal changes nothing.
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


__all__ = ["FaultError", "serve"]
