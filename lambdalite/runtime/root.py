"""The common root, built by the runtime zygote itself where bubblewrap is not installed.

The platform describes the root as steps (`lambdalite.sandbox.root_layout`); bubblewrap
normally applies them before the runtime zygote starts. Without it, the runtime zygote
applies the same steps once, in a private mount namespace, on a tmpfs it then
`pivot_root`s into, so nothing of the host's tree stays reachable. Every version zygote
and sandbox forked below inherits that root.
"""

from __future__ import annotations

import contextlib
import os
import sys

from lambdalite.runtime import _syscalls as sc

TASK_ROOT = "/var/task"
LANG_ROOT = "/var/lang"
RUNTIME_ROOT = "/var/runtime"
OPT_ROOT = "/opt"


def import_paths(task_root: str, opt_root: str | None) -> list[str]:
    """What a function's sys.path starts with, in AWS's order (its python bootstrap's
    `set_default_sys_path`): the code, then its layers' site-packages and python dirs,
    before the runtime and the standard library."""
    if not opt_root:
        return [task_root]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [task_root, f"{opt_root}/python/lib/{version}/site-packages", f"{opt_root}/python"]


def _bind(source: str, target: str, *, readonly: bool = True) -> None:
    sc.mount(source, target, None, sc.MS_BIND)
    if readonly:
        # A bind mount ignores MS_RDONLY on creation: remount it to make it read-only.
        flags = sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NOSUID
        sc.mount(None, target, None, flags)


def _mount_point(source: str, target: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "w").close()


def _apply(root: str, step: list[str]) -> None:
    kind, *args = step
    if kind == "dir":
        os.makedirs(root + args[0], exist_ok=True)
        os.chmod(root + args[0], 0o755)  # whatever the umask: the sandbox's user walks it
    elif kind in ("ro-bind", "dev-bind"):
        source, target = args[0], root + args[1]
        _mount_point(source, target)
        _bind(source, target, readonly=kind == "ro-bind")
    elif kind == "symlink":
        os.makedirs(os.path.dirname(root + args[1]), exist_ok=True)
        os.symlink(args[0], root + args[1])
    elif kind == "file":
        with open(root + args[0], "w") as f:
            f.write(args[1])
    else:
        raise ValueError(f"unknown root step {kind!r}")


def build(steps: list[list[str]], staging: str) -> None:
    """Apply `steps` on a tmpfs at `staging` (an empty host directory) and make it the
    root of this process's own mount namespace, read-only."""
    sc.unshare(sc.CLONE_NEWNS)
    # Nothing mounted from here on may propagate back to the host.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("tmpfs", staging, "tmpfs", sc.MS_NOSUID, "size=1m,mode=755")
    for step in steps:
        _apply(staging, step)
    os.makedirs(f"{staging}/.old")
    os.chdir(staging)
    sc.pivot_root(".", ".old")
    os.chdir("/")
    sc.umount("/.old", sc.MNT_DETACH)
    os.rmdir("/.old")
    sc.mount(None, "/", None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID)


def rewrite_sys_path(python_prefix: str, package_dir: str) -> None:
    """Point the import system at the paths inside the new root.

    Packages imported before the pivot (encodings, lambdalite...) keep absolute host
    paths in `__path__`; without this, a lazy submodule import such as `encodings.idna`
    fails inside the sandbox. (Under bubblewrap the interpreter starts inside the root
    and has nothing to rewrite.)
    """
    moves = ((python_prefix, LANG_ROOT), (package_dir, f"{RUNTIME_ROOT}/lambdalite"))

    def moved(entry: str) -> str:
        for old, new in moves:
            if entry == old or entry.startswith(old + "/"):
                return new + entry[len(old) :]
        return entry

    stdlib = [moved(p) for p in sys.path if p.startswith(python_prefix)]
    sys.path[:] = [RUNTIME_ROOT, *stdlib]
    sys.path_importer_cache.clear()
    sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = LANG_ROOT
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [moved(p) for p in path]
        spec = getattr(module, "__spec__", None)
        locations = getattr(spec, "submodule_search_locations", None)
        if isinstance(locations, list):
            locations[:] = [moved(p) for p in locations]
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            with contextlib.suppress(AttributeError, TypeError):
                module.__file__ = moved(file)
