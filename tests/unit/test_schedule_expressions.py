"""Schedule expressions: AWS's documented examples, the special day wildcards, rate
phases, and the syntax errors EventBridge refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdalite.schedules.errors import ValidationException
from lambdalite.schedules.expression import parse_schedule


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def following(expression: str, after: str, count: int = 1, anchor: str = "2026-01-01") -> list[str]:
    """The next `count` firings after `after`, as ISO times (UTC)."""
    schedule = parse_schedule(expression)
    moment, found = at(after), []
    for _ in range(count):
        nxt = schedule.next_after(moment, at(anchor))
        if nxt is None:
            break
        found.append(datetime.fromtimestamp(nxt, UTC).strftime("%Y-%m-%dT%H:%M"))
        moment = nxt
    return found


# 2026-11-26 is a Thursday.
@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # "Cron expressions reference" examples
        ("cron(15 10 * * ? *)", "2026-11-26T10:15", ["2026-11-27T10:15", "2026-11-28T10:15"]),
        ("cron(0 18 ? * MON-FRI *)", "2026-11-27T18:00", ["2026-11-30T18:00", "2026-12-01T18:00"]),
        ("cron(0 8 1 * ? *)", "2026-11-26T00:00", ["2026-12-01T08:00", "2027-01-01T08:00"]),
        (
            "cron(0/10 * ? * MON-FRI *)",
            "2026-11-27T23:45",
            ["2026-11-27T23:50", "2026-11-30T00:00"],
        ),
        (
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2026-11-26T17:50",
            ["2026-11-26T17:55", "2026-11-27T08:00"],
        ),
        ("cron(0 9 ? * 2#1 *)", "2026-11-26T00:00", ["2026-12-07T09:00", "2027-01-04T09:00"]),
        # lists, ranges with steps, names in any case, 1 = SUN
        (
            "cron(5,35 1-5/2 ? * sun *)",
            "2026-11-28T23:00",
            ["2026-11-29T01:05", "2026-11-29T01:35", "2026-11-29T03:05"],
        ),
        ("cron(0 0 1 jan,Jul ? *)", "2026-02-01T00:00", ["2026-07-01T00:00", "2027-01-01T00:00"]),
        ("cron(0 12 ? * 1 *)", "2026-11-26T00:00", ["2026-11-29T12:00"]),
        ("cron(*/30 * * * ? *)", "2026-12-31T23:15", ["2026-12-31T23:30", "2027-01-01T00:00"]),
        # L, LW, nW, nL, # and years
        ("cron(0 0 L * ? *)", "2026-01-31T00:00", ["2026-02-28T00:00", "2026-03-31T00:00"]),
        ("cron(0 0 L 2 ? *)", "2027-03-01T00:00", ["2028-02-29T00:00"]),
        ("cron(0 0 29 2 ? *)", "2026-03-01T00:00", ["2028-02-29T00:00", "2032-02-29T00:00"]),
        ("cron(0 0 LW * ? *)", "2026-05-01T00:00", ["2026-05-29T00:00", "2026-06-30T00:00"]),
        ("cron(0 0 1W * ? *)", "2026-07-31T00:00", ["2026-08-03T00:00"]),  # Sat 1st -> Mon 3rd
        ("cron(0 0 15W * ? *)", "2026-11-01T00:00", ["2026-11-16T00:00"]),  # Sun -> Mon
        ("cron(0 0 31W * ? *)", "2026-05-01T00:00", ["2026-05-29T00:00"]),  # Sun 31st -> Fri
        ("cron(0 0 ? * 6L *)", "2026-11-01T00:00", ["2026-11-27T00:00", "2026-12-25T00:00"]),
        ("cron(0 0 ? * L *)", "2026-11-26T00:00", ["2026-11-28T00:00", "2026-12-05T00:00"]),
        ("cron(0 0 ? * 3#5 *)", "2026-11-01T00:00", ["2026-12-29T00:00"]),  # no 5th Tue in Nov
        ("cron(30 6 * * ? 2027-2028)", "2026-11-26T00:00", ["2027-01-01T06:30"]),
        ("cron(0 0 31 2 ? *)", "2026-01-01T00:00", []),  # never
        ("cron(0 0 * * ? 2020)", "2026-01-01T00:00", []),  # over
        # rate: periods counted from the rule's creation (anchor 2026-01-01T00:00)
        ("rate(1 minute)", "2026-01-01T00:00", ["2026-01-01T00:01", "2026-01-01T00:02"]),
        ("rate(5 minutes)", "2026-01-01T00:07", ["2026-01-01T00:10", "2026-01-01T00:15"]),
        ("rate(1 hour)", "2025-12-31T00:00", ["2026-01-01T01:00"]),
        ("rate(2 days)", "2026-01-02T12:00", ["2026-01-03T00:00", "2026-01-05T00:00"]),
    ],
)
def test_next_firings(expression: str, after: str, expected: list[str]) -> None:
    assert following(expression, after, count=len(expected) or 1) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "every 5 minutes",
        "rate(1 minutes)",  # 1 takes the singular
        "rate(5 minute)",  # and more the plural
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(30 seconds)",
        "rate(5minutes)",
        "rate(1 week)",
        "cron(0 12 * *)",  # four fields
        "cron(0 12 * * ? * *)",  # seven
        "cron(0 12 * * * *)",  # no ? in either day field
        "cron(0 12 ? * ? *)",  # ? in both
        "cron(60 * * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 0 * ? *)",
        "cron(0 0 ? 13 * *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? * 0 *)",
        "cron(0 0 * * ? 1969)",
        "cron(0 0 * * ? 2200)",
        "cron(0 0 ? * 3#1,6#3 *)",  # # stands alone in its field
        "cron(0 0 ? * 3#6 *)",
        "cron(0 0 5-1 * ? *)",  # backwards
        "cron(0/0 * * * ? *)",
        "cron(0 0 L-3 * ? *)",
        "cron(0 0 1-5W * ? *)",
        "cron(0 0 ? JANUARY * *)",
        "cron(? 0 * * ? *)",
        "cron(0 0 * * MON *)",  # a weekday with a day of month given
        "CRON(0 0 * * ? *)",
    ],
)
def test_invalid_expressions_are_refused_as_eventbridge_does(expression: str) -> None:
    with pytest.raises(ValidationException) as excinfo:
        parse_schedule(expression)
    assert excinfo.value.message == "Parameter ScheduleExpression is not valid."
    assert excinfo.value.status == 400
