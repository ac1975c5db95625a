"""A clock tests move by hand: services take `clock: Callable[[], float]`."""

from __future__ import annotations

import time


class ManualClock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
