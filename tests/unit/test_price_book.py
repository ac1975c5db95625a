"""Price books: the built-in AWS and self-hosted books, TOML files, exact arithmetic."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from lambdalite.metering.prices import PriceBook, PriceBookError

D = Decimal


def test_aws_book_is_the_public_us_east_1_price_list() -> None:
    book = PriceBook.load("aws")
    assert book.per_request == D("0.0000002")  # $0.20 per 1M
    assert (book.free_requests, book.free_gb_seconds) == (1_000_000, D(400_000))
    assert [(t.up_to_gb_seconds, t.per_gb_second) for t in book.tiers("x86_64")] == [
        (D(6_000_000_000), D("0.0000166667")),
        (D(15_000_000_000), D("0.000015")),
        (None, D("0.000013334")),
    ]
    assert book.tiers("arm64")[0].per_gb_second == D("0.0000133334")
    assert book.provisioned["x86_64"].per_gb_second_duration == D("0.0000097222")
    assert book.storage_per_gb_second == D("0.0000000309")
    assert book.rounding_ms == 1


def test_one_invocation_list_price_is_exact() -> None:
    book = PriceBook.load("aws")
    # 1 ms at 128 MB: 0.000125 GB-s; a request is $0.0000002.
    assert book.gb_seconds(1, 128) == D("0.000125")
    assert book.list_price(1, 128, "x86_64") == D("0.0000002") + D("0.000125") * D("0.0000166667")
    assert book.list_price(1000, 1024, "arm64") == D("0.0000002") + D("0.0000133334")
    # /tmp above the included 512 MB: 1,536 MB is 1 GB extra.
    assert book.list_price(1000, 1024, "x86_64", storage_mb=1536) == D("0.0000002") + D(
        "0.0000166667"
    ) + D("0.0000000309")
    # Provisioned concurrency has its own duration rate.
    assert book.list_price(1000, 1024, "x86_64", provisioned=True) == D("0.0000002") + D(
        "0.0000097222"
    )


def test_duration_crosses_tiers_at_their_bounds() -> None:
    book = PriceBook.load("aws")
    cost = book.duration_cost("x86_64", D(5_999_999_999), D(3))
    assert cost == D("0.0000166667") + 2 * D("0.000015")
    far = book.duration_cost("x86_64", D(20_000_000_000), D(1))
    assert far == D("0.000013334")


def test_rounding_of_a_book_applies_to_billed_duration() -> None:
    book = PriceBook.parse(
        'name = "old"\nrounding_ms = 100\n[duration.x86_64]\nper_gb_second = "0.00001667"\n'
    )
    assert book.rounded_ms(101) == 200
    assert book.rounded_ms(100) == 100
    assert book.gb_seconds(101, 1024) == D("0.2")


def test_self_hosted_book_prices_core_hours_and_gb_hours() -> None:
    book = PriceBook.load("self-hosted")
    rate = book.tiers("x86_64")[0].per_gb_second
    assert book.tiers("arm64")[0].per_gb_second == rate
    assert book.per_request == 0 and book.free_gb_seconds == 0
    # An hour at 1,769 MB holds one core and 1,769 MB for an hour.
    hour = book.list_price(3_600_000, 1769, "x86_64")
    expected = D("0.0316") + D("0.0042") * 1769 / 1024
    assert abs(hour - expected) < D("1e-12")


def test_a_book_file_is_read_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\ncurrency = "EUR"\n[requests]\nper_request = "0.000001"\n'
        '[hardware]\nper_core_hour = "0.036"\nper_gb_hour = "0"\nmb_per_core = 1024\n'
    )
    book = PriceBook.load(str(path))
    assert (book.name, book.currency, book.per_request) == ("mine", "EUR", D("0.000001"))
    assert book.tiers("x86_64")[0].per_gb_second == D("0.00001")  # 0.036 / 3600


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('name = "x"\n[duration.x86_64]\nper_gb_second = 0.0000166667\n', "write prices as"),
        ('name = "x"\n[requests]\nper_milion = "0.2"\n', "unknown key 'per_milion'"),
        ('name = "x"\n', "prices no duration"),
        (
            'name = "x"\n[duration.x86_64]\ntiers = [{ per_gb_second = "1" }, '
            '{ per_gb_second = "2" }]\n',
            "every tier but the last",
        ),
        (
            'name = "x"\n[duration.x86_64]\ntiers = [{ up_to_gb_seconds = 10, '
            'per_gb_second = "1" }, { up_to_gb_seconds = 5, per_gb_second = "2" }, '
            '{ per_gb_second = "3" }]\n',
            "must grow",
        ),
        ("name = \n", "not valid TOML"),
        ('name = "x"\n[duration.x86_64]\nper_gb_second = "-1"\n', "0 or more"),
    ],
)
def test_a_wrong_book_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(PriceBookError, match=says):
        PriceBook.parse(text, "mine.toml")


def test_a_missing_file_names_the_built_in_books(tmp_path: Path) -> None:
    with pytest.raises(PriceBookError, match="aws, self-hosted"):
        PriceBook.load(str(tmp_path / "nope.toml"))
