"""The common root: what every sandbox of one runtime zygote sees, as a list of steps.

One description, two builders: bubblewrap turns the steps into its arguments
(`bubblewrap.py`) and builds the root before the runtime zygote's interpreter starts;
where bubblewrap is not installed, the runtime zygote applies the same steps itself
(`lambdalite.runtime.root`). The steps are JSON-able lists, in bubblewrap's order:

    ["dir", path]                  an empty directory (a mount point, /opt...)
    ["ro-bind", source, path]      a host file or directory, read-only
    ["dev-bind", source, path]     a host device node
    ["symlink", target, path]
    ["file", path, text]           a synthetic file (/etc/passwd...)

The version's own code is not part of it: each version zygote mounts its code at
/var/task in a mount namespace of its own (docs/decisions/0101).
"""

from __future__ import annotations

import os

from lambdalite.runtime.root import LANG_ROOT, RUNTIME_ROOT, TASK_ROOT

Step = list[str]
_DEVICES = ("null", "zero", "full", "random", "urandom")
_STDIO = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
          ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))  # fmt: skip


def common_root(
    python_prefix: str, package_dir: str, uid: int, gid: int, resolv_conf: str
) -> list[Step]:
    """The root of every sandbox: /usr and the interpreter read-only, a few devices, a
    synthetic /etc, and empty mount points for /tmp, /proc and /var/task."""
    # Every directory on the way to a mount point is listed: bubblewrap creates missing
    # parents 0700, which hid /etc/ssl/certs (and so every CA) from the sandbox's user.
    mount_points = ("/etc", "/etc/ssl", "/dev", "/proc", "/tmp", "/var", RUNTIME_ROOT)
    steps: list[Step] = [["dir", d] for d in (*mount_points, TASK_ROOT, "/opt")]
    steps.append(["ro-bind", "/usr", "/usr"])
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{name}") or os.path.isdir(f"/usr/{name}"):
            steps.append(["symlink", f"usr/{name}", f"/{name}"])
    steps += [
        # The interpreter's prefix at AWS's path, so the host's home directories (pyenv
        # under /root) stay hidden; lambdalite's package under AWS's LAMBDA_RUNTIME_DIR.
        ["ro-bind", python_prefix, LANG_ROOT],
        ["ro-bind", package_dir, f"{RUNTIME_ROOT}/lambdalite"],
    ]
    if os.path.isdir("/etc/ssl/certs"):
        steps.append(["ro-bind", "/etc/ssl/certs", "/etc/ssl/certs"])
    for name in ("ld.so.cache", "nsswitch.conf"):
        if os.path.exists(f"/etc/{name}"):
            steps.append(["ro-bind", f"/etc/{name}", f"/etc/{name}"])
    steps += [["dev-bind", f"/dev/{name}", f"/dev/{name}"] for name in _DEVICES]
    steps += [["symlink", target, f"/dev/{name}"] for name, target in _STDIO]
    # sbx_user1051 (uid 993) is the user AWS Lambda runs functions as.
    passwd = f"root:x:0:0::/root:/sbin/nologin\nsbx_user1051:x:{uid}:{gid}::/tmp:/sbin/nologin\n"
    steps += [
        ["file", "/etc/passwd", passwd],
        ["file", "/etc/group", f"root:x:0:\nsbx_user1051:x:{gid}:\n"],
        ["file", "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n"],
    ]
    if resolv_conf:
        steps.append(["file", "/etc/resolv.conf", resolv_conf])
    return steps
