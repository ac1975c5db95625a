"""check_zip against hostile packages: unsafe names and links, bombs, damage, limits."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from lambdalite.control.zipcheck import UNZIP_FAILED, EntryKind, check_zip, drain
from lambdalite.errors import (
    ApiError,
    InvalidParameterValueException,
    RequestTooLargeException,
)
from lambdalite.settings import CodeLimits

LIMITS = CodeLimits()
MiB = 1024 * 1024
SYMLINK = 0o120777
EXECUTABLE = 0o100755


def zip_of(
    *entries: tuple[str, bytes | str] | tuple[str, bytes | str, int], method: int = 8
) -> bytes:
    """A zip of (name, data[, unix mode]) entries, in order, duplicates allowed."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we want
        for name, data, *mode in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            if mode:
                info.external_attr = mode[0] << 16
            zf.writestr(info, data)
    return buf.getvalue()


def raw_zip(name: str, stream: bytes, *, size: int, crc: int, flags: int = 0) -> bytes:
    """One deflated entry with headers written by hand, so they can say anything."""
    n = name.encode()
    fields = (flags, 8, 0, 0, crc, len(stream), size, len(n))
    local = struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 3, *fields, 0) + n + stream
    central = struct.pack(
        "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, *fields, 0, 0, 0, 0, 0o100644 << 16, 0
    )
    central += n
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def deflated_zeros(total: int) -> bytes:
    """`total` zero bytes, deflated from one repeated block: a gigabyte costs a megabyte.

    After a full flush the compressor starts afresh, so equal input gives equal output.
    """
    chunk = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (total // MiB) + compressor.flush()


@contextlib.contextmanager
def no_disk() -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"check_zip opened a file: {args!r}")

    with (
        mock.patch("builtins.open", refuse),
        mock.patch("io.open", refuse),
        mock.patch("os.open", refuse),
    ):
        yield


def reject(data: bytes, limits: CodeLimits = LIMITS) -> ApiError:
    with no_disk(), pytest.raises(ApiError) as caught:
        check_zip(data, limits)
    return caught.value


def assert_unsafe(data: bytes, name: str, reason: str) -> None:
    error = reject(data)
    assert isinstance(error, InvalidParameterValueException)
    assert error.message == f"Zip entry {name!r} is not allowed: {reason}."


# -- a good package ------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflated", "bzip2", "lzma"],
)
def test_a_normal_package_is_described_exactly(method: int) -> None:
    data = zip_of(
        ("./", b"", 0o040755),
        ("bootstrap", b"#!/bin/sh\nexec ./app\n", EXECUTABLE),
        ("handler.py", b"def handler(event, context):\n    return event\n", 0o100644),
        ("lib/pkg/", b"", 0o040755),
        ("lib/pkg/mod.py", b"X = 1\n" * 100),
        ("bin/tool", b"../lib/pkg/mod.py", SYMLINK),
        method=method,
    )
    with no_disk():
        manifest = check_zip(data, LIMITS)

    digest = hashlib.sha256(data).digest()
    assert manifest.sha256 == digest.hex()
    assert manifest.code_sha256 == base64.b64encode(digest).decode()
    assert manifest.size == len(data)
    assert manifest.unzipped_size == 21 + 46 + 600  # files only, as really decompressed
    assert manifest.names == ("bootstrap", "handler.py", "lib/pkg", "lib/pkg/mod.py", "bin/tool")
    assert manifest.is_executable("bootstrap")
    assert not manifest.is_executable("handler.py")
    assert manifest.entries[-1].kind is EntryKind.SYMLINK
    assert manifest.entries[-1].link_target == "../lib/pkg/mod.py"


def test_small_highly_compressible_files_are_not_bombs() -> None:
    manifest = check_zip(zip_of(("padding.bin", bytes(512 * 1024))), LIMITS)
    assert manifest.unzipped_size == 512 * 1024


# -- damaged input -------------------------------------------------------------------


def corrupted_data() -> bytes:
    data = bytearray(zip_of(("a.txt", b"hello world " * 1000)))
    data[40] ^= 0xFF  # inside the deflated stream
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a zip file",
        zip_of(("a.txt", b"hello" * 100))[:-30],  # truncated central directory
        corrupted_data(),
    ],
    ids=["empty", "not-a-zip", "truncated", "corrupt-stream"],
)
def test_damaged_packages_cannot_be_unzipped(data: bytes) -> None:
    error = reject(data)
    assert isinstance(error, InvalidParameterValueException)
    assert error.message == UNZIP_FAILED


def test_a_wrong_crc_is_caught() -> None:
    body = b"print('hi')\n"
    stream = zlib.compress(body)[2:-4]
    assert check_zip(raw_zip("a.py", stream, size=len(body), crc=zlib.crc32(body)), LIMITS)
    assert reject(raw_zip("a.py", stream, size=len(body), crc=1234)).message == UNZIP_FAILED


@pytest.mark.parametrize("declared", [1000, 20 * MiB])
def test_declared_sizes_that_lie_are_caught(declared: int) -> None:
    stream = deflated_zeros(10 * MiB)
    data = raw_zip("zeros", stream, size=declared, crc=zlib.crc32(bytes(10 * MiB)))
    limits = CodeLimits(max_compression_ratio=100_000)
    assert reject(data, limits).message == UNZIP_FAILED


def test_encrypted_entries_are_refused() -> None:
    body = b"secret"
    data = raw_zip("key.pem", zlib.compress(body)[2:-4], size=6, crc=zlib.crc32(body), flags=1)
    assert_unsafe(data, "key.pem", "it is encrypted; upload an unencrypted zip file")


# -- size limits and bombs -------------------------------------------------------------


def test_zipped_size_over_the_limit_is_too_large() -> None:
    error = reject(zip_of(("a.txt", b"x" * 500)), CodeLimits(max_zipped_bytes=100))
    assert isinstance(error, RequestTooLargeException)
    assert error.status == 413
    assert error.error_type == "RequestEntityTooLargeException"
    assert error.message == "Zipped size must be smaller than 100 bytes"


def test_unzipped_size_over_the_limit_counts_every_entry() -> None:
    data = zip_of(("a.txt", b"a" * 600), ("b.txt", b"b" * 600))
    assert check_zip(data, CodeLimits(max_unzipped_bytes=1200)).unzipped_size == 1200
    error = reject(data, CodeLimits(max_unzipped_bytes=1199))
    assert isinstance(error, InvalidParameterValueException)
    assert error.message == "Unzipped size must be smaller than 1199 bytes"


def test_a_gigabyte_of_zeros_is_refused_without_unpacking_it() -> None:
    stream = deflated_zeros(1024 * MiB)
    assert len(stream) < 2 * MiB
    data = raw_zip("zeros.bin", stream, size=1024 * MiB, crc=0)  # CRC never reached
    limits = CodeLimits(max_unzipped_bytes=10 * MiB, max_compression_ratio=100_000)
    with mock.patch.object(zipfile.ZipFile, "open", side_effect=AssertionError("unpacked")):
        error = reject(data, limits)
    assert error.message == f"Unzipped size must be smaller than {10 * MiB} bytes"


def test_a_high_compression_ratio_is_a_bomb() -> None:
    data = zip_of(("zeros.bin", bytes(4 * MiB)))
    compressed = zipfile.ZipFile(io.BytesIO(data)).getinfo("zeros.bin").compress_size
    with mock.patch.object(zipfile.ZipFile, "open", side_effect=AssertionError("unpacked")):
        error = reject(data)  # from the sizes it declares, before unpacking it
    assert isinstance(error, InvalidParameterValueException)
    assert error.message == (
        "Zip entry 'zeros.bin' expands to more than 200 times its compressed size of "
        f"{compressed} bytes, so the file looks like a zip bomb."
    )
    assert check_zip(data, CodeLimits(max_compression_ratio=5000)).unzipped_size == 4 * MiB


def test_draining_stops_as_soon_as_the_limit_is_passed() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            self.served += len(buffer)
            if self.served > 100 * MiB:  # a broken drain fails here instead of hanging
                raise AssertionError("drain kept reading")
            return len(buffer)

    stream = Endless()
    assert drain(io.BufferedReader(stream), 10 * MiB) is None
    assert stream.served < 11 * MiB
    assert drain(io.BytesIO(bytes(1000)), 1000) == 1000


def test_too_many_entries() -> None:
    data = zip_of(*((f"f{i}", b"") for i in range(10_001)), method=zipfile.ZIP_STORED)
    assert len(check_zip(data, CodeLimits(max_entries=10_001)).names) == 10_001
    # Refused from a count of the raw records, before zipfile builds 10,001 objects.
    with mock.patch.object(zipfile.ZipFile, "__init__", side_effect=AssertionError("parsed")):
        error = reject(data, CodeLimits(max_entries=10_000))
    assert isinstance(error, InvalidParameterValueException)
    assert error.message == (
        "Zip file has more than 10000 entries. Please package fewer files, then try to "
        "upload again."
    )


def test_too_many_implied_directories() -> None:
    data = zip_of(*(("/".join(f"d{i}-{j}" for j in range(20)) + "/f", b"") for i in range(5)))
    assert reject(data, CodeLimits(max_entries=10)).message.startswith(
        "Zip file has too many files and directories"
    )


# -- unsafe names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "its path contains a '..' component"),
        ("lib/../../evil", "its path contains a '..' component"),
        ("/etc/passwd", "it is an absolute path"),
        ("C:/Windows/evil.dll", "it starts with a drive letter"),
        ("..\\evil", "its name contains a backslash, which some tools read as a path separator"),
        ("x" * 300, "a part of its path is longer than 255 bytes"),
        ("a/" * 600 + "x", "its name is longer than 1024 bytes"),
    ],
)
def test_unsafe_names_are_refused(name: str, reason: str) -> None:
    assert_unsafe(zip_of((name, b"x")), name, reason)


def test_a_nul_byte_cannot_cut_a_name_short() -> None:
    data = zip_of(("okZ/../../evil", b"x")).replace(b"okZ/../../evil", b"ok\x00/../../evil")
    assert_unsafe(data, "ok\x00/../../evil", "its name contains a NUL byte")


@pytest.mark.parametrize(
    ("entries", "name", "reason"),
    [
        ([("a.py", b"1"), ("a.py", b"2")], "a.py", "the zip file holds this path more than once"),
        ([("a.py", b"1"), ("./a.py", b"2")], "a.py", "the zip file holds this path more than once"),
        ([("a", b"1"), ("a/b", b"2")], "a/b", "its path goes through 'a', which is a file"),
        ([("a/b", b"2"), ("a", b"1")], "a", "it is a file, but other entries are inside it"),
        (
            [("fifo", b"", 0o010644)],
            "fifo",
            "it is a device, FIFO or socket, not a file, directory or symlink",
        ),
    ],
)
def test_conflicting_entries_are_refused(
    entries: list[tuple[str, bytes] | tuple[str, bytes, int]], name: str, reason: str
) -> None:
    assert_unsafe(zip_of(*entries), name, reason)


# -- symlinks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "name", "reason"),
    [
        (
            [("passwd", b"/etc/passwd", SYMLINK)],
            "passwd",
            "it is a symlink to the absolute path '/etc/passwd'",
        ),
        (
            [("lib/up", b"../../etc", SYMLINK)],
            "lib/up",
            "it is a symlink to '../../etc', outside the package",
        ),
        # Lexically 'sub/s/../..' is the root; the kernel follows sub/s to the root first,
        # so its '../..' leaves the package.
        (
            [("sub/s", b"..", SYMLINK), ("t", b"sub/s/../..", SYMLINK)],
            "t",
            "it is a symlink to 'sub/s/../..', outside the package",
        ),
        ([("a", b"b", SYMLINK), ("b", b"a", SYMLINK)], "a", "it is a symlink that loops"),
        (
            [("l", b"sub", SYMLINK), ("l/x", b"written through the link")],
            "l/x",
            "its path goes through 'l', which is a symlink",
        ),
        (
            [("l/x", b"data"), ("l", b"/tmp", SYMLINK)],
            "l",
            "it is a symlink to the absolute path '/tmp'",
        ),
        (
            [("l/x", b"data"), ("l", b"x", SYMLINK)],
            "l",
            "it is a symlink, but other entries are inside it",
        ),
        ([("empty", b"", SYMLINK)], "empty", "it is a symlink with an invalid target ''"),
    ],
)
def test_symlinks_must_stay_inside_the_package(
    entries: list[tuple[str, bytes] | tuple[str, bytes, int]], name: str, reason: str
) -> None:
    assert_unsafe(zip_of(*entries), name, reason)


def test_symlinks_that_stay_inside_are_kept() -> None:
    data = zip_of(
        ("lib/real/mod.py", b"X = 1\n"),
        ("lib64", b"lib", SYMLINK),
        ("bin/mod", b"../lib64/real/../real/mod.py", SYMLINK),
    )
    manifest = check_zip(data, LIMITS)
    assert [e.kind for e in manifest.entries] == [
        EntryKind.FILE,
        EntryKind.SYMLINK,
        EntryKind.SYMLINK,
    ]
