"""The seam between a `Sandbox` and the machinery that isolates and starts its process.

A `Backend` starts `SandboxProcess`es; the `Sandbox` (sandbox.py) drives one through its
life: it speaks the Runtime API with it, enforces the deadline, and classifies how it
ended. Only `zygote_backend.ZygoteBackend` exists today (bubblewrap, namespaces and
cgroups, forked from a zygote tree); a Ray-node backend later implements the same two
Protocols, and tests fake them, type-checked against them.

Contracts (after OpenLambda's `sandbox/api.go`: the caller may rely on these, an
implementation must keep them):

- A `SandboxProcess` runs the code of exactly one `SandboxSpec`; nothing of it is shared
  with another spec's sandbox except read-only system files.
- Limits are enforced from outside: memory, pids and /tmp size by the kernel, time by
  the `Sandbox` calling `kill()`. A process the function leaves behind belongs to the
  sandbox and dies with it.
- `kill()` never raises and never blocks; after it, `exited` resolves soon.
- `destroy()` is idempotent, never raises, and leaves nothing behind: processes, cgroups,
  namespaces, fds. Any error while using a sandbox means the caller destroys it; there
  is no repair.
- `exited` resolves with the runtime process's wait status (`os.waitpid` style) once it
  is gone, whatever the reason, including the backend's own death.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Protocol

from lambdalite.sandbox.spec import SandboxSpec


class BackendError(Exception):
    """The backend could not start or run a sandbox (a platform failure, not a function
    error): the sandbox, if any, is destroyed and the Invoker reports a service error."""


class SandboxProcess(Protocol):
    """One started, isolated runtime process and everything it forks."""

    @property
    def id(self) -> str:
        """Unique among live sandboxes; names its cgroup."""
        ...

    @property
    def channel(self) -> socket.socket | None:
        """The platform's end of the private runtime channel (python runtimes), else None."""
        ...

    @property
    def runtime_api(self) -> socket.socket | None:
        """A listening socket inside the sandbox's network namespace at 127.0.0.1:9001,
        on which the platform serves the Runtime API (provided runtimes), else None."""
        ...

    @property
    def log_fd(self) -> int:
        """Non-blocking read end of the sandbox's stdout and stderr."""
        ...

    @property
    def exited(self) -> asyncio.Future[int]:
        """The wait status of the runtime process, once it is gone."""
        ...

    def oom_kills(self) -> int:
        """How many processes of this sandbox the kernel killed for memory, so far."""
        ...

    def peak_memory_bytes(self) -> int:
        """The most memory the sandbox has used so far (0 when unknown)."""
        ...

    def kill(self) -> None:
        """SIGKILL every process of the sandbox at once."""
        ...

    async def destroy(self) -> None:
        """Kill, wait, and release every resource."""
        ...


class Backend(Protocol):
    @property
    def isolated(self) -> bool:
        """False when sandboxes get rlimits only (no root, no namespaces or cgroups); the
        server says so loudly at start and in GET /health."""
        ...

    @property
    def isolation(self) -> str:
        """How sandboxes are isolated, in a phrase for GET /health and the startup log
        (it says so when a part such as bubblewrap is missing and what stands in)."""
        ...

    def warm_up(self) -> None:
        """Start, in the background, what every sandbox of this host shares (a runtime
        zygote), so the first cold start does not wait for it; optional, never raises."""
        ...

    async def start(self, spec: SandboxSpec, log_stream: str) -> SandboxProcess:
        """Start an isolated process running `spec`'s runtime, initialising nothing of the
        function yet beyond what the runtime does on its own. Raises BackendError."""
        ...

    async def prepare(self, spec: SandboxSpec) -> None:
        """Make the next `start(spec)` fast (the zygote); optional work, may be a no-op."""
        ...

    async def release(self, spec: SandboxSpec) -> None:
        """Forget what was prepared for `spec` (its pool is empty). Sandboxes already
        started are unaffected."""
        ...

    async def close(self) -> None:
        """Destroy everything this backend started."""
        ...
