from typing import Any

from tests.conftest import create


def test_create_and_get(lam: Any, name: str) -> None:
    created = create(lam, name)
    assert created["FunctionName"] == name
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
