"""The platform's own log lines, in AWS's format (START, END, REPORT) and the log tail.

Fields of REPORT are tab-separated with a trailing tab; durations have two decimals;
Billed Duration is ceil(init + duration) since AWS began billing INIT (2025-08-01).
Sources: aws-reference/invoke-and-errors.md section 3.
"""

from __future__ import annotations

import base64
import math

TAIL_BYTES = 4096


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_ms(duration_ms: float, init_ms: float | None) -> int:
    return math.ceil(duration_ms + (init_ms or 0.0))


def report_line(
    request_id: str,
    duration_ms: float,
    memory_mb: int,
    max_memory_used_mb: int,
    init_ms: float | None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed_ms(duration_ms, init_ms)} ms",
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        fields.append(f"Status: {status}")
    if error_type:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\t\n"


def tail(log: bytes) -> str:
    """X-Amz-Log-Result: the last 4 KB of the invocation's log, base64."""
    return base64.b64encode(log[-TAIL_BYTES:]).decode()
