"""Checks an uploaded code package (zip bytes) against CodeLimits before anything is written.

It works from memory and extracts nothing, so a refused package leaves no trace on disk.
It assumes a hostile uploader: names must be relative, without '..', backslashes or NUL,
each used once and never "inside" a file or symlink; symlinks are resolved through the
package's own symlinks, as the kernel would, and must stay inside; against zip bombs, the
entry count, declared sizes and ratios are checked first, then every entry is really
decompressed in chunks, stopping as soon as the limit is passed, and its size and CRC
compared with what it declares. CodeStore.extract re-runs `read_entries` (defence in depth).
"""

from __future__ import annotations

import base64
import hashlib
import io
import lzma
import re
import stat
import struct
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO

from lambdalite.errors import InvalidParameterValueException, RequestTooLargeException
from lambdalite.settings import CodeLimits

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."

_CHUNK = 64 * 1024
_MAX_NAME_BYTES = 1024  # with /var/task in front, far from PATH_MAX (4096)
_MAX_COMPONENT_BYTES = 255  # NAME_MAX of every Linux file system
_MAX_LINK_BYTES = 1024
_MAX_LINK_HOPS = 40  # the kernel's own limit before ELOOP
_LINK_STEP_BUDGET = 1_000_000  # bounds the work hostile symlink chains can cost us
# Small files (padding, empty databases) compress far past any sane ratio and are
# harmless; a ratio only means "bomb" once the entry is big enough to hurt.
_RATIO_FLOOR = 1024 * 1024
_DRIVE = re.compile(r"[A-Za-z]:")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR_SIZE = 20
# What zipfile and the decompressors raise on damaged input (bz2 raises OSError).
_UNZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                 struct.error, zlib.error, lzma.LZMAError, NotImplementedError)  # fmt: skip


class EntryKind(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


@dataclass(frozen=True)
class ZipEntry:
    name: str  # relative, '/'-separated, without '.' parts or a trailing slash
    kind: EntryKind
    executable: bool = False  # a file with any execute bit (a `provided` bootstrap)
    link_target: str | None = None


@dataclass(frozen=True)
class ZipManifest:
    sha256: str  # hex: names the blob
    code_sha256: str  # base64 of the raw digest: AWS's CodeSha256
    size: int  # zipped bytes
    unzipped_size: int  # bytes really decompressed, not the sizes the zip declares
    entries: tuple[ZipEntry, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    def is_executable(self, name: str) -> bool:
        return any(e.name == name and e.executable for e in self.entries)


def check_zip(data: bytes, limits: CodeLimits) -> ZipManifest:
    """The manifest of a package that passes every check; an AWS-shaped error otherwise."""
    if not data:
        raise InvalidParameterValueException(UNZIP_FAILED)
    if len(data) > limits.max_zipped_bytes:
        raise RequestTooLargeException(
            f"Zipped size must be smaller than {limits.max_zipped_bytes} bytes"
        )
    if _directory_records(data) > limits.max_entries:
        raise _too_many_entries(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if len(zf.infolist()) > limits.max_entries:
                raise _too_many_entries(limits)
            _check_declared_sizes(zf.infolist(), limits)
            found = read_entries(zf, max_nodes=4 * limits.max_entries)
            unzipped = _decompress_all(zf, found, limits)
    except _UNZIP_ERRORS as exc:
        raise InvalidParameterValueException(UNZIP_FAILED) from exc
    digest = hashlib.sha256(data).digest()
    code_sha256 = base64.b64encode(digest).decode()
    entries = tuple(entry for _, entry in found)
    return ZipManifest(digest.hex(), code_sha256, len(data), unzipped, entries)


def read_entries(
    zf: zipfile.ZipFile, max_nodes: int | None = None
) -> list[tuple[zipfile.ZipInfo, ZipEntry]]:
    """Every entry of `zf`, safely named, each path used once, every symlink kept inside."""
    tree = _Tree(max_nodes)
    found: list[tuple[zipfile.ZipInfo, ZipEntry]] = []
    for info in zf.infolist():
        raw = info.orig_filename
        if info.flag_bits & 0x1:
            raise _unsafe(raw, "it is encrypted; upload an unencrypted zip file")
        name = _safe_name(raw)
        mode = info.external_attr >> 16
        kind = _kind(raw, info, mode)
        if name is None:
            if kind is EntryKind.DIRECTORY:
                continue  # "./": the package root itself
            raise _unsafe(raw, "it has no file name")
        target = _read_link(zf, info) if kind is EntryKind.SYMLINK else None
        entry = ZipEntry(name, kind, kind is EntryKind.FILE and bool(mode & 0o111), target)
        tree.add(entry)
        found.append((info, entry))
    tree.check_links()
    return found


def _unsafe(raw: str, reason: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Zip entry {raw!r} is not allowed: {reason}.")


def _too_many_entries(limits: CodeLimits) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Zip file has more than {limits.max_entries} entries. "
        "Please package fewer files, then try to upload again."
    )


def _too_big(limits: CodeLimits) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Unzipped size must be smaller than {limits.max_unzipped_bytes} bytes"
    )


def _directory_records(data: bytes) -> int:
    """An upper bound of the entries zipfile would build, counted before it builds them.

    zipfile makes a ZipInfo of every central directory record before we see one (a 50 MB
    zip of empty entries: a million). So count record signatures in the bytes it will parse.
    """
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - _EOCD.size - (1 << 16)))
    if pos < 0 or pos + _EOCD.size > len(data):
        return 0  # not a zip: zipfile will say so
    cd_size, end = _EOCD.unpack_from(data, pos)[5], pos
    record64 = pos - _LOCATOR_SIZE - _EOCD64.size
    has_locator = record64 >= 0 and data.startswith(b"PK\x06\x07", pos - _LOCATOR_SIZE)
    if has_locator and data.startswith(b"PK\x06\x06", record64):
        cd_size, end = _EOCD64.unpack_from(data, record64)[8], record64
    return data.count(b"PK\x01\x02", max(0, end - cd_size), end)


def _check_declared_sizes(infos: list[zipfile.ZipInfo], limits: CodeLimits) -> None:
    """Rejects an honest bomb cheaply, before decompressing a byte of it."""
    total = 0
    for info in infos:
        total += info.file_size
        if total > limits.max_unzipped_bytes:
            raise _too_big(limits)
        ratio = limits.max_compression_ratio
        if info.file_size > max(_RATIO_FLOOR, ratio * max(info.compress_size, 1)):
            raise InvalidParameterValueException(
                f"Zip entry {info.orig_filename!r} expands to more than {ratio} times its "
                f"compressed size of {info.compress_size} bytes, so the file looks like a zip bomb."
            )


def _decompress_all(
    zf: zipfile.ZipFile, found: list[tuple[zipfile.ZipInfo, ZipEntry]], limits: CodeLimits
) -> int:
    """The real unzipped size; reading each entry to its end also verifies its CRC.

    zipfile reads no more than the declared compressed size and yields no more than the
    declared size, so once every size matches, the declared ratios checked before hold too.
    """
    total = 0
    for info, entry in found:
        if entry.kind is EntryKind.FILE:
            with zf.open(info) as stream:
                size = drain(stream, limits.max_unzipped_bytes - total)
            if size is None:
                raise _too_big(limits)
            if size != info.file_size:  # a shorter one fails the CRC; a longer one, here
                raise zipfile.BadZipFile(f"{info.orig_filename!r} is not the size it declares")
            total += size
    return total


def drain(stream: IO[bytes], limit: int) -> int | None:
    """Bytes read from `stream` to its end, or None as soon as there are more than `limit`."""
    count = 0
    while chunk := stream.read(_CHUNK):
        count += len(chunk)
        if count > limit:
            return None
    return count


def _kind(raw: str, info: zipfile.ZipInfo, mode: int) -> EntryKind:
    # The mode is read whatever system made the zip: a symlink must not pass as a file.
    if stat.S_ISLNK(mode):
        return EntryKind.SYMLINK
    if info.is_dir() or stat.S_ISDIR(mode):
        return EntryKind.DIRECTORY
    if stat.S_IFMT(mode) in (0, stat.S_IFREG):
        return EntryKind.FILE
    raise _unsafe(raw, "it is a device, FIFO or socket, not a file, directory or symlink")


def _safe_name(raw: str) -> str | None:
    """The normalised relative path of an entry; None for the root itself."""
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    rules = (
        ("\x00" in raw, "its name contains a NUL byte"),
        ("\\" in raw, "its name contains a backslash, which some tools read as a path separator"),
        (raw.startswith("/"), "it is an absolute path"),
        (_DRIVE.match(raw) is not None, "it starts with a drive letter"),
        (".." in parts, "its path contains a '..' component"),
        (len(raw.encode()) > _MAX_NAME_BYTES, f"its name is longer than {_MAX_NAME_BYTES} bytes"),
        (
            any(len(part.encode()) > _MAX_COMPONENT_BYTES for part in parts),
            f"a part of its path is longer than {_MAX_COMPONENT_BYTES} bytes",
        ),
    )
    for broken, reason in rules:
        if broken:
            raise _unsafe(raw, reason)
    return "/".join(parts) or None


def _read_link(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    raw = info.orig_filename
    if info.file_size > _MAX_LINK_BYTES:
        raise _unsafe(raw, f"it is a symlink whose target is longer than {_MAX_LINK_BYTES} bytes")
    with zf.open(info) as stream:
        data = stream.read(_MAX_LINK_BYTES + 1)
    try:
        target = data.decode()
    except UnicodeDecodeError:
        raise _unsafe(raw, "it is a symlink whose target is not UTF-8") from None
    if not target or "\x00" in target or "\\" in target:
        raise _unsafe(raw, f"it is a symlink with an invalid target {target!r}")
    if target.startswith("/"):
        raise _unsafe(raw, f"it is a symlink to the absolute path {target!r}")
    return target


@dataclass(slots=True)
class _Node:
    entry: ZipEntry | None  # None: a directory implied by the paths below it
    children: dict[str, _Node] = field(default_factory=dict)


class _Tree:
    """The package's namespace, as a trie, so conflicts and links cost one walk each."""

    def __init__(self, max_nodes: int | None) -> None:
        self._root = _Node(None)
        self._links: list[ZipEntry] = []
        self._nodes_left = max_nodes if max_nodes is not None else float("inf")
        self._steps_left = _LINK_STEP_BUDGET

    def add(self, entry: ZipEntry) -> None:
        *parents, leaf = entry.name.split("/")
        node = self._root
        for part in parents:
            child = node.children.get(part) or self._new(node, part, None)
            if child.entry is not None and child.entry.kind is not EntryKind.DIRECTORY:
                where = f"{child.entry.name!r}, which is a {child.entry.kind}"
                raise _unsafe(entry.name, f"its path goes through {where}")
            node = child
        existing = node.children.get(leaf)
        if existing is None:
            self._new(node, leaf, entry)
        elif existing.entry is not None:
            raise _unsafe(entry.name, "the zip file holds this path more than once")
        elif entry.kind is not EntryKind.DIRECTORY:
            raise _unsafe(entry.name, f"it is a {entry.kind}, but other entries are inside it")
        else:
            existing.entry = entry
        if entry.kind is EntryKind.SYMLINK:
            self._links.append(entry)

    def _new(self, parent: _Node, part: str, entry: ZipEntry | None) -> _Node:
        self._nodes_left -= 1
        if self._nodes_left < 0:
            raise InvalidParameterValueException(
                "Zip file has too many files and directories (counting the directories "
                "its paths imply). Please package fewer files, then try to upload again."
            )
        node = parent.children[part] = _Node(entry)
        return node

    def check_links(self) -> None:
        for link in self._links:
            if self._escapes(link):
                target = link.link_target
                raise _unsafe(link.name, f"it is a symlink to {target!r}, outside the package")

    def _escapes(self, link: ZipEntry) -> bool:
        """Resolves `link` through the package's own links, as the kernel would."""
        stack: list[_Node | None] = []
        node = self._root
        for part in link.name.split("/")[:-1]:  # the link's parents, all in the trie
            node = node.children[part]
            stack.append(node)
        pending = deque((link.link_target or "").split("/"))
        hops = 0
        while pending:
            self._steps_left -= 1
            if self._steps_left < 0:
                raise _unsafe(link.name, "its symlinks are nested too deeply to check")
            part = pending.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    return True
                stack.pop()
                continue
            parent = stack[-1] if stack else self._root
            # A missing part is kept as a placeholder: its '..' must still count.
            child = parent.children.get(part) if parent is not None else None
            if child is not None and child.entry is not None and child.entry.link_target:
                hops += 1
                if hops > _MAX_LINK_HOPS:
                    raise _unsafe(link.name, "it is a symlink that loops")
                pending.extendleft(reversed(child.entry.link_target.split("/")))
                continue
            stack.append(child)
        return False
