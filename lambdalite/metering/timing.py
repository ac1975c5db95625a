"""The `X-Lambdalite-Timing` header of a synchronous Invoke: where its time went.

    cold=1; queued=0.012; create=1.204; runtime=2.310; init=0.481; handler=0.215; billed=4
    cold=0; queued=0.004; handler=0.215; billed=1

In milliseconds: waiting for a concurrency lease (and resolving the target), creating
the sandbox, starting its runtime, the function's init code, the handler; and the
billed duration. The same figures are in the invocation's usage record. Every response
carries it (formatting it costs well under a microsecond); `lambdalite invoke --timing`
prints it.
"""

from __future__ import annotations

from lambdalite.logs.lines import billed_ms
from lambdalite.sandbox.spec import InvocationOutcome

HEADER = "X-Lambdalite-Timing"
_NAMES = {
    "queued": "queued for a lease",
    "create": "sandbox creation",
    "runtime": "runtime start",
    "init": "function init",
    "handler": "handler",
}


def timing(outcome: InvocationOutcome, queued_ms: float) -> str:
    init = outcome.init_duration_ms if outcome.cold else None
    billed = billed_ms(outcome.duration_ms, init)
    start = outcome.cold_start
    if start is None:
        return (
            f"cold={int(outcome.cold)}; queued={queued_ms:.3f}; "
            f"handler={outcome.duration_ms:.3f}; billed={billed}"
        )
    runtime = f"runtime={start.runtime_ms:.3f}; " if start.runtime_ms is not None else ""
    return (
        f"cold=1; queued={queued_ms:.3f}; create={start.create_ms:.3f}; {runtime}"
        f"init={start.function_init_ms:.3f}; handler={outcome.duration_ms:.3f}; billed={billed}"
    )


def parse(value: str) -> dict[str, str]:
    fields = {}
    for part in value.split(";"):
        name, _, number = part.strip().partition("=")
        if name:
            fields[name] = number
    return fields


def describe(value: str) -> str:
    """The header for a person: `cold start: sandbox creation 1.20 ms, ...`."""
    fields = parse(value)
    phases = [
        f"{label} {float(fields[key]):.2f} ms" for key, label in _NAMES.items() if key in fields
    ]
    kind = "cold start" if fields.get("cold") == "1" else "warm start"
    billed = f"; billed {fields['billed']} ms" if "billed" in fields else ""
    return f"{kind}: {', '.join(phases)}{billed}"
