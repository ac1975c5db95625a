"""Memory of a running server's sandboxes and zygotes, read from /proc from outside.

A sandbox is its init and its runtime: a session of their own below the server, with
the runtime in a sandbox cgroup; zygotes and unused spares are counted apart.
PSS (proportional set size) charges each shared page to its sharers in equal parts, so
pages a sandbox still shares with its zygote count only fractionally: the figure to sum.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Footprint:
    sandbox_pss_kib: list[int]  # one per sandbox
    other_pss_kib: int  # zygotes and spares
    other_processes: int
    sink_pss_kib: int = 0  # the log sink process (lambdalite/logs/sink.py)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    children = _children_map()
    found: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def _memory_cgroup(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    unified = None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
        if controllers == "":
            unified = path
    return unified


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _session(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def footprint(server_pid: int) -> Footprint:
    """Sandboxes are told apart by session: each one's init leads a session of its own
    (its runtime joins it), the zygotes stay in the server's. A session with a process in
    a sandbox cgroup is a sandbox in use; one without is a spare forked ahead of need."""
    own_cgroup = _memory_cgroup(server_pid)
    own_session = _session(server_pid)
    sessions: dict[int, list[int]] = defaultdict(list)
    other = 0
    others = 0
    sink = 0
    for pid in descendants(server_pid):
        if _is_log_sink(pid):
            sink += pss_kib(pid)
            continue
        session = _session(pid)
        if session is None or session == own_session:
            other += pss_kib(pid)
            others += 1
        else:
            sessions[session].append(pid)
    sandboxes = []
    for pids in sessions.values():
        pss = sum(pss_kib(p) for p in pids)
        if any(_memory_cgroup(p) != own_cgroup for p in pids):
            sandboxes.append(pss)
        else:
            other += pss
            others += len(pids)
    return Footprint(sorted(sandboxes), other, others, sink)


def _is_log_sink(pid: int) -> bool:
    try:
        return b"lambdalite.logs.sink" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def mem_available_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
