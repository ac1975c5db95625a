"""Schedule expressions: `rate(Value Unit)` and `cron(...)`, parsed into something that
says when a rule fires next.

`rate(Value Unit)` (EventBridge User Guide, "Rate expressions"): Value a positive
integer, Unit minute(s), hour(s) or day(s), singular exactly when Value is 1. A rate
rule fires every Value Units counted from the rule's creation (to the second), first
one period after it. `cron(...)`: see cron.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from lambdalite.schedules.cron import CronError, CronExpression
from lambdalite.schedules.errors import invalid_schedule

_RATE = re.compile(r"^rate\(\s*([0-9]+)\s+([a-z]+)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule(Protocol):
    def next_after(self, moment: float, anchor: float) -> float | None:
        """The first firing strictly after `moment`; `anchor` is when the rule was
        created (rate rules count their periods from it). None: never again."""
        ...


@dataclass(frozen=True)
class RateSchedule:
    period_s: int

    def next_after(self, moment: float, anchor: float) -> float | None:
        start = math.floor(anchor)
        if moment < start:
            return float(start + self.period_s)
        periods = math.floor((moment - start) / self.period_s) + 1
        return float(start + periods * self.period_s)


@dataclass(frozen=True)
class CronSchedule:
    cron: CronExpression

    def next_after(self, moment: float, anchor: float) -> float | None:
        return self.cron.next_after(moment)


def parse_schedule(text: str) -> Schedule:
    """The schedule an expression describes, or EventBridge's ValidationException."""
    rate = _RATE.match(text)
    if rate:
        value, unit = int(rate[1]), rate[2]
        singular = unit.removesuffix("s")
        if singular not in _UNITS or value < 1 or (unit == singular) != (value == 1):
            raise invalid_schedule()
        return RateSchedule(value * _UNITS[singular])
    cron = _CRON.match(text)
    if cron:
        try:
            return CronSchedule(CronExpression.parse(cron[1]))
        except CronError:
            raise invalid_schedule() from None
    raise invalid_schedule()
