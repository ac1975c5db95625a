"""Runs inside the build sandbox (bubblewrap, started by `build_sandbox.py`): becomes the
unprivileged build user, installs the seccomp filter functions get, enters /build and
execs pip (or
the import probe) in a fresh interpreter, so nothing of ours runs beside pip's code.

bwrap has left this process only CAP_SETUID and CAP_SETGID, for the switch to the build
user; leaving uid 0 clears them, no_new_privs keeps them from coming back through a
setuid or file-capability binary, and the filter closes namespaces, mounts, ptrace, bpf
and the rest (runtime/seccomp.py). argv[1] is JSON: {"uid", "gid", "argv", "dirs", "cwd"}.
"""

from __future__ import annotations

import json
import os
import sys

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import seccomp


def main() -> None:
    config = json.loads(sys.argv[1])
    uid, gid = int(config["uid"]), int(config["gid"])
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    sc.prctl(sc.PR_SET_PDEATHSIG, 9)
    seccomp.install()
    # As the build user: root without capabilities may not enter its directory.
    os.chdir(config["cwd"])
    for directory in config["dirs"]:
        os.makedirs(directory, exist_ok=True)
    os.umask(0o022)
    argv = config["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
