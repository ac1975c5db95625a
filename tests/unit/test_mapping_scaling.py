"""mappings/scaling.py: SQS pollers scale as AWS's do, within the cap."""

from __future__ import annotations

from lambdalite.mappings.scaling import START, ConcurrencyScaler


def test_starts_at_five_and_never_passes_the_cap() -> None:
    scaler = ConcurrencyScaler()
    assert scaler.slots(cap=1000) == START == 5
    assert scaler.slots(cap=2) == 2


def test_a_backlog_adds_up_to_300_batches_a_minute() -> None:
    scaler = ConcurrencyScaler()
    scaler.observe(backlog=True, throttled=False, cap=1000, now=0.0)
    assert scaler.slots(1000) == 5, "growth starts counting at the first busy round"
    scaler.observe(backlog=True, throttled=False, cap=1000, now=1.0)
    assert scaler.slots(1000) == 10
    scaler.observe(backlog=True, throttled=False, cap=1000, now=61.0)
    assert scaler.slots(1000) == 310
    scaler.observe(backlog=True, throttled=False, cap=50, now=200.0)
    assert scaler.slots(50) == 50


def test_an_idle_round_or_a_throttle_scales_back_to_five() -> None:
    for idle, throttled in ((False, False), (True, True)):
        scaler = ConcurrencyScaler()
        scaler.observe(backlog=True, throttled=False, cap=1000, now=0.0)
        scaler.observe(backlog=True, throttled=False, cap=1000, now=10.0)
        assert scaler.slots(1000) == 55
        scaler.observe(backlog=idle, throttled=throttled, cap=1000, now=11.0)
        assert scaler.slots(1000) == 5
