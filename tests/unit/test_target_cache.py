"""TargetCache: entries expire after the TTL and go at once when their account changes."""

from __future__ import annotations

from lambdalite.invoke.targets import TargetCache


def test_entries_expire_after_the_ttl() -> None:
    now = [100.0]
    cache: TargetCache[str] = TargetCache(ttl_s=1.0, clock=lambda: now[0])
    cache.put("a", ("f", None), "v1")
    assert cache.get("a", ("f", None)) == "v1"
    now[0] += 1.5
    assert cache.get("a", ("f", None)) is None
    assert len(cache) == 0


def test_forget_drops_one_account_only() -> None:
    cache: TargetCache[str] = TargetCache()
    cache.put("a", ("f", "1"), "a-f-1")
    cache.put("a", ("g", None), "a-g")
    cache.put("b", ("f", "1"), "b-f-1")
    cache.forget("a")
    assert cache.get("a", ("f", "1")) is None and cache.get("a", ("g", None)) is None
    assert cache.get("b", ("f", "1")) == "b-f-1"
