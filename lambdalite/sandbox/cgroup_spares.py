"""Sandbox cgroups made ahead of need, so that a cold start only takes one.

Making one costs ~0.35 ms here (a directory per v1 hierarchy, then its limits), a
tenth of a cold start. The limits depend on the function (memory, pids), so one spare
is kept per pair of limits in use; taking it schedules the next one on the event loop,
which runs it while the new sandbox initialises and the platform only waits. A group is
used once, like a network namespace: a destroyed sandbox's group is removed.
"""

from __future__ import annotations

import asyncio
import secrets

from lambdalite.sandbox.cgroups import Cgroup, CgroupTree

# Distinct limits with a spare each; the least recently used pair loses its spare.
MAX_LIMITS = 32

Limits = tuple[int, int]  # memory MB, pids max


class CgroupSpares:
    def __init__(self, tree: CgroupTree) -> None:
        self.tree = tree
        self._ready: dict[Limits, Cgroup] = {}
        self._closed = False
        self.leftovers: list[Cgroup] = []  # spares that could not be removed

    def take(self, memory_mb: int, pids_max: int) -> Cgroup:
        """A new, empty group with these limits; its name is unique."""
        limits = (memory_mb, pids_max)
        cgroup = self._ready.pop(limits, None)
        if cgroup is None:
            cgroup = self._make(limits)
        asyncio.get_running_loop().call_soon(self._refill, limits)
        return cgroup

    def _make(self, limits: Limits) -> Cgroup:
        return self.tree.create(secrets.token_hex(8), *limits)

    def _refill(self, limits: Limits) -> None:
        if self._closed or limits in self._ready:
            return
        try:
            self._ready[limits] = self._make(limits)
        except OSError:
            return  # the next take makes its own and says why
        while len(self._ready) > MAX_LIMITS:
            self._discard(next(iter(self._ready)))

    def _discard(self, limits: Limits) -> None:
        cgroup = self._ready.pop(limits)
        if not cgroup.remove():
            self.leftovers.append(cgroup)

    def close(self) -> None:
        """Remove every spare; those that cannot be removed stay in `leftovers`."""
        self._closed = True
        for limits in list(self._ready):
            self._discard(limits)
