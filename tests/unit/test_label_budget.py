"""Bounded metric labels: the busiest recent functions are named, the rest fold."""

from __future__ import annotations

from lambdalite.metrics.label_budget import OTHER, Key, LabelBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_functions_past_the_capacity_fold_into_other_of_their_account() -> None:
    budget = LabelBudget(capacity=2, idle_s=60, clock=Clock())
    assert budget.labels("a", "f1") == ("a", "f1")
    assert budget.labels("a", "f2") == ("a", "f2")
    assert budget.labels("b", "f3") == ("b", OTHER)
    assert budget.labels("a", "f1") == ("a", "f1")  # still named


def test_an_idle_function_gives_its_slot_to_a_new_one() -> None:
    clock = Clock()
    evicted: list[Key] = []
    budget = LabelBudget(capacity=2, idle_s=60, clock=clock, on_evict=evicted.append)
    budget.labels("a", "old")
    clock.now = 30
    budget.labels("a", "busy")
    clock.now = 61
    budget.labels("a", "busy")
    assert budget.labels("a", "new") == ("a", "new")
    assert evicted == [("a", "old")]
    assert budget.named() == [("a", "busy"), ("a", "new")]


def test_capacity_zero_folds_everything() -> None:
    assert LabelBudget(capacity=0).labels("a", "f") == ("a", OTHER)
