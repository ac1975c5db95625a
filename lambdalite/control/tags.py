"""TagService: tags on functions (the unqualified function ARN is the resource)."""

from __future__ import annotations

from lambdalite.control.functions import FunctionService
from lambdalite.errors import InvalidParameterValueException
from lambdalite.store.functions import FunctionStore

MAX_TAGS = 50


class TagService:
    def __init__(self, store: FunctionStore, functions: FunctionService) -> None:
        self._store = store
        self._functions = functions

    def tags(self, account_id: str, name: str) -> dict[str, str]:
        return dict(self._functions.function(account_id, name).tags)

    def tag(self, account_id: str, name: str, tags: dict[str, str]) -> None:
        merged = {**self.tags(account_id, name), **tags}
        if len(merged) > MAX_TAGS:
            raise InvalidParameterValueException(
                f"Number of tags exceeds resource tag limit of {MAX_TAGS}."
            )
        for key in tags:
            if key.lower().startswith("aws:"):
                raise InvalidParameterValueException(
                    f"Tag key '{key}' is reserved: the prefix 'aws:' is for AWS use."
                )
        self._save(account_id, name, merged)

    def untag(self, account_id: str, name: str, keys: list[str]) -> None:
        current = self.tags(account_id, name)
        self._save(account_id, name, {k: v for k, v in current.items() if k not in keys})

    def _save(self, account_id: str, name: str, tags: dict[str, str]) -> None:
        if not self._store.set_tags(account_id, name, tags):
            raise self._functions.not_found(account_id, name)
