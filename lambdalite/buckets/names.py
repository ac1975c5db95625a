"""Bucket names, object keys, and where a key lives in a bucket's directory.

Names follow S3's general-purpose bucket rules ("Bucket naming rules"). A key becomes a
relative path, so lambdalite refuses what cannot be one safely: empty, `.` or `..`
segments, a leading `/`, NUL, more than 1,024 UTF-8 bytes (S3's limit), and anything
under a name of its own temporary files. Resolving a key never follows a symbolic link:
a link inside a bucket could otherwise lead a write or read anywhere on the host.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import quote_plus

from lambdalite.errors import InvalidParameterValueException

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+")
MAX_KEY_BYTES = 1024
# Atomic writes go through a hidden file beside the target, then a rename; the watcher
# never treats one as an object.
TEMP_PREFIX = ".lambdalite-tmp-"


class UnsafePath(Exception):
    """A key whose path crosses a symbolic link or a non-directory."""


def check_bucket_name(name: str) -> None:
    if (
        not _BUCKET.fullmatch(name)
        or ".." in name
        or _IP_LIKE.fullmatch(name)
        or name.startswith("xn--")
        or name.endswith("-s3alias")
    ):
        raise InvalidParameterValueException(
            f"Invalid bucket name {name!r}: 3-63 characters of lower-case letters, digits, "
            "'.' and '-', starting and ending with a letter or digit (S3's naming rules)."
        )


def check_key(key: str) -> None:
    segments = key.split("/")
    if (
        not key
        or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        or "\0" in key
        or any(s in ("", ".", "..") for s in segments)
        or any(s.startswith(TEMP_PREFIX) for s in segments)
    ):
        raise InvalidParameterValueException(
            f"Invalid object key {key!r}: lambdalite stores keys as paths, so a key is 1-1024 "
            "bytes of '/'-separated names, none empty, '.', '..' or starting with "
            f"{TEMP_PREFIX!r}."
        )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterValueException("Object keys must be valid UTF-8.") from None


def encoded_key(key: str) -> str:
    """The key as S3 event notifications carry it: form-encoded, a space as '+' ("Event
    message structure": "red flower.jpg" arrives as "red+flower.jpg"), '/' kept."""
    return quote_plus(key, safe="/")


def key_of(root: Path, path: Path) -> str | None:
    """The key of a file found under a bucket's directory; None for what is not an object
    (a temporary file, a name that is not UTF-8)."""
    relative = path.relative_to(root).as_posix()
    if any(part.startswith(TEMP_PREFIX) for part in relative.split("/")):
        return None
    try:
        encoded = relative.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode's surrogates: not a name S3 could carry
        return None
    return relative if len(encoded) <= MAX_KEY_BYTES else None


def object_path(root: Path, key: str, *, make_parents: bool = False) -> Path:
    """Where `key` lives under `root`, checking that no directory on the way is a link
    (UnsafePath otherwise). `make_parents` creates missing directories (for a write)."""
    check_key(key)
    current = root
    for part in key.split("/")[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            if not make_parents:
                raise
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(mode):
            raise UnsafePath(f"{current} is not a directory")
    target = current / key.rsplit("/", 1)[-1]
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        raise UnsafePath(f"{target} is not a regular file")
    return target
