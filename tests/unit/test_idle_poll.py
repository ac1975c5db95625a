"""IdlePoll sets the haltpoll window only when asked, and puts the old value back."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalite.idle_poll import IdlePoll
from lambdalite.settings import Settings


@pytest.fixture
def sysfs(tmp_path: Path) -> tuple[Path, Path]:
    parameter, driver = tmp_path / "guest_halt_poll_ns", tmp_path / "current_driver"
    parameter.write_text("0\n")
    driver.write_text("haltpoll\n")
    return parameter, driver


def test_apply_sets_the_window_and_restore_puts_the_old_one_back(sysfs: tuple[Path, Path]) -> None:
    parameter, driver = sysfs
    poll = IdlePoll(parameter, driver)
    note = poll.apply(200)
    assert parameter.read_text() == "200000"
    assert "200 µs" in note and "was 0" in note
    assert poll.describe() == {"halt_poll_ns": 200000, "set_by_lambdalite": True}
    poll.apply(500)  # a second apply keeps the value found first for the restore
    poll.restore()
    assert parameter.read_text() == "0"
    assert poll.describe() == {"halt_poll_ns": 0, "set_by_lambdalite": False}


def test_another_cpuidle_driver_is_left_alone(sysfs: tuple[Path, Path]) -> None:
    parameter, driver = sysfs
    driver.write_text("intel_idle\n")
    poll = IdlePoll(parameter, driver)
    assert "not applied" in poll.apply(200)
    assert parameter.read_text() == "0\n"
    assert poll.describe()["halt_poll_ns"] is None
    poll.restore()
    assert parameter.read_text() == "0\n"


def test_a_parameter_it_cannot_write_is_reported_not_raised(sysfs: tuple[Path, Path]) -> None:
    parameter, driver = sysfs
    poll = IdlePoll(parameter.parent / "missing" / "guest_halt_poll_ns", driver)
    assert "not applied" in poll.apply(200)


def test_nothing_is_set_unless_the_operator_asks() -> None:
    assert Settings.from_env({}).idle_poll_us is None
    assert Settings.from_env({"LAMBDALITE_IDLE_POLL_US": "200"}).idle_poll_us == 200
