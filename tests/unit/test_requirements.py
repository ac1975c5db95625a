"""Reading a package's requirements into a build request: what changes its key and what
does not (layers/requirements.py)."""

from __future__ import annotations

import pytest

from lambdalite.control.zipcheck import check_zip
from lambdalite.errors import InvalidParameterValueException
from lambdalite.layers.requirements import BuildRequest, from_package, request_for
from lambdalite.settings import CodeLimits
from tests.conftest import make_zip


def request(files: dict[str, str | bytes]) -> BuildRequest | None:
    data = make_zip(files)
    return from_package(data, check_zip(data, CodeLimits()))


def test_order_comments_blank_lines_and_continuations_do_not_change_the_key() -> None:
    plain = request_for(["six==1.17.0", "msgpack==1.1.2"], "requirements.txt")
    messy = request_for(
        ["# what we need", "", "msgpack==1.1.2  # C", "six\\", "==1.17.0", "six==1.17.0"],
        "requirements.txt",
    )
    assert plain is not None and messy is not None
    assert messy.key == plain.key
    assert messy.requirements == ("msgpack==1.1.2", "six==1.17.0")


def test_a_different_set_has_a_different_key() -> None:
    one = request_for(["six==1.17.0"], "requirements.txt")
    other = request_for(["six==1.16.0"], "requirements.txt")
    assert one is not None and other is not None and one.key != other.key


def test_nothing_to_install_needs_no_build() -> None:
    assert request_for(["# only a comment", "  "], "requirements.txt") is None
    assert request({"app.py": ""}) is None


def test_requirements_txt_wins_over_pyproject() -> None:
    pyproject = '[project]\nname = "a"\nversion = "1"\ndependencies = ["msgpack"]\n'
    found = request({"requirements.txt": "six\n", "pyproject.toml": pyproject})
    assert found is not None and (found.requirements, found.source) == (
        ("six",),
        "requirements.txt",
    )
    found = request({"pyproject.toml": pyproject})
    assert found is not None and (found.requirements, found.source) == (
        ("msgpack",),
        "pyproject.toml",
    )


def test_a_nested_requirements_txt_is_not_the_packages() -> None:
    assert request({"lib/requirements.txt": "six\n"}) is None


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"pyproject.toml": "[project\n"}, "not valid TOML"),
        ({"pyproject.toml": "[project]\ndependencies = 'six'\n"}, "list of strings"),
        ({"requirements.txt": b"\xff\xfe\x00six"}, "not UTF-8"),
        ({"requirements.txt": "six\n" * 70_000}, "larger than"),
    ],
)
def test_an_unreadable_file_is_refused_with_the_reason(
    files: dict[str, str | bytes], fragment: str
) -> None:
    with pytest.raises(InvalidParameterValueException) as refused:
        request(files)
    assert fragment in refused.value.message
