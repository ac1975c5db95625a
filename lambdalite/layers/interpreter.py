"""What a dependency layer is built for: the interpreter sandboxes really run.

Every python3.x runtime runs on the server's interpreter (docs/decisions/0002), so a
layer built for it must match its version and the wheels it can load: the platform tag
and the C library, which decides the manylinux wheels pip picks.
"""

from __future__ import annotations

import functools
import platform
import sys
import sysconfig


def python_version() -> str:
    """ "3.11": also the name of the site-packages directory under /opt/python/lib."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@functools.cache
def platform_tag() -> str:
    """e.g. "cp311-linux-x86_64-glibc2.36"."""
    implementation = sys.implementation.cache_tag or sys.implementation.name
    libc, version = platform.libc_ver()
    return f"{implementation}-{sysconfig.get_platform()}-{libc}{version}"
