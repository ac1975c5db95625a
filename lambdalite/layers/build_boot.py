"""Started by the platform (as root, on the host) in front of each build's `bwrap`: it
enters the build's network namespace and cgroups by the fds it inherited, then execs
bubblewrap, so bwrap and everything below it are inside both before any of it runs.

A separate process rather than `preexec_fn`: the server has threads, and code between
fork and exec in a threaded process may deadlock. argv[1] is JSON:
{"netns": fd or -1, "cgroups": [fd...], "argv": [bwrap, ...]}.
"""

from __future__ import annotations

import json
import os
import sys

from lambdalite.runtime import _syscalls as sc


def main() -> None:
    config = json.loads(sys.argv[1])
    for fd in config["cgroups"]:
        os.write(fd, b"0")  # "0": the writer itself
        os.close(fd)
    if config["netns"] >= 0:
        sc.setns(config["netns"], sc.CLONE_NEWNET)
        os.close(config["netns"])
    sc.prctl(sc.PR_SET_PDEATHSIG, 9)  # the build dies with the server
    argv = config["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
