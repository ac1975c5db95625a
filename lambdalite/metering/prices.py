"""PriceBook: what requests, GB-seconds and /tmp cost, read from a TOML file.

Two books are built in (lambdalite/pricebooks/): `aws`, AWS's public us-east-1 prices, so
"what would AWS charge" is the default answer; and `self-hosted`, which turns the cost of
a core-hour and a GB-hour of your own machines into a price per GB-second. Any other book
is a file of the same shape (`LAMBDALITE_PRICE_BOOK`, `lambdalite bill --price-book`).

Prices are written as strings ("0.0000166667") and kept as Decimal: a TOML float is a
binary fraction, and a bill must add up to the cent.
"""

from __future__ import annotations

import decimal
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

BUILT_IN = ("aws", "self-hosted")
ARCHITECTURES = ("x86_64", "arm64")
MB_PER_GB = 1024
MS_PER_S = 1000
# Ample for products of 13-digit rates and GB-second sums: no bill rounds by accident.
PRECISION = decimal.Context(prec=60)
HARDWARE_RATE_QUANTUM = Decimal("1e-18")


class PriceBookError(ValueError):
    """A price book that cannot be read; the message says where and what to write."""


@dataclass(frozen=True)
class Tier:
    """A duration price, up to a month's cumulative GB-seconds (None: no end)."""

    per_gb_second: Decimal
    up_to_gb_seconds: Decimal | None = None


@dataclass(frozen=True)
class ProvisionedRates:
    per_gb_second_configured: Decimal
    per_gb_second_duration: Decimal


@dataclass(frozen=True)
class PriceBook:
    name: str
    duration: Mapping[str, tuple[Tier, ...]]  # per architecture; x86_64 at least
    per_request: Decimal = Decimal(0)
    free_requests: int = 0
    free_gb_seconds: Decimal = Decimal(0)
    provisioned: Mapping[str, ProvisionedRates] = field(default_factory=dict)
    storage_included_mb: int = 512
    storage_per_gb_second: Decimal = Decimal(0)
    rounding_ms: int = 1
    currency: str = "USD"
    description: str = ""

    @classmethod
    def load(cls, source: str) -> PriceBook:
        """A built-in book by name (`aws`, `self-hosted`), else a TOML file's path."""
        if source in BUILT_IN:
            return _built_in(source)
        path = Path(source).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise PriceBookError(
                f"cannot read price book {source}: {exc.strerror or exc}; give a TOML file "
                f"or one of {', '.join(BUILT_IN)}"
            ) from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, origin: str = "price book") -> PriceBook:
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PriceBookError(f"{origin} is not valid TOML: {exc}") from None
        return _Reader(origin).book(document)

    # -- one invocation ---------------------------------------------------------------
    def tiers(self, architecture: str) -> tuple[Tier, ...]:
        """An architecture the book does not price costs what x86_64 does."""
        return self.duration.get(architecture) or self.duration["x86_64"]

    def rounded_ms(self, billed_ms: int) -> int:
        """Billed duration under this book's rounding (the REPORT line rounds to 1 ms)."""
        step = self.rounding_ms
        return -(-billed_ms // step) * step

    def gb_seconds(self, billed_ms: int, memory_mb: int) -> Decimal:
        # Exact: 1,024,000 is 2^13 x 5^3, so the quotient always terminates.
        return PRECISION.divide(self.rounded_ms(billed_ms) * memory_mb, MB_PER_GB * MS_PER_S)

    def list_price(
        self,
        billed_ms: int,
        memory_mb: int,
        architecture: str,
        storage_mb: int = 512,
        provisioned: bool = False,
    ) -> Decimal:
        """One invocation at the book's first tier, before any free tier (what a usage
        record says it cost); a bill prices the month as a whole instead."""
        return self.price_at(
            billed_ms, self.price_per_ms(memory_mb, architecture, storage_mb, provisioned)
        )

    def price_at(self, billed_ms: int, per_ms: Decimal) -> Decimal:
        """A request plus `billed_ms` (under the book's rounding) at `per_ms`."""
        duration = PRECISION.multiply(self.rounded_ms(billed_ms), per_ms)
        return PRECISION.add(self.per_request, duration)

    def price_per_ms(
        self, memory_mb: int, architecture: str, storage_mb: int = 512, provisioned: bool = False
    ) -> Decimal:
        """What one billed millisecond of such an invocation costs at the first tier (the
        log writer caches it per configuration: a record then costs one multiplication)."""
        with decimal.localcontext(PRECISION):
            rates = self.provisioned.get(architecture) if provisioned else None
            rate = (
                rates.per_gb_second_duration if rates else self.tiers(architecture)[0].per_gb_second
            )
            extra_mb = max(storage_mb - self.storage_included_mb, 0)
            mb_rate = memory_mb * rate + extra_mb * self.storage_per_gb_second
            return mb_rate / (MB_PER_GB * MS_PER_S)

    def duration_cost(self, architecture: str, start: Decimal, gb_seconds: Decimal) -> Decimal:
        """The price of `gb_seconds` that come after `start` GB-seconds of the month,
        across the tiers they fall in."""
        cost = Decimal(0)
        position, end = start, start + gb_seconds
        with decimal.localcontext(PRECISION):
            for tier in self.tiers(architecture):
                if position >= end:
                    break
                bound = end if tier.up_to_gb_seconds is None else min(end, tier.up_to_gb_seconds)
                if bound > position:
                    cost += (bound - position) * tier.per_gb_second
                    position = bound
        return cost


@functools.cache
def _built_in(name: str) -> PriceBook:
    text = (resources.files("lambdalite") / "pricebooks" / f"{name}.toml").read_text()
    return PriceBook.parse(text, f"built-in price book {name}")


class _Reader:
    """Reads a book's TOML document, refusing what it does not know (a typo in a price
    book would otherwise price at zero without a word)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def book(self, doc: dict[str, Any]) -> PriceBook:
        self._keys(
            doc,
            "the top level",
            {
                "name", "description", "currency", "rounding_ms", "requests", "free_tier",
                "duration", "hardware", "provisioned", "ephemeral_storage",
            },
        )  # fmt: skip
        name = self._text(doc, "name", "the top level", required=True)
        rounding = self._integer(doc.get("rounding_ms", 1), "rounding_ms")
        if rounding < 1:
            raise self._error("rounding_ms must be 1 or more (milliseconds)")
        requests = self._table(doc, "requests", {"per_million", "per_request"})
        free = self._table(doc, "free_tier", {"requests", "gb_seconds"})
        storage = self._table(doc, "ephemeral_storage", {"included_mb", "per_gb_second"})
        duration = self._duration(doc)
        if "x86_64" not in duration:
            raise self._error(
                "it prices no duration: add [duration.x86_64] tiers, or a [hardware] table"
            )
        return PriceBook(
            name=name,
            description=self._text(doc, "description", "the top level"),
            currency=self._text(doc, "currency", "the top level") or "USD",
            rounding_ms=rounding,
            per_request=self._per_request(requests),
            free_requests=self._integer(free.get("requests", 0), "[free_tier] requests"),
            free_gb_seconds=self._decimal(free.get("gb_seconds", 0), "[free_tier] gb_seconds"),
            duration=duration,
            provisioned=self._provisioned(doc),
            storage_included_mb=self._integer(
                storage.get("included_mb", 512), "[ephemeral_storage] included_mb"
            ),
            storage_per_gb_second=self._decimal(
                storage.get("per_gb_second", 0), "[ephemeral_storage] per_gb_second"
            ),
        )

    def _per_request(self, requests: dict[str, Any]) -> Decimal:
        if "per_million" in requests and "per_request" in requests:
            raise self._error("[requests] takes per_million or per_request, not both")
        if "per_request" in requests:
            return self._decimal(requests["per_request"], "[requests] per_request")
        per_million = self._decimal(requests.get("per_million", 0), "[requests] per_million")
        return per_million / 1_000_000

    def _duration(self, doc: dict[str, Any]) -> dict[str, tuple[Tier, ...]]:
        duration: dict[str, tuple[Tier, ...]] = {}
        if "hardware" in doc:
            rate = self._hardware_rate(self._table(doc, "hardware", _HARDWARE_KEYS))
            duration = dict.fromkeys(ARCHITECTURES, (Tier(rate),))
        tables = doc.get("duration", {})
        if not isinstance(tables, dict):
            raise self._error("[duration] must be a table of architectures")
        for architecture, table in tables.items():
            where = f"[duration.{architecture}]"
            if not isinstance(table, dict):
                raise self._error(f"{where} must be a table with a tiers list")
            self._keys(table, where, {"tiers", "per_gb_second"})
            if "per_gb_second" in table:  # one price, no tiers
                table = {"tiers": [{"per_gb_second": table["per_gb_second"]}]}
            duration[architecture] = self._tiers(table.get("tiers"), where)
        return duration

    def _tiers(self, raw: Any, where: str) -> tuple[Tier, ...]:
        if not isinstance(raw, list) or not raw:
            raise self._error(f'{where} needs tiers = [{{ per_gb_second = "..." }}, ...]')
        tiers: list[Tier] = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise self._error(f"{where} tier {index + 1} must be an inline table")
            self._keys(item, f"{where} tier {index + 1}", {"per_gb_second", "up_to_gb_seconds"})
            bound = item.get("up_to_gb_seconds")
            tiers.append(
                Tier(
                    self._decimal(item.get("per_gb_second"), f"{where} per_gb_second"),
                    None if bound is None else self._decimal(bound, f"{where} up_to_gb_seconds"),
                )
            )
        bounds = [t.up_to_gb_seconds for t in tiers]
        if bounds[-1] is not None or None in bounds[:-1]:
            raise self._error(f"{where}: every tier but the last needs up_to_gb_seconds")
        ends = [b for b in bounds if b is not None]
        if ends != sorted(set(ends)):
            raise self._error(f"{where}: up_to_gb_seconds must grow from tier to tier")
        return tuple(tiers)

    def _hardware_rate(self, hardware: dict[str, Any]) -> Decimal:
        """Per GB-second: the GB-hour, plus the core-hour of the cores a GB brings along
        (one core per `mb_per_core` MB)."""
        core_hour = self._decimal(hardware.get("per_core_hour", 0), "[hardware] per_core_hour")
        gb_hour = self._decimal(hardware.get("per_gb_hour", 0), "[hardware] per_gb_hour")
        mb_per_core = self._integer(hardware.get("mb_per_core", 1769), "[hardware] mb_per_core")
        if mb_per_core < 1:
            raise self._error("[hardware] mb_per_core must be 1 or more")
        with decimal.localcontext(PRECISION):
            rate = (gb_hour + core_hour * MB_PER_GB / mb_per_core) / 3600
        # A division by 3,600 and by mb_per_core never ends: keep 18 decimal places
        # (a millionth of a millionth of a cent per GB-second).
        return rate.quantize(HARDWARE_RATE_QUANTUM, context=PRECISION)

    def _provisioned(self, doc: dict[str, Any]) -> dict[str, ProvisionedRates]:
        tables = doc.get("provisioned", {})
        if not isinstance(tables, dict):
            raise self._error("[provisioned] must be a table of architectures")
        rates = {}
        keys = {"per_gb_second_configured", "per_gb_second_duration"}
        for architecture, table in tables.items():
            where = f"[provisioned.{architecture}]"
            if not isinstance(table, dict):
                raise self._error(f"{where} must be a table")
            self._keys(table, where, keys)
            configured, duration = (
                self._decimal(table.get(key, 0), f"{where} {key}")
                for key in ("per_gb_second_configured", "per_gb_second_duration")
            )
            rates[architecture] = ProvisionedRates(configured, duration)
        return rates

    # -- values -------------------------------------------------------------------------
    def _table(self, doc: dict[str, Any], name: str, keys: set[str]) -> dict[str, Any]:
        table = doc.get(name, {})
        if not isinstance(table, dict):
            raise self._error(f"[{name}] must be a table")
        self._keys(table, f"[{name}]", keys)
        return table

    def _keys(self, table: dict[str, Any], where: str, known: set[str]) -> None:
        unknown = sorted(set(table) - known)
        if unknown:
            raise self._error(
                f"unknown key {unknown[0]!r} in {where} (known: {', '.join(sorted(known))})"
            )

    def _text(self, doc: dict[str, Any], key: str, where: str, required: bool = False) -> str:
        value = doc.get(key, "")
        if not isinstance(value, str) or (required and not value):
            raise self._error(f"{key} in {where} must be a non-empty string")
        return value

    def _integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._error(f"{where} must be a whole number, 0 or more")
        return value

    def _decimal(self, value: Any, where: str) -> Decimal:
        if isinstance(value, float):
            raise self._error(
                f'{where}: write prices as strings ("{value}"), so they stay exact decimals'
            )
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self._error(f'{where} must be a number in a string, e.g. "0.0000166667"')
        try:
            number = Decimal(value)
        except decimal.InvalidOperation:
            raise self._error(f"{where}: {value!r} is not a number") from None
        if not number.is_finite() or number < 0:
            raise self._error(f"{where} must be a finite number, 0 or more")
        return number

    def _error(self, message: str) -> PriceBookError:
        return PriceBookError(f"{self.origin}: {message}")


_HARDWARE_KEYS = {"per_core_hour", "per_gb_hour", "mb_per_core"}
