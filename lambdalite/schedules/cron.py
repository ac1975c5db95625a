"""Cron expressions in EventBridge's six-field syntax, and their next firing time.

    cron(Minutes Hours Day-of-month Month Day-of-week Year)     always UTC

Source: EventBridge User Guide, "Cron expressions reference" (summarised in
aws-reference/apis.md). Each field takes values, ranges `a-b`, lists `a,b`, `*`, and
increments `a/n`, `a-b/n`, `*/n`; months and weekdays also by name (JAN-DEC, SUN-SAT,
any case; 1 = SUN). Day-of-month also takes `L` (last day), `LW` (last weekday) and
`nW` (the weekday nearest the nth, never leaving the month); day-of-week `L` (the last
day of the week, Saturday), `nL` (the month's last weekday n) and `n#k` (its kth
weekday n), each alone in its field. Exactly one of the two day fields is `?`.

Anything else is refused whole, with EventBridge's "Parameter ScheduleExpression is
not valid." (raised by the caller from CronError).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Fixed names, not calendar.month_abbr: that one follows the locale.
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_NTH = re.compile(r"^([1-7])#([1-5])$")
_LAST_OF = re.compile(r"^([1-7])L$")
_NEAREST = re.compile(r"^([0-9]{1,2})W$")


class CronError(ValueError):
    """The expression is not valid."""


@dataclass(frozen=True)
class _DayRule:
    """Which days of a month a day field picks; `values` for plain values."""

    values: frozenset[int] = frozenset()
    last: bool = False  # L (day-of-month)
    last_weekday: bool = False  # LW
    nearest: int | None = None  # nW
    nth: tuple[int, int] | None = None  # (weekday, k) of n#k
    last_of: int | None = None  # weekday of nL


@dataclass(frozen=True)
class CronExpression:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: tuple[int, ...]  # sorted
    day_of_month: _DayRule | None  # None: "?"
    day_of_week: _DayRule | None

    @classmethod
    def parse(cls, fields_text: str) -> CronExpression:
        fields = fields_text.split()
        if len(fields) != 6:
            raise CronError("a cron expression has six fields")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise CronError("exactly one of day-of-month and day-of-week must be ?")
        return cls(
            minutes=_values(minute, 0, 59),
            hours=_values(hour, 0, 23),
            months=_values(month, 1, 12, _MONTH_NAMES),
            years=tuple(sorted(_values(year, 1970, 2199))),
            day_of_month=None if dom == "?" else _day_of_month(dom),
            day_of_week=None if dow == "?" else _day_of_week(dow),
        )

    def next_after(self, moment: float) -> float | None:
        """The first firing strictly after `moment` (epoch seconds), or None if there
        is none before the end of 2199."""
        at = datetime.fromtimestamp(moment, UTC).replace(second=0, microsecond=0)
        at += timedelta(minutes=1)
        while True:
            year = next((y for y in self.years if y >= at.year), None)
            if year is None:
                return None
            if year != at.year:
                at = datetime(year, 1, 1, tzinfo=UTC)
            if at.month not in self.months:
                at = _next_month(at)
                continue
            days = self._days(at.year, at.month)
            day = next((d for d in sorted(days) if d >= at.day), None)
            if day is None:
                at = _next_month(at)
                continue
            if day != at.day:
                at = at.replace(day=day, hour=0, minute=0)
            hour = next((h for h in sorted(self.hours) if h >= at.hour), None)
            if hour is None:
                at = at.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if hour != at.hour:
                at = at.replace(hour=hour, minute=0)
            minute = next((m for m in sorted(self.minutes) if m >= at.minute), None)
            if minute is None:
                at = at.replace(minute=0) + timedelta(hours=1)
                continue
            return at.replace(minute=minute).timestamp()

    def _days(self, year: int, month: int) -> set[int]:
        rule = self.day_of_month or self.day_of_week
        assert rule is not None
        if self.day_of_month is not None:
            return _month_days(rule, year, month)
        return _week_days(rule, year, month)


def _next_month(at: datetime) -> datetime:
    if at.month == 12:
        return datetime(at.year + 1, 1, 1, tzinfo=UTC)
    return datetime(at.year, at.month + 1, 1, tzinfo=UTC)


def _month_days(rule: _DayRule, year: int, month: int) -> set[int]:
    length = calendar.monthrange(year, month)[1]
    if rule.last:
        return {length}
    if rule.last_weekday:
        return {_weekday_near(year, month, length, length)}
    if rule.nearest is not None:
        if rule.nearest > length:
            return set()
        return {_weekday_near(year, month, rule.nearest, length)}
    return {d for d in rule.values if d <= length}


def _weekday_near(year: int, month: int, day: int, length: int) -> int:
    """The Monday-to-Friday day nearest `day`, within the month (Quartz's W)."""
    weekday = calendar.weekday(year, month, day)  # Monday 0 .. Sunday 6
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return day + 1 if day < length else day - 2
    return day


def _week_days(rule: _DayRule, year: int, month: int) -> set[int]:
    length = calendar.monthrange(year, month)[1]
    days = range(1, length + 1)

    def weekday(day: int) -> int:  # 1 = SUN .. 7 = SAT, as cron numbers them
        return (calendar.weekday(year, month, day) + 1) % 7 + 1

    if rule.nth is not None:
        wanted, k = rule.nth
        matching = [d for d in days if weekday(d) == wanted]
        return {matching[k - 1]} if k <= len(matching) else set()
    if rule.last_of is not None:
        return {max(d for d in days if weekday(d) == rule.last_of)}
    return {d for d in days if weekday(d) in rule.values}


def _day_of_month(text: str) -> _DayRule:
    if text == "L":
        return _DayRule(last=True)
    if text == "LW":
        return _DayRule(last_weekday=True)
    nearest = _NEAREST.match(text)
    if nearest:
        day = int(nearest[1])
        if not 1 <= day <= 31:
            raise CronError("W needs a day of 1-31")
        return _DayRule(nearest=day)
    return _DayRule(values=_values(text, 1, 31))


def _day_of_week(text: str) -> _DayRule:
    upper = text.upper()
    if upper == "L":  # the last day of the week: every Saturday
        return _DayRule(values=frozenset({7}))
    if "#" in upper:
        day, _, k = upper.partition("#")
        nth = _NTH.match(f"{_number(day, 1, 7, _DAY_NAMES)}#{k}")
        if nth is None:
            raise CronError("# needs a weekday and 1-5")
        return _DayRule(nth=(int(nth[1]), int(nth[2])))
    if upper.endswith("L"):
        last_of = _LAST_OF.match(f"{_number(upper[:-1], 1, 7, _DAY_NAMES)}L")
        if last_of is None:
            raise CronError("nL needs a weekday")
        return _DayRule(last_of=int(last_of[1]))
    return _DayRule(values=_values(upper, 1, 7, _DAY_NAMES))


def _values(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """A field of values, ranges, lists, `*` and increments, as the set it picks."""
    picked: set[int] = set()
    for item in text.upper().split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"bad increment in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, low, high, names), _number(last, low, high, names)
            if start > end:
                raise CronError(f"range {item!r} runs backwards")
        else:
            start = _number(base, low, high, names)
            # "a/n" runs from a to the field's end; a single value is just itself.
            end = high if slash else start
        picked.update(range(start, end + 1, step))
    return frozenset(picked)


def _number(text: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a value")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{value} is outside {low}-{high}")
    return value
