"""Flood caps: a sandbox that prints without pause keeps its share, and says what it lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalite.logs.lines import end_line, report_line, start_line
from lambdalite.logs.writer import LogWriter
from lambdalite.settings import LogLimits, Settings
from lambdalite.store.database import Database
from lambdalite.store.logs import LogStore

ACCOUNT, GROUP = "111111111111", "/aws/lambda/flood"
LIMITS = LogLimits(bytes_per_second=1_000, burst_bytes=10_000)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    db = Database(f"sqlite:///{tmp_path / 'logs.db'}")
    db.migrate()
    return LogStore(db, LIMITS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def invocation(request_id: str, output: str, init: str = "") -> bytes:
    """An invocation's log as the Invoker hands it over."""
    report = report_line(request_id, 1.0, 128, 40, None)
    return (
        init + start_line(request_id, "$LATEST") + output + end_line(request_id) + report
    ).encode()


async def stored(writer: LogWriter, store: LogStore, stream: str = "s") -> list[str]:
    await writer.run_once()
    return [e.message for e in store.events(ACCOUNT, GROUP, stream)]


async def test_output_within_the_caps_is_stored_whole(store: LogStore, clock: Clock) -> None:
    writer = LogWriter(store, clock_ms=clock)
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", "x" * 99 + "\n" + "y" * 99 + "\n"))
    lines = await stored(writer, store)
    assert lines[1:3] == ["x" * 99 + "\n", "y" * 99 + "\n"]
    assert not any("[lambdalite]" in line for line in lines)


async def test_a_flood_keeps_the_first_lines_and_a_marker_with_the_loss(
    store: LogStore, clock: Clock
) -> None:
    writer = LogWriter(store, clock_ms=clock)
    output = "".join(f"{i:099d}\n" for i in range(300))  # 30,000 bytes against a 10,000 burst
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", output))
    lines = await stored(writer, store)
    assert lines[0] == "START RequestId: r1 Version: $LATEST\n"
    assert lines[1:101] == [f"{i:099d}\n" for i in range(100)], "the first 10,000 bytes, in order"
    assert lines[101] == (
        "[lambdalite] log flood: 200 lines (20000 bytes) of output dropped; a sandbox may "
        "log 10000 bytes at once, then 1000 bytes/s\n"
    )
    assert lines[102:] == ["END RequestId: r1\n", report_line("r1", 1.0, 128, 40, None)]
    assert (writer.caps.dropped_lines, writer.caps.dropped_bytes) == (200, 20_000)


async def test_a_sandbox_over_its_cap_still_logs_start_end_and_report(
    store: LogStore, clock: Clock
) -> None:
    writer = LogWriter(store, clock_ms=clock)
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", "x" * 9_999 + "\n"))  # all of it
    writer.submit(ACCOUNT, GROUP, "s", invocation("r2", "quiet\n"))
    lines = await stored(writer, store)
    assert [line.split(":")[0] for line in lines] == [
        "START RequestId",
        "x" * 9_999 + "\n",
        "END RequestId",
        "REPORT RequestId",
        "START RequestId",
        "[lambdalite] log flood",
        "END RequestId",
        "REPORT RequestId",
    ]


async def test_the_rate_refills_the_allowance(store: LogStore, clock: Clock) -> None:
    writer = LogWriter(store, clock_ms=clock)
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", "x" * 9_999 + "\n"))
    clock.ms += 500  # 500 bytes come back
    writer.submit(ACCOUNT, GROUP, "s", invocation("r2", "a" * 499 + "\n" + "b" * 10 + "\n"))
    clock.ms += 3_000
    writer.submit(ACCOUNT, GROUP, "s", invocation("r3", "c" * 2_999 + "\n"))
    lines = await stored(writer, store)
    assert "a" * 499 + "\n" in lines
    assert "b" * 10 + "\n" not in lines
    assert "c" * 2_999 + "\n" in lines


async def test_one_sandbox_flooding_leaves_the_others_alone(store: LogStore, clock: Clock) -> None:
    writer = LogWriter(store, clock_ms=clock)
    writer.submit(ACCOUNT, GROUP, "noisy", invocation("r1", "x" * 50_000 + "\n"))
    writer.submit(ACCOUNT, GROUP, "quiet", invocation("r2", "hello\n"))
    assert "hello\n" in await stored(writer, store, "quiet")


async def test_printed_platform_lines_are_charged_like_any_output(
    store: LogStore, clock: Clock
) -> None:
    writer = LogWriter(store, clock_ms=clock)
    fake = "".join(f"START RequestId: r1 Version: {'9' * 80}\n" for _ in range(400))
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", fake, init="END RequestId: r1\n"))
    lines = await stored(writer, store)
    assert len(lines) < 150
    assert lines[-2:] == ["END RequestId: r1\n", report_line("r1", 1.0, 128, 40, None)]
    assert any(line.startswith("[lambdalite] log flood:") for line in lines)


async def test_zero_rate_turns_the_caps_off(store: LogStore, clock: Clock) -> None:
    writer = LogWriter(store, clock_ms=clock, limits=LogLimits(bytes_per_second=0))
    writer.submit(ACCOUNT, GROUP, "s", invocation("r1", "x" * 100_000 + "\n"))
    assert "x" * 100_000 + "\n" in await stored(writer, store)


async def test_idle_sandboxes_are_forgotten(store: LogStore, clock: Clock) -> None:
    writer = LogWriter(store, clock_ms=clock)
    for i in range(50):
        writer.submit(ACCOUNT, GROUP, f"s{i}", invocation(f"r{i}", "x" * 5_000 + "\n"))
    assert len(writer.caps) == 50
    clock.ms += 60_000  # long enough to refill every bucket
    await writer.run_once()
    assert len(writer.caps) == 0


def test_caps_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"LAMBDALITE_LOG_BYTES_PER_SECOND": "2048", "LAMBDALITE_LOG_BURST_BYTES": "65536"}
    )
    assert settings.log_limits == LogLimits(bytes_per_second=2048, burst_bytes=65536)
    assert Settings.from_env({}).log_limits == LogLimits()
