"""Each sandbox's cgroup: its memory, pids and CPU limits, OOM accounting and group kill.

Two layouts, detected at start (`CgroupTree.detect`):

- **v2** (`/sys/fs/cgroup/cgroup.controllers` exists): one directory per sandbox under
  `<root>/<parent>/`, with `memory.max`, `memory.swap.max`, `pids.max`, `cpu.weight`;
  OOM kills counted in `memory.events`, peak in `memory.peak`, `cgroup.kill` kills all.
- **v1** (controllers mounted per hierarchy, as on this project's VMs): one directory per
  controller (`memory`, `pids`, `cpu`), OOM kills in `memory.oom_control`, peak in
  `memory.max_usage_in_bytes`. If a controller-less v2 hierarchy is also mounted
  (`/sys/fs/cgroup/unified`), the sandbox joins it too, only for its atomic `cgroup.kill`
  (platform-facts, "cgroups here": a fork bomb outruns killing pid by pid).

The sandbox joins by writing "0" to the `cgroup.procs` fds the platform hands it, before
it touches any memory; the platform never moves a running process.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from lambdalite.sandbox.spec import MB_PER_VCPU

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_key(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except OSError:
        pass
    return 0


@dataclass
class Cgroup:
    """The cgroup directories of one sandbox (one per v1 controller, or one in v2)."""

    name: str
    dirs: list[Path]
    memory_dir: Path
    v2: bool
    kill_dir: Path | None  # a v2 directory whose cgroup.kill kills the whole group
    _peak_fd: int | None = field(default=None, repr=False)

    def open_procs(self) -> list[int]:
        """Write-only fds of every `cgroup.procs`, to hand to the sandbox."""
        return [os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in self.dirs]

    def oom_kills(self) -> int:
        if self.v2:
            return _read_key(self.memory_dir / "memory.events", "oom_kill")
        return _read_key(self.memory_dir / "memory.oom_control", "oom_kill")

    def peak_memory_bytes(self) -> int:
        # Read after every invocation (REPORT's Max Memory Used): one pread on a kept fd
        # costs a few µs, opening the file each time ~60 µs on this VM.
        if self._peak_fd is None:
            name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
            try:
                self._peak_fd = os.open(self.memory_dir / name, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return 0
        try:
            return int(os.pread(self._peak_fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def close(self) -> None:
        if self._peak_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._peak_fd)
            self._peak_fd = None

    def pids(self) -> list[int]:
        with contextlib.suppress(OSError):
            return [int(p) for p in (self.dirs[0] / "cgroup.procs").read_text().split()]
        return []

    def kill(self) -> None:
        """Kill every process of the group; safe to call on an empty or removed group."""
        if self.kill_dir is not None:
            with contextlib.suppress(OSError):
                _write(self.kill_dir / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> bool:
        """Remove the directories; False while processes (or zombies) remain."""
        self.close()
        done = True
        for d in [*self.dirs, *([self.kill_dir] if self.kill_dir else [])]:
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


class CgroupTree:
    """Creates sandbox cgroups under one parent directory (one per platform process)."""

    def __init__(self, root: Path, parent: str, v2: bool, unified: Path | None) -> None:
        self.root = root
        self.parent = parent
        self.v2 = v2
        self.unified = unified

    @classmethod
    def detect(cls, parent: str = "lambdalite", root: Path = CGROUP_ROOT) -> CgroupTree | None:
        """The tree available here, or None (no root, no controllers: rlimits only)."""
        if os.geteuid() != 0:
            return None
        if (root / "cgroup.controllers").exists():
            available = set((root / "cgroup.controllers").read_text().split())
            if not {"memory", "pids"} <= available:
                return None
            tree = cls(root, parent, True, None)
        elif (root / "memory" / "memory.limit_in_bytes").exists() and (root / "pids").is_dir():
            unified = root / "unified"
            has_kill = (unified / "cgroup.procs").exists()
            tree = cls(root, parent, False, unified if has_kill else None)
        else:
            return None
        tree._prepare()
        return tree

    def _v1_dirs(self) -> list[Path]:
        names = ["memory", "pids"] + (["cpu"] if (self.root / "cpu").is_dir() else [])
        return [self.root / name / self.parent for name in names]

    def _prepare(self) -> None:
        if self.v2:
            base = self.root / self.parent
            base.mkdir(exist_ok=True)
            wanted = {"memory", "pids", "cpu"} & set(
                (self.root / "cgroup.controllers").read_text().split()
            )
            for d in (self.root, base):
                with contextlib.suppress(OSError):
                    _write(d / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
            return
        for d in self._v1_dirs():
            d.mkdir(exist_ok=True)
        if self.unified is not None:
            (self.unified / self.parent).mkdir(exist_ok=True)

    def create(self, name: str, memory_mb: int, pids_max: int) -> Cgroup:
        # Named after the platform process that owns it: a server that was killed leaves
        # its groups behind, and the next one to start removes them (`sweep`).
        name = f"{os.getpid()}-{name}"
        limit = memory_mb * 1024 * 1024
        if self.v2:
            d = self.root / self.parent / name
            d.mkdir()
            _write(d / "memory.max", str(limit))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(pids_max))
            with contextlib.suppress(OSError):
                _write(d / "cpu.weight", str(max(1, min(10000, memory_mb * 100 // MB_PER_VCPU))))
            return Cgroup(name, [d], d, True, d)
        dirs = [d / name for d in self._v1_dirs()]
        for d in dirs:
            d.mkdir()
        memory, pids = dirs[0], dirs[1]
        _write(memory / "memory.limit_in_bytes", str(limit))
        with contextlib.suppress(OSError):
            _write(memory / "memory.memsw.limit_in_bytes", str(limit))
        _write(pids / "pids.max", str(pids_max))
        if len(dirs) > 2:
            _write(dirs[2] / "cpu.shares", str(max(2, memory_mb * 1024 // MB_PER_VCPU)))
        kill_dir = None
        if self.unified is not None:
            kill_dir = self.unified / self.parent / name
            kill_dir.mkdir()
            dirs.append(kill_dir)
        return Cgroup(name, dirs, memory, False, kill_dir)

    def sweep(self) -> int:
        """Remove the groups of platform processes that no longer exist (killed, so they
        could not clean up) once they hold no process; returns how many went. Groups of
        a live server, even empty spares, are left alone."""
        listing = self.root / self.parent if self.v2 else self._v1_dirs()[0]
        removed = 0
        try:
            names = [entry.name for entry in listing.iterdir() if entry.is_dir()]
        except OSError:
            return 0
        for name in names:
            owner, dash, _ = name.partition("-")
            if not dash or not owner.isdigit() or _alive(int(owner)):
                continue
            parents = [self.root / self.parent] if self.v2 else self._v1_dirs()
            if self.unified is not None and not self.v2:
                parents.append(self.unified / self.parent)
            for parent in parents:
                with contextlib.suppress(OSError):  # missing, or a process still in it
                    (parent / name).rmdir()
            removed += 1
        return removed

    def remove_parent(self) -> None:
        """Remove the (empty) parent directories; used when the platform shuts down."""
        parents = [self.root / self.parent] if self.v2 else self._v1_dirs()
        if self.unified is not None:
            parents.append(self.unified / self.parent)
        for d in parents:
            with contextlib.suppress(OSError):
                d.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
