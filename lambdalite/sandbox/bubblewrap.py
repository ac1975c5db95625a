"""bubblewrap around each runtime zygote: the root every sandbox sees, built by `bwrap`.

Once per runtime zygote (not per sandbox: a bwrap start costs ~5 ms, platform-facts),
`bwrap` enters a new mount namespace, builds the common root from the steps of
`root_layout`, remounts it read-only and runs the runtime zygote's interpreter inside:
the interpreter starts with its prefix already at /var/lang, so nothing has host paths.

Run privileged, without a user namespace: sandboxes forked below must still make pid,
mount, ipc and uts namespaces, mount /tmp and /proc, join cgroups, enter their network
namespace and drop to an unprivileged uid, so the zygotes keep exactly the capabilities
that needs and bwrap drops every other. No `--unshare-pid`: pids stay the host's, so
the platform's pidfds and the zygotes' reports need no translation.
"""

from __future__ import annotations

import os
import shutil

from lambdalite.sandbox.root_layout import Step

# unshare/setns/mount/sethostname; setresuid and setresgid/setgroups; dropping the
# bounding set. Nothing else: no DAC override, no kill, no net admin.
CAPABILITIES = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
# Some interpreters find libpython through an absolute RUNPATH into their host prefix,
# which bwrap has moved to /var/lang (AWS's value includes it too).
ENVIRONMENT = {"LD_LIBRARY_PATH": "/var/lang/lib"}


def find() -> str | None:
    """The `bwrap` binary, if installed (apt: bubblewrap)."""
    return shutil.which("bwrap", path=f"{os.environ.get('PATH', os.defpath)}:/usr/bin:/bin")


def command(bwrap: str, steps: list[Step], inside: list[str]) -> tuple[list[str], list[int]]:
    """bwrap's argv running `inside` in the root `steps` describe, and the fds it must
    inherit (`pass_fds`): memfds holding the synthetic files, which bwrap reads and
    closes. The caller closes its own copies once bwrap has started."""
    # --new-session is left out: the caller starts bwrap in a session of its own already.
    argv = [bwrap, "--die-with-parent", "--clearenv", "--chdir", "/"]
    fds: list[int] = []
    try:
        for kind, *args in steps:
            if kind == "file":
                path, text = args
                fd = os.memfd_create("lambdalite-root", os.MFD_CLOEXEC)
                fds.append(fd)
                os.write(fd, text.encode())
                os.lseek(fd, 0, os.SEEK_SET)
                argv += ["--perms", "0644", "--file", str(fd), path]
            elif kind == "dir":
                argv += ["--perms", "0755", "--dir", *args]
            elif kind in ("ro-bind", "dev-bind", "symlink"):
                argv += [f"--{kind}", *args]
            else:
                raise ValueError(f"unknown root step {kind!r}")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    argv += ["--remount-ro", "/", "--cap-drop", "ALL"]
    for cap in CAPABILITIES:
        argv += ["--cap-add", cap]
    for name, value in ENVIRONMENT.items():
        argv += ["--setenv", name, value]
    return [*argv, "--", *inside], fds
