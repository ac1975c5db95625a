"""IdlePoll: how long an idle vCPU of a VM polls for work before it halts.

Every warm invocation wakes a sandbox and is woken by it, and every HTTP request wakes
its client. On a VM whose idle vCPUs halt at once, each of those wake-ups is an
inter-processor interrupt that exits to the hypervisor: 74 µs a round trip on the 2-vCPU
Firecracker VM lambdalite is benchmarked on, against ~5 µs on one vCPU (decision 0006).
Linux's `haltpoll` cpuidle driver makes an idle vCPU poll for up to `guest_halt_poll_ns`
before halting, so a wake-up that comes within that window needs no interrupt; the
machines lambdalite is measured on boot with that driver forced on and the window at 0.

This is a setting of the whole machine, so lambdalite never changes it unless the
operator asks (`LAMBDALITE_IDLE_POLL_US`). When asked, it sets the window at start and
puts the previous value back at stop; `/health` and the banner say what is in force.
The cost: an idle vCPU spins for up to the window before halting, which a dedicated
machine does not notice and a shared host pays for in CPU time (docs/decisions/0008-idle-poll.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

HALT_POLL_NS = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
CPUIDLE_DRIVER = Path("/sys/devices/system/cpu/cpuidle/current_driver")


class IdlePoll:
    def __init__(self, parameter: Path = HALT_POLL_NS, driver: Path = CPUIDLE_DRIVER) -> None:
        self._parameter = parameter
        self._driver = driver
        self._previous: int | None = None

    def current_ns(self) -> int | None:
        """The window in force, or None where the haltpoll driver is not in use."""
        try:
            if self._driver.read_text().strip() != "haltpoll":
                return None
            return int(self._parameter.read_text().strip())
        except (OSError, ValueError):
            return None

    def apply(self, microseconds: int) -> str:
        """Set the window; returns what to tell the operator (never raises)."""
        before = self.current_ns()
        if before is None:
            return "idle poll: not applied (this machine does not use the haltpoll driver)"
        try:
            self._parameter.write_text(str(microseconds * 1000))
        except OSError as exc:
            return f"idle poll: not applied ({exc.strerror or exc}; needs root)"
        if self._previous is None:
            self._previous = before
        return f"idle poll: {microseconds} µs (haltpoll guest_halt_poll_ns, was {before})"

    def restore(self) -> None:
        """Put back the value found before `apply` (once; a no-op if nothing was set)."""
        if self._previous is None:
            return
        try:
            self._parameter.write_text(str(self._previous))
        except OSError as exc:
            log.warning("could not restore guest_halt_poll_ns to %s: %s", self._previous, exc)
        self._previous = None

    def describe(self) -> dict[str, object]:
        """For /health: the driver's window, and whether this server set it."""
        return {"halt_poll_ns": self.current_ns(), "set_by_lambdalite": self._previous is not None}
