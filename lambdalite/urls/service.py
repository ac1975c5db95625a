"""FunctionUrlService: the configurations of function URLs, with AWS's rules and errors.

A URL belongs to the unqualified function ($LATEST) or to one of its aliases, never to a
version number (the model's FunctionUrlQualifier pattern already refuses digits). Its id
is random and never reused, so a deleted and re-created URL is a new address, as AWS
documents ("Deleting function URLs").
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lambdalite.control.functions import FunctionService, now_timestamp
from lambdalite.control.pagination import page
from lambdalite.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.model import LATEST
from lambdalite.urls.model import AuthType, Cors, FunctionUrlConfig
from lambdalite.urls.store import UrlExists, UrlStore

BUFFERED = "BUFFERED"
NOT_FOUND = "The resource you requested does not exist."


class FunctionUrlService:
    def __init__(
        self,
        store: UrlStore,
        functions: FunctionService,
        on_change: Callable[[str], None] = lambda _url_id: None,
    ) -> None:
        """`on_change(url_id)` is told of every change, so the serving side's cache of
        configurations forgets that URL at once."""
        self._store = store
        self._functions = functions
        self._on_change = on_change

    @property
    def region(self) -> str:
        return self._functions.region

    def create(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        auth_type: str,
        cors: dict[str, Any] | None,
        invoke_mode: str | None,
    ) -> FunctionUrlConfig:
        key = self._target(account_id, name, qualifier)
        now = now_timestamp()
        config = FunctionUrlConfig(
            account_id=account_id,
            function_name=name,
            qualifier=key,
            url_id=_new_url_id(),
            auth_type=AuthType(auth_type),
            cors=Cors.from_api(cors) if cors is not None else None,
            invoke_mode=_invoke_mode(invoke_mode),
            created_at=now,
            last_modified=now,
        )
        try:
            self._store.create(config)
        except UrlExists:
            arn = self._functions.arn(account_id, name, qualifier)
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = {arn}]. "
                "Error message:  FunctionUrlConfig exists for this Lambda function"
            ) from None
        return config

    def get(self, account_id: str, name: str, qualifier: str | None) -> FunctionUrlConfig:
        key = self._target(account_id, name, qualifier)
        found = self._store.get(account_id, name, key)
        if found is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return found

    def update(
        self,
        account_id: str,
        name: str,
        qualifier: str | None,
        auth_type: str | None,
        cors: dict[str, Any] | None,
        invoke_mode: str | None,
    ) -> FunctionUrlConfig:
        """Members left out keep their value; a Cors given replaces the whole structure."""
        current = self.get(account_id, name, qualifier)
        updated = replace(
            current,
            auth_type=AuthType(auth_type) if auth_type else current.auth_type,
            cors=Cors.from_api(cors) if cors is not None else current.cors,
            invoke_mode=_invoke_mode(invoke_mode) if invoke_mode else current.invoke_mode,
            last_modified=now_timestamp(),
        )
        if not self._store.replace(updated):
            raise ResourceNotFoundException(NOT_FOUND)  # deleted meanwhile
        self._on_change(updated.url_id)
        return updated

    def delete(self, account_id: str, name: str, qualifier: str | None) -> None:
        current = self.get(account_id, name, qualifier)
        self._store.delete(account_id, name, current.qualifier)
        self._on_change(current.url_id)

    def list(
        self, account_id: str, name: str, marker: str | None, max_items: int | None
    ) -> tuple[list[FunctionUrlConfig], str | None]:
        self._functions.function(account_id, name)
        configs = self._store.of_function(account_id, name)
        return page(configs, lambda c: c.qualifier, marker, max_items)

    def by_url_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The configuration a request to the URL is served by (any account's)."""
        return self._store.by_url_id(url_id)

    def function_arn(self, config: FunctionUrlConfig) -> str:
        return self._functions.arn(
            config.account_id, config.function_name, config.invoked_qualifier
        )

    def _target(self, account_id: str, name: str, qualifier: str | None) -> str:
        """The stored qualifier key, after checking the function (and alias) exist."""
        self._functions.function(account_id, name)
        if qualifier is None or qualifier == LATEST:
            return LATEST
        self._functions.version(account_id, name, qualifier)  # an unknown alias -> 404
        return qualifier


def _invoke_mode(value: str | None) -> str:
    if value in (None, BUFFERED):
        return BUFFERED
    raise InvalidParameterValueException(
        f"lambdalite serves function URLs with InvokeMode BUFFERED only, not {value}: "
        "response streaming is not supported. Leave InvokeMode out or set it to BUFFERED."
    )


def _new_url_id() -> str:
    """32 lower-case letters and digits, like AWS's <url-id>: 160 random bits."""
    return base64.b32encode(os.urandom(20)).decode().lower()
