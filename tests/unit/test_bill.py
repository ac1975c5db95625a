"""Bills: AWS's published example to the cent, free tier per account per month, tiers,
provisioned concurrency, /tmp, and groups that add up to the month."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal

from lambdalite.metering.bill import GroupBy, compute, month_start_ms
from lambdalite.metering.prices import PriceBook
from lambdalite.metering.usage_store import UsageSums

D = Decimal
CENT = D("0.01")
A, B = "111111111111", "222222222222"
# The AWS pricing page's Example 1 states its compute price rounded: $0.00001667 per GB-s.
PAGE_BOOK = PriceBook.parse(
    """
name = "aws pricing page, example 1"
[requests]
per_million = "0.20"
[free_tier]
requests = 1_000_000
gb_seconds = 400_000
[duration.x86_64]
per_gb_second = "0.00001667"
"""
)


def day(iso: str) -> int:
    return (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days


def usage(
    when: str,
    requests: int,
    billed_ms: int,
    memory_mb: int,
    *,
    account: str = A,
    function: str = "f",
    architecture: str = "x86_64",
    provisioned: bool = False,
    throttled: int = 0,
    extra_storage_mb: int = 0,
) -> UsageSums:
    """`requests` invocations of `billed_ms` each, summed as the store sums them."""
    total_ms = requests * billed_ms
    return UsageSums(
        account,
        day(when),
        function,
        architecture,
        provisioned,
        requests,
        throttled,
        total_ms,
        total_ms * memory_mb,
        total_ms * extra_storage_mb,
    )


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


def test_aws_pricing_page_example_1_to_the_cent() -> None:
    """512 MB, 3 million invocations in a month, 1 s each: $18.34 + $0.40 = $18.74."""
    month = [usage(f"2026-11-{d:02}", 100_000, 1000, 512) for d in range(1, 31)]
    bill = compute(PAGE_BOOK, GroupBy.FUNCTION, month)
    total = bill.total
    assert total.requests == 3_000_000
    assert total.gb_seconds == D(1_500_000)
    assert total.free_gb_seconds == D(400_000)
    assert total.free_requests == 1_000_000
    assert total.duration_cost == D("18.337")  # 1,100,000 GB-s x $0.00001667
    assert total.request_cost == D("0.4")  # 2M x $0.20/M
    assert cents(total.duration_cost) + cents(total.request_cost) == D("18.74")
    assert cents(total.cost) == D("18.74")


def test_the_same_month_at_todays_rate() -> None:
    month = [usage("2026-11-01", 3_000_000, 1000, 512)]
    total = compute(PriceBook.load("aws"), GroupBy.FUNCTION, month).total
    assert total.duration_cost == D("18.33337")  # 1,100,000 x $0.0000166667
    assert cents(total.cost) == D("18.73")


def test_free_tier_goes_to_the_first_days_of_the_month() -> None:
    month = [usage(f"2026-11-{d:02}", 100_000, 1000, 512) for d in range(1, 31)]
    bill = compute(PAGE_BOOK, GroupBy.DAY, month)
    days = {g.key["Day"]: g.line for g in bill.groups}
    # 50,000 GB-s a day: 400,000 free cover 8 days; 1M free requests cover 10.
    assert days["2026-11-08"].duration_cost == 0
    assert days["2026-11-09"].duration_cost == D(50_000) * D("0.00001667")
    assert days["2026-11-10"].request_cost == 0
    assert days["2026-11-11"].request_cost == D("0.02")
    assert sum((g.line.cost for g in bill.groups), D(0)) == bill.total.cost


def test_free_tier_is_per_account_and_per_calendar_month() -> None:
    rows = [
        usage("2026-10-31", 1_000_000, 800, 1024, account=A),
        usage("2026-11-01", 1_000_000, 800, 1024, account=A),
        usage("2026-11-01", 1_000_000, 800, 1024, account=B),
    ]
    bill = compute(PriceBook.load("aws"), GroupBy.ACCOUNT, rows)
    lines = {g.key["Account"]: g.line for g in bill.groups}
    # 800,000 GB-s and 1M requests a month: 400,000 GB-s billed each time.
    assert lines[A].free_requests == 2_000_000 and lines[B].free_requests == 1_000_000
    assert lines[A].duration_cost == 2 * D(400_000) * D("0.0000166667")
    assert lines[B].duration_cost == D(400_000) * D("0.0000166667")
    assert lines[A].request_cost == lines[B].request_cost == 0


def test_usage_before_since_used_up_the_free_tier_first() -> None:
    earlier = [usage("2026-11-02", 1_000_000, 1000, 1024)]  # 1M GB-s: all the free tier
    later = [usage("2026-11-20", 10, 1000, 1024)]
    since = day("2026-11-20") * 86_400_000
    assert month_start_ms(since) == day("2026-11-01") * 86_400_000
    bill = compute(PriceBook.load("aws"), GroupBy.FUNCTION, later, earlier, since)
    assert bill.total.free_requests == 0 and bill.total.free_gb_seconds == 0
    assert bill.total.cost == 10 * (D("0.0000002") + D("0.0000166667"))
    alone = compute(PriceBook.load("aws"), GroupBy.FUNCTION, later)
    assert alone.total.cost == 0


def test_a_month_past_6_billion_gb_seconds_pays_the_second_tier() -> None:
    book = PriceBook.load("aws")
    # 6,000,400,000 GB-s: the free 400,000, then exactly tier 1, then 1,000 GB-s of tier 2.
    rows = [usage("2026-11-01", 6_000_401, 1_000_000, 1024)]
    total = compute(book, GroupBy.FUNCTION, rows).total
    tier1 = (D(6_000_000_000) - D(400_000)) * D("0.0000166667")
    tier2 = D(401_000) * D("0.000015")
    assert total.duration_cost == tier1 + tier2


def test_arm64_shares_the_free_tier_and_has_its_own_tiers() -> None:
    rows = [
        usage("2026-11-01", 1, 400_000_000, 1024, function="x86"),  # all the free GB-s
        usage("2026-11-02", 1, 1000, 1024, function="arm", architecture="arm64"),
    ]
    bill = compute(PriceBook.load("aws"), GroupBy.FUNCTION, rows)
    lines = {g.key["Function"]: g.line for g in bill.groups}
    assert lines["x86"].duration_cost == 0
    assert lines["arm"].duration_cost == D("0.0000133334")


def test_provisioned_concurrency_has_its_own_rate_and_no_free_tier() -> None:
    rows = [usage("2026-11-01", 10, 1000, 1024, provisioned=True)]
    total = compute(PriceBook.load("aws"), GroupBy.FUNCTION, rows).total
    assert total.free_requests == 0 and total.free_gb_seconds == 0
    assert total.duration_cost == 10 * D("0.0000097222")
    assert total.request_cost == 10 * D("0.0000002")


def test_ephemeral_storage_past_512_mb_is_charged() -> None:
    rows = [usage("2026-11-01", 1, 1000, 128, extra_storage_mb=1024)]
    total = compute(PriceBook.load("aws"), GroupBy.FUNCTION, rows).total
    assert total.storage_cost == D("0.0000000309")  # 1 GB-s of /tmp
    assert total.duration_cost == 0  # within the free tier


def test_throttles_are_counted_not_billed() -> None:
    rows = [usage("2026-11-01", 0, 0, 128, throttled=7)]
    total = compute(PriceBook.load("aws"), GroupBy.FUNCTION, rows).total
    assert (total.requests, total.throttled, total.cost) == (0, 7, 0)


def test_groups_by_function_are_sorted_and_json_is_exact() -> None:
    rows = [
        usage("2026-11-01", 2, 3, 128, function="b"),
        usage("2026-11-01", 1, 1, 128, function="a"),
    ]
    bill = compute(PriceBook.load("self-hosted"), GroupBy.FUNCTION, rows)
    assert [g.key["Function"] for g in bill.groups] == ["a", "b"]
    document = bill.to_json()
    assert document["Groups"][0]["GbSeconds"] == "0.000125"
    assert document["Total"]["BilledMs"] == 7
    assert D(document["Total"]["Cost"]) == bill.total.cost
    assert "E" not in document["Total"]["Cost"]
