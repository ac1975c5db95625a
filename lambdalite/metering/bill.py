"""Bill: usage priced with a PriceBook, per function, account or day, as AWS bills it.

AWS prices a month of one account at a time: the free tier (1M requests and 400,000
GB-s a month, shared by the architectures; none for provisioned concurrency) and the
duration tiers (by each architecture's GB-seconds of the month) apply to the account's
month as a whole. To show that per function or per day, usage is walked in time order —
day by day, and within a day by function name — and each step takes what is left of the
free tier and prices its GB-seconds at the tier they fall in ("first used, first
free"). The groups then add up to the account's month exactly. Usage of the same month
before `since` is walked first and not shown, so a bill from mid-month still sees the
free tier that month already used. Everything is Decimal; nothing is rounded.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lambdalite.metering.prices import MB_PER_GB, MS_PER_S, PRECISION, PriceBook
from lambdalite.metering.usage_store import UsageStore, UsageSums

EPOCH = datetime.date(1970, 1, 1)
ZERO = Decimal(0)


class GroupBy(StrEnum):
    FUNCTION = "function"
    ACCOUNT = "account"
    DAY = "day"


@dataclass
class Line:
    """Usage and its price: one group of a bill, or the bill's total."""

    requests: int = 0
    throttled: int = 0
    billed_ms: int = 0
    gb_seconds: Decimal = ZERO
    free_requests: int = 0  # of `requests`, covered by the free tier
    free_gb_seconds: Decimal = ZERO
    request_cost: Decimal = ZERO
    duration_cost: Decimal = ZERO
    storage_cost: Decimal = ZERO

    @property
    def cost(self) -> Decimal:
        return self.request_cost + self.duration_cost + self.storage_cost

    def add(self, other: Line) -> None:
        self.requests += other.requests
        self.throttled += other.throttled
        self.billed_ms += other.billed_ms
        self.gb_seconds += other.gb_seconds
        self.free_requests += other.free_requests
        self.free_gb_seconds += other.free_gb_seconds
        self.request_cost += other.request_cost
        self.duration_cost += other.duration_cost
        self.storage_cost += other.storage_cost

    def to_json(self) -> dict[str, Any]:
        return {
            "Requests": self.requests,
            "Throttled": self.throttled,
            "BilledMs": self.billed_ms,
            "GbSeconds": plain(self.gb_seconds),
            "FreeRequests": self.free_requests,
            "FreeGbSeconds": plain(self.free_gb_seconds),
            "RequestCost": plain(self.request_cost),
            "DurationCost": plain(self.duration_cost),
            "StorageCost": plain(self.storage_cost),
            "Cost": plain(self.cost),
        }


@dataclass
class Group:
    key: dict[str, str]  # {"Account", "Function"} | {"Account"} | {"Day"}
    line: Line = field(default_factory=Line)

    def to_json(self) -> dict[str, Any]:
        return {**self.key, **self.line.to_json()}


@dataclass
class Bill:
    prices: PriceBook
    by: GroupBy
    since_ms: int | None
    until_ms: int
    groups: list[Group]
    total: Line

    def to_json(self) -> dict[str, Any]:
        return {
            "PriceBook": self.prices.name,
            "Currency": self.prices.currency,
            "By": self.by.value,
            "Since": _iso(self.since_ms) if self.since_ms is not None else None,
            "Until": _iso(self.until_ms),
            "Groups": [group.to_json() for group in self.groups],
            "Total": self.total.to_json(),
        }


def plain(number: Decimal) -> str:
    """A Decimal without exponent notation ("0.0000002", not "2E-7")."""
    return format(number.normalize(), "f")


def month_start_ms(at_ms: int) -> int:
    """The start (UTC) of the calendar month holding `at_ms`."""
    day = datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC).date().replace(day=1)
    return (day - EPOCH).days * 86_400_000


def compute(
    prices: PriceBook,
    by: GroupBy,
    usage: Sequence[UsageSums],
    earlier: Iterable[UsageSums] = (),
    since_ms: int | None = None,
    until_ms: int = 0,
) -> Bill:
    """Price `usage` (sums in time order, from the store) into groups. `earlier`: the
    same months' usage before `since`, which used up free tier and tiers first."""
    months: dict[tuple[str, tuple[int, int]], _Month] = {}
    for sums in earlier:
        _month_of(months, sums, prices).price(sums)
    groups: dict[tuple[str, ...], Group] = {}
    total = Line()
    for sums in usage:
        line = _month_of(months, sums, prices).price(sums)
        key = _KEYS[by](sums)
        group = groups.get(tuple(key.values()))
        if group is None:
            group = groups[tuple(key.values())] = Group(key)
        group.line.add(line)
        total.add(line)
    ordered = sorted(groups.values(), key=lambda g: tuple(g.key.values()))
    return Bill(prices, by, since_ms, until_ms, ordered, total)


class _Month:
    """What one account has used of one calendar month so far."""

    def __init__(self, prices: PriceBook) -> None:
        self.prices = prices
        self.free_requests = prices.free_requests
        self.free_gb_seconds = prices.free_gb_seconds
        self.gb_seconds: dict[str, Decimal] = {}  # per architecture, on demand

    def price(self, sums: UsageSums) -> Line:
        prices = self.prices
        with decimal.localcontext(PRECISION):
            gb_seconds = Decimal(sums.mb_ms) / (MB_PER_GB * MS_PER_S)
            line = Line(
                requests=sums.requests,
                throttled=sums.throttled,
                billed_ms=sums.billed_ms,
                gb_seconds=gb_seconds,
            )
            rates = prices.provisioned.get(sums.architecture) if sums.provisioned else None
            if rates is not None:
                # Provisioned concurrency: its own duration rate; no free tier, no tiers.
                line.request_cost = sums.requests * prices.per_request
                line.duration_cost = gb_seconds * rates.per_gb_second_duration
            else:
                line.free_requests = min(sums.requests, self.free_requests)
                self.free_requests -= line.free_requests
                line.request_cost = (sums.requests - line.free_requests) * prices.per_request
                line.free_gb_seconds = min(gb_seconds, self.free_gb_seconds)
                self.free_gb_seconds -= line.free_gb_seconds
                # The free GB-seconds are the month's first: the rest start after them.
                start = self.gb_seconds.get(sums.architecture, ZERO)
                self.gb_seconds[sums.architecture] = start + gb_seconds
                free = line.free_gb_seconds
                line.duration_cost = prices.duration_cost(
                    sums.architecture, start + free, gb_seconds - free
                )
            storage_gb_seconds = Decimal(sums.storage_mb_ms) / (MB_PER_GB * MS_PER_S)
            line.storage_cost = storage_gb_seconds * prices.storage_per_gb_second
        return line


def _month_of(
    months: dict[tuple[str, tuple[int, int]], _Month], sums: UsageSums, prices: PriceBook
) -> _Month:
    date = EPOCH + datetime.timedelta(days=sums.day)
    key = (sums.account_id, (date.year, date.month))
    month = months.get(key)
    if month is None:
        month = months[key] = _Month(prices)
    return month


def _day(sums: UsageSums) -> str:
    return (EPOCH + datetime.timedelta(days=sums.day)).isoformat()


def _iso(at_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


_KEYS: dict[GroupBy, Callable[[UsageSums], dict[str, str]]] = {
    GroupBy.FUNCTION: lambda s: {"Account": s.account_id, "Function": s.function_name},
    GroupBy.ACCOUNT: lambda s: {"Account": s.account_id},
    GroupBy.DAY: lambda s: {"Day": _day(s)},
}


def from_store(
    store: UsageStore,
    prices: PriceBook,
    by: GroupBy,
    since_ms: int | None,
    until_ms: int,
    account_id: str | None = None,
) -> Bill:
    """The bill of [since, until) for one account (None: all), from stored records."""

    def sums(start: int | None, end: int) -> list[UsageSums]:
        return store.sums(start, end, account_id, prices.rounding_ms, prices.storage_included_mb)

    earlier = sums(month_start_ms(since_ms), since_ms) if since_ms is not None else []
    return compute(prices, by, sums(since_ms, until_ms), earlier, since_ms, until_ms)
