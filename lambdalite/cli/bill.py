"""`lambdalite bill`: what the functions' usage costs, from the server's usage records.

A thin client of POST /_lambdalite/bill (SigV4, like every call of the CLI): the server
prices; a price book FILE is read here and sent along, so it may live on the client's
machine.
"""

from __future__ import annotations

import datetime
import json
import re
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from lambdalite.cli.client import target
from lambdalite.metering.prices import BUILT_IN

_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
CENT = Decimal("0.01")


@click.command("bill")
@click.option(
    "--since",
    default=None,
    help="Start: 2026-11-01, 2026-11-01T12:00:00Z or 7d (default: this month).",
)
@click.option(
    "--until", default=None, help="End, excluded: a date, a time or 1d ago (default: now)."
)
@click.option(
    "--by",
    type=click.Choice(["function", "account", "day"]),
    default="function",
    show_default=True,
    help="One line per function, account or day (UTC).",
)
@click.option(
    "--price-book",
    default=None,
    help=f"{' or '.join(BUILT_IN)}, or a TOML file (default: the server's book).",
)
@click.option("--account", default=None, help="One account's bill (root only; default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print the bill as JSON (exact decimals).")
def bill(
    since: str | None,
    until: str | None,
    by: str,
    price_book: str | None,
    account: str | None,
    as_json: bool,
) -> None:
    """Requests, GB-seconds, billed duration and cost, with the free tier applied."""
    document: dict[str, Any] = {"By": by}
    now = datetime.datetime.now(datetime.UTC)
    if since:
        document["Since"] = moment(since, now)
    if until:
        document["Until"] = moment(until, now)
    if account:
        document["Account"] = account
    if price_book in BUILT_IN:
        document["PriceBook"] = price_book
    elif price_book:
        try:
            document["PriceBookToml"] = Path(price_book).expanduser().read_text()
        except OSError as exc:
            _fail(
                f"cannot read price book {price_book}: {exc.strerror or exc} "
                f"(give a TOML file, or {' or '.join(BUILT_IN)})"
            )
    server = target()
    try:
        response = server.signed_post("/_lambdalite/bill", document)
    except httpx.TransportError:
        _fail(
            f"cannot reach lambdalite at {server.endpoint}: is `lambdalite serve` running? "
            "(set LAMBDALITE_ENDPOINT to use another address)"
        )
    try:
        body = response.json()
    except ValueError:
        _fail(f"unexpected answer from {server.endpoint} (HTTP {response.status_code})")
    if response.status_code != 200:
        kind = response.headers.get("x-amzn-ErrorType", str(response.status_code))
        _fail(f"{kind}: {body.get('message') or body.get('Message')}")
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    _print(body)


def moment(text: str, now: datetime.datetime) -> str:
    """An ISO 8601 moment for the server: `7d` and the like count back from now."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative is None:
        return text
    back = datetime.timedelta(seconds=int(relative[1]) * _UNITS_S[relative[2]])
    return (now - back).isoformat(timespec="seconds").replace("+00:00", "Z")


def money(amount: str, currency: str) -> str:
    """Cents for amounts of a cent or more; the first digits that matter below that."""
    value = Decimal(amount)
    if value == 0 or value >= CENT:
        return f"{value.quantize(CENT, ROUND_HALF_UP):,} {currency}"
    # Three significant digits: 0.000000722, not 0.000000721615649142696 (--json has all).
    shown = value.quantize(Decimal(10) ** (value.adjusted() - 2), ROUND_HALF_UP)
    return f"{format(shown, 'f')} {currency}"


def _print(body: dict[str, Any]) -> None:
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
    currency = body["Currency"]
    since = body.get("Since") or "the first record"
    console.print(
        f"price book {body['PriceBook']} ({currency}), {since} to {body['Until']}, by {body['By']}",
        markup=False,
        highlight=False,
    )
    groups = body["Groups"]
    keys = list(groups[0]) if groups else []
    key_names = [k for k in ("Account", "Function", "Day") if k in keys] or [body["By"]]
    table = Table(
        *(name.lower() for name in key_names),
        "requests",
        "throttled",
        "GB-s",
        "billed ms",
        "free requests",
        "free GB-s",
        "cost",
    )
    for group in [*groups, {**body["Total"], key_names[0]: "total"}]:
        table.add_row(
            *(str(group.get(name, "")) for name in key_names),
            f"{group['Requests']:,}",
            f"{group['Throttled']:,}",
            group["GbSeconds"],
            f"{group['BilledMs']:,}",
            f"{group['FreeRequests']:,}",
            group["FreeGbSeconds"],
            money(group["Cost"], currency),
        )
    console.print(table if groups else "no usage in this period")


def _fail(message: str) -> Any:
    Console(stderr=True, soft_wrap=True).print(f"error: {message}", markup=False)
    sys.exit(1)
