"""AccountService: the root account, other accounts, and access-key lookup for SigV4."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from lambdalite.errors import ResourceConflictException
from lambdalite.model import AccessKey, Account
from lambdalite.store.accounts import AccountStore

ROOT_ACCOUNT = "root"
CREDENTIALS_PROFILE = "lambdalite"
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class RootSetup:
    account: Account
    key: AccessKey
    created: bool


class AccountService:
    def __init__(self, store: AccountStore) -> None:
        self._store = store
        # Keys never change secret once issued (except a re-pinned root key, handled by
        # ensure_root in this process), so verified lookups are cached for the hot path.
        self._cache: dict[str, AccessKey] = {}

    def ensure_root(self, pinned: AccessKey | None = None) -> RootSetup:
        """Create the root account on first start; honour a pinned root key if given."""
        root = self._store.by_name(ROOT_ACCOUNT)
        created = root is None
        if root is None:
            root = Account(_new_account_id(), ROOT_ACCOUNT)
            key = self._with_account(pinned, root) if pinned else _new_key(root.account_id)
            try:
                self._store.create(root, key)
            except IntegrityError:  # another server sharing the store created it first
                created = False
                root = self._store.by_name(ROOT_ACCOUNT)
                assert root is not None
        if pinned is not None:
            key = self._with_account(pinned, root)
            self._store.put_key(key)
            self._cache.pop(key.access_key_id, None)
        else:
            key = self._store.keys_of(root.account_id)[0]
        return RootSetup(root, key, created)

    def create(self, name: str) -> tuple[Account, AccessKey]:
        account = Account(_new_account_id(), name)
        key = _new_key(account.account_id)
        try:
            self._store.create(account, key)
        except IntegrityError:
            raise ResourceConflictException(f"Account already exists: {name}") from None
        return account, key

    def cached(self, access_key_id: str) -> AccessKey | None:
        """The key if this process has seen it (no store access: safe on the event loop)."""
        return self._cache.get(access_key_id)

    def key(self, access_key_id: str) -> AccessKey | None:
        cached = self._cache.get(access_key_id)
        if cached is not None:
            return cached
        found = self._store.key(access_key_id)
        if found is not None:
            self._cache[access_key_id] = found
        return found

    def secret_for(self, access_key_id: str) -> str | None:
        found = self.key(access_key_id)
        return found.secret_access_key if found else None

    def account(self, account_id: str) -> Account | None:
        return self._store.by_id(account_id)

    def is_root(self, account_id: str) -> bool:
        account = self._store.by_id(account_id)
        return account is not None and account.name == ROOT_ACCOUNT

    @staticmethod
    def _with_account(key: AccessKey, account: Account) -> AccessKey:
        return AccessKey(key.access_key_id, key.secret_access_key, account.account_id)


def write_credentials_file(path: Path, key: AccessKey, region: str) -> None:
    """Write the key in AWS shared-credentials format, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        f"[{CREDENTIALS_PROFILE}]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
        f"region = {region}\n"
    )
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def _new_key(account_id: str) -> AccessKey:
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return AccessKey(key_id, secrets.token_urlsafe(30)[:40], account_id)
