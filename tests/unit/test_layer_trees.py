"""Layer trees on disk (layers/trees.py): a merged /opt puts later layers over earlier
ones without copying, and a build's tree is sealed only if it holds nothing a layer must
not (links leaving it, devices)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lambdalite.control.zipcheck import check_zip
from lambdalite.layers.trees import LayerTrees, UnsafeTreeError, measure, seal
from lambdalite.settings import CodeLimits
from tests.conftest import make_zip


def store_layer(trees: LayerTrees, files: dict[str, str | bytes]) -> str:
    data = make_zip(files)
    manifest = check_zip(data, CodeLimits())
    trees.content.put(data, manifest)
    return manifest.sha256


def test_later_layers_win_and_files_are_linked_not_copied(tmp_path: Path) -> None:
    trees = LayerTrees(tmp_path / "layers")
    first = store_layer(trees, {"python/common.py": "A", "data/a.txt": "a", "data/x": "a"})
    second = store_layer(trees, {"python/common.py": "B", "data/b.txt": "b", "data/x": "b"})

    opt = trees.opt([first, second], None)

    assert opt is not None
    assert (opt / "python" / "common.py").read_text() == "B"
    assert (opt / "data" / "a.txt").read_text() == "a"
    assert (opt / "data" / "x").read_text() == "b"
    source = trees.content.extract(second) / "data" / "b.txt"
    assert os.stat(opt / "data" / "b.txt").st_ino == os.stat(source).st_ino
    assert stat.S_IMODE(os.stat(opt / "data").st_mode) == 0o555  # read-only
    # The same parts in the same order: the same tree; another order: another tree.
    assert trees.opt([first, second], None) == opt
    reversed_opt = trees.opt([second, first], None)
    assert reversed_opt is not None and (reversed_opt / "python" / "common.py").read_text() == "A"


def test_one_part_is_used_as_it_is(tmp_path: Path) -> None:
    trees = LayerTrees(tmp_path / "layers")
    only = store_layer(trees, {"python/m.py": ""})
    assert trees.opt([only], None) == trees.content.extract(only)
    assert trees.opt([], None) is None
    assert trees.merged_trees() == set()


def test_a_dependency_layer_comes_last(tmp_path: Path) -> None:
    trees = LayerTrees(tmp_path / "layers")
    layer = store_layer(trees, {"python/six.py": "from the layer"})
    staged = tmp_path / "staged"
    (staged / "python").mkdir(parents=True)
    (staged / "python" / "six.py").write_text("from requirements.txt")
    digest = "ab" * 32
    trees.install(staged, digest)

    opt = trees.opt([layer], digest)

    assert opt is not None
    assert (opt / "python" / "six.py").read_text() == "from requirements.txt"
    assert measure(trees.dependency_layer(digest)) == (len("from requirements.txt"), 1)


@pytest.mark.parametrize("target", ["/etc/shadow", "../../outside"])
def test_a_build_tree_with_a_link_leaving_it_is_refused(tmp_path: Path, target: str) -> None:
    tree = tmp_path / "tree"
    (tree / "python").mkdir(parents=True)
    os.symlink(target, tree / "python" / "link")
    with pytest.raises(UnsafeTreeError, match="outside the layer"):
        seal(tree, chown=False)


def test_a_build_tree_with_a_fifo_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    with pytest.raises(UnsafeTreeError, match="not a file, directory or symlink"):
        seal(tree, chown=False)


def test_sealing_makes_everything_read_only(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_text("#!/bin/sh\n")
    (tree / "bin" / "tool").chmod(0o4755)  # setuid: dropped
    (tree / "data").write_text("x")
    os.symlink("bin/tool", tree / "inside")
    seal(tree, chown=False)
    assert stat.S_IMODE(os.stat(tree / "bin" / "tool").st_mode) == 0o555
    assert stat.S_IMODE(os.stat(tree / "data").st_mode) == 0o444
    assert stat.S_IMODE(os.stat(tree / "bin").st_mode) == 0o555
