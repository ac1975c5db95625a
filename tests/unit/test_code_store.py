"""CodeStore: content-addressed blobs, read-only trees, races, and nothing left behind."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from lambdalite.control.code import CodeCorruptError, CodeNotFoundError, CodeStore
from lambdalite.control.zipcheck import ZipManifest, check_zip
from lambdalite.errors import ApiError, InvalidParameterValueException
from lambdalite.settings import CodeLimits
from tests.unit.test_zipcheck import EXECUTABLE, SYMLINK, zip_of

BOOTSTRAP = b"#!/bin/sh\nexec python3 -m app\n"
FILES = {
    "bootstrap": BOOTSTRAP,
    "app/__init__.py": b"",
    "app/handlers/main.py": b"def handler(event, context):\n    return event\n",
    "data/config.json": b'{"debug": false}',
}


def package(extra: bytes = b"") -> tuple[bytes, ZipManifest]:
    data = zip_of(
        ("bootstrap", BOOTSTRAP, EXECUTABLE),
        ("app/", b"", 0o040755),
        ("app/__init__.py", b"", 0o100644),
        ("app/handlers/main.py", FILES["app/handlers/main.py"], 0o100644),
        ("data/config.json", FILES["data/config.json"] + extra),
        ("bin/handler", b"../app/handlers/main.py", SYMLINK),
    )
    return data, check_zip(data, CodeLimits())


def unchecked(data: bytes) -> ZipManifest:
    """A manifest for bytes that never went through check_zip (a caller's bug, or a disk)."""
    sha = hashlib.sha256(data).hexdigest()
    return ZipManifest(sha, "", len(data), 0, ())


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if not p.is_dir())


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    return tmp_path / "code"


@pytest.fixture
def store(code_dir: Path) -> CodeStore:
    return CodeStore(code_dir)


def test_put_then_read_round_trips(store: CodeStore, code_dir: Path) -> None:
    data, manifest = package()
    assert not store.exists(manifest.sha256)

    store.put(data, manifest)

    sha = manifest.sha256
    assert store.exists(sha)
    assert store.read(sha) == data
    assert store.path(sha) == code_dir / "blobs" / sha[:2] / f"{sha}.zip"
    assert stat.S_IMODE(store.path(sha).stat().st_mode) == 0o444
    assert list(store.blobs()) == [sha]


def test_the_same_bytes_stored_twice_are_one_blob(store: CodeStore, code_dir: Path) -> None:
    data, manifest = package()
    store.put(data, manifest)
    store.put(data, check_zip(data, CodeLimits()))
    assert files_under(code_dir) == [store.path(manifest.sha256)]


def test_put_refuses_a_manifest_of_other_bytes(store: CodeStore, code_dir: Path) -> None:
    data, _ = package()
    _, other = package(extra=b" ")
    with pytest.raises(ValueError, match="other bytes"):
        store.put(data, other)
    assert not code_dir.exists()


def test_a_failed_put_leaves_no_file_behind(
    store: CodeStore, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, manifest = package()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.put(data, manifest)
    assert files_under(code_dir) == []
    assert not store.exists(manifest.sha256)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        zip_of(("../evil", b"x")),
        zip_of(("link", b"/etc", SYMLINK)),
        zip_of(("big", b"x" * 2000)),
    ],
    ids=["empty", "zip-slip", "symlink-out", "too-big"],
)
def test_a_rejected_upload_leaves_code_dir_empty(
    store: CodeStore, code_dir: Path, data: bytes
) -> None:
    with pytest.raises(ApiError):
        store.put(data, check_zip(data, CodeLimits(max_unzipped_bytes=1000)))
    assert not code_dir.exists()


def test_extract_builds_a_read_only_tree(store: CodeStore) -> None:
    data, manifest = package()
    store.put(data, manifest)

    tree = store.extract(manifest.sha256)

    assert {str(p.relative_to(tree)): p.read_bytes() for p in files_under(tree)} == {
        **FILES,
        "bin/handler": FILES["app/handlers/main.py"],
    }
    modes = {str(p.relative_to(tree)): stat.S_IMODE(p.lstat().st_mode) for p in tree.rglob("*")}
    assert modes.pop("bootstrap") == 0o555
    assert (tree / "bin/handler").is_symlink()
    assert os.readlink(tree / "bin/handler") == "../app/handlers/main.py"
    del modes["bin/handler"]
    assert {mode for name, mode in modes.items() if (tree / name).is_file()} == {0o444}
    assert {mode for name, mode in modes.items() if (tree / name).is_dir()} == {0o555}
    assert stat.S_IMODE(tree.stat().st_mode) == 0o555


def test_extract_builds_the_tree_once(store: CodeStore) -> None:
    data, manifest = package()
    store.put(data, manifest)
    first = store.extract(manifest.sha256)
    inode = (first / "bootstrap").stat().st_ino

    again = CodeStore(store.path(manifest.sha256).parents[2]).extract(manifest.sha256)

    assert again == first
    assert (again / "bootstrap").stat().st_ino == inode
    assert [p.name for p in first.parent.iterdir()] == [manifest.sha256]


def test_losing_an_extract_race_uses_the_winners_tree(
    store: CodeStore, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, manifest = package()
    store.put(data, manifest)
    rename = os.rename
    winner: list[Path] = []

    def rival_finishes_first(src: str, dst: str) -> None:
        # Another process extracts the same package between our build and our rename.
        monkeypatch.setattr(os, "rename", rename)
        winner.append(CodeStore(code_dir).extract(manifest.sha256))
        rename(src, dst)

    monkeypatch.setattr(os, "rename", rival_finishes_first)
    tree = store.extract(manifest.sha256)
    inode_of_winner = (winner[0] / "bootstrap").stat().st_ino

    assert tree == winner[0]
    assert (tree / "bootstrap").stat().st_ino == inode_of_winner
    assert (tree / "bootstrap").read_bytes() == BOOTSTRAP
    assert [p.name for p in (code_dir / "trees").iterdir()] == [manifest.sha256]


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([("ok.py", b"1"), ("../evil", b"x")], "contains a '..' component"),
        ([("ok.py", b"1"), ("evil", b"../../../evil", SYMLINK)], "outside the package"),
    ],
    ids=["zip-slip", "symlink-out"],
)
def test_extract_rechecks_a_blob_that_skipped_check_zip(
    store: CodeStore,
    code_dir: Path,
    entries: list[tuple[str, bytes] | tuple[str, bytes, int]],
    reason: str,
) -> None:
    data = zip_of(*entries)
    store.put(data, unchecked(data))

    with pytest.raises(InvalidParameterValueException) as caught:
        store.extract(hashlib.sha256(data).hexdigest())

    assert reason in caught.value.message
    assert list((code_dir / "trees").iterdir()) == []  # no tree, not even a partial one
    assert not any(p.name == "evil" for p in code_dir.parent.rglob("*"))


def test_extract_refuses_a_blob_changed_on_disk(store: CodeStore) -> None:
    data, manifest = package()
    store.put(data, manifest)
    blob = store.path(manifest.sha256)
    blob.chmod(0o644)
    blob.write_bytes(data[:-1] + b"\x01")

    with pytest.raises(CodeCorruptError, match="does not match its digest"):
        store.extract(manifest.sha256)


def test_unknown_packages_are_not_found(store: CodeStore) -> None:
    sha = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(CodeNotFoundError):
        store.read(sha)
    with pytest.raises(CodeNotFoundError):
        store.extract(sha)


@pytest.mark.parametrize("name", ["../../etc/passwd", "A" * 64, "ab" * 31, ""])
def test_only_a_digest_names_a_blob(store: CodeStore, name: str) -> None:
    with pytest.raises(ValueError, match="not a lowercase hex SHA-256"):
        store.path(name)
    with pytest.raises(ValueError):
        store.delete(name)


def test_delete_removes_the_blob_and_its_read_only_tree(store: CodeStore, code_dir: Path) -> None:
    data, manifest = package()
    store.put(data, manifest)
    tree = store.extract(manifest.sha256)

    store.delete(manifest.sha256)

    assert not store.exists(manifest.sha256)
    assert not tree.exists()
    assert files_under(code_dir) == []
    assert list(store.blobs()) == []
    store.delete(manifest.sha256)  # deleting again is not an error


def test_blobs_lists_only_stored_packages(store: CodeStore, code_dir: Path) -> None:
    stored = []
    for extra in (b"", b" ", b"  "):
        data, manifest = package(extra)
        store.put(data, manifest)
        stored.append(manifest.sha256)
    shard = store.path(stored[0]).parent
    (shard / "notes.txt").write_text("not a blob")
    misplaced = "f" * 64 if not stored[0].startswith("ff") else "e" * 64
    (shard / f"{misplaced}.zip").write_bytes(b"in the wrong shard")

    assert list(store.blobs()) == sorted(stored)
