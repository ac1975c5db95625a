"""The store against real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from lambdalite.model import (
    LATEST,
    AccessKey,
    Account,
    Alias,
    Code,
    Function,
    FunctionConfig,
    FunctionVersion,
)
from lambdalite.store.accounts import AccountStore
from lambdalite.store.aliases import AliasExists, AliasStore
from lambdalite.store.database import Database
from lambdalite.store.functions import FunctionExists, FunctionStore

A = "111111111111"
B = "222222222222"
NOBODY = "333333333333"
SHA_1 = "1" * 64
SHA_2 = "2" * 64
SHA_3 = "3" * 64
CONFIG = FunctionConfig(
    runtime="python3.11",
    handler="app.handler",
    role="arn:aws:iam::123456789012:role/lambda-role",
    environment={"STAGE": "test", "GREETING": "héllo ✓"},
    architectures=("arm64",),
)


@pytest.fixture
def accounts(db: Database) -> AccountStore:
    store = AccountStore(db)
    store.create(Account(A, "alice"), AccessKey("AKIAALICE", "secret-a", A))
    store.create(Account(B, "bob"), AccessKey("AKIABOB", "secret-b", B))
    return store


@pytest.fixture
def functions(db: Database, accounts: AccountStore) -> FunctionStore:
    return FunctionStore(db)


@pytest.fixture
def aliases(db: Database, accounts: AccountStore) -> AliasStore:
    return AliasStore(db)


def latest(
    name: str,
    account_id: str = A,
    *,
    sha: str = SHA_1,
    size: int = 1000,
    memory: int = 128,
    revision: str = "rev-0",
) -> FunctionVersion:
    return FunctionVersion(
        account_id=account_id,
        function_name=name,
        version=LATEST,
        config=CONFIG.updated(memory_size=memory),
        code=Code(sha, size),
        revision_id=revision,
        last_modified="2024-01-01T00:00:00.000+0000",
    )


def maker(source: FunctionVersion) -> Callable[[int], FunctionVersion]:
    def make(number: int) -> FunctionVersion:
        return replace(source, version=str(number), revision_id=f"rev-v{number}")

    return make


def publish(store: FunctionStore, source: FunctionVersion) -> tuple[FunctionVersion, bool]:
    return store.publish(source, maker(source))


def change(store: FunctionStore, current: FunctionVersion, **fields: Any) -> FunctionVersion:
    """Update $LATEST the way UpdateFunctionConfiguration/Code do: CAS on its revision."""
    updated = replace(current, revision_id=f"{current.revision_id}+", **fields)
    assert store.update_latest(updated, current.revision_id)
    return updated


def get_function(store: FunctionStore, name: str, account_id: str = A) -> Function:
    found = store.get(account_id, name)
    assert found is not None, f"function {name} of {account_id} is missing"
    return found


def alias(name: str, version: str, function: str = "fn", **fields: Any) -> Alias:
    return replace(Alias(A, function, name, version, "", {}, "alias-rev-0"), **fields)


# -- accounts ---------------------------------------------------------------------------


def test_account_is_found_by_name_id_and_key(accounts: AccountStore) -> None:
    assert accounts.by_name("alice") == Account(A, "alice")
    assert accounts.by_id(B) == Account(B, "bob")
    assert accounts.key("AKIAALICE") == AccessKey("AKIAALICE", "secret-a", A)
    assert accounts.keys_of(B) == [AccessKey("AKIABOB", "secret-b", B)]
    assert accounts.by_name("carol") is None
    assert accounts.by_id(NOBODY) is None
    assert accounts.key("AKIAUNKNOWN") is None


def test_account_name_taken_raises_and_stores_nothing(accounts: AccountStore) -> None:
    with pytest.raises(IntegrityError):
        accounts.create(Account(NOBODY, "alice"), AccessKey("AKIACAROL", "secret-c", NOBODY))
    assert accounts.by_id(NOBODY) is None
    assert accounts.key("AKIACAROL") is None
    assert accounts.by_name("alice") == Account(A, "alice")


def test_account_with_a_taken_key_is_not_half_created(accounts: AccountStore) -> None:
    with pytest.raises(IntegrityError):
        accounts.create(Account(NOBODY, "carol"), AccessKey("AKIAALICE", "other", NOBODY))
    assert accounts.by_name("carol") is None
    assert accounts.key("AKIAALICE") == AccessKey("AKIAALICE", "secret-a", A)


def test_put_key_repins_a_secret_and_adds_new_keys(accounts: AccountStore) -> None:
    accounts.put_key(AccessKey("AKIAALICE", "rotated", A))
    assert accounts.key("AKIAALICE") == AccessKey("AKIAALICE", "rotated", A)
    assert accounts.keys_of(A) == [AccessKey("AKIAALICE", "rotated", A)]

    accounts.put_key(AccessKey("AKIAALICE2", "second", A))
    assert accounts.keys_of(A) == [
        AccessKey("AKIAALICE", "rotated", A),
        AccessKey("AKIAALICE2", "second", A),
    ]
    assert accounts.keys_of(B) == [AccessKey("AKIABOB", "secret-b", B)]


def test_fact_is_made_once_and_kept(db: Database) -> None:
    made: list[str] = []

    def make() -> str:
        value = f"secret-{len(made)}"
        made.append(value)
        return value

    assert AccountStore(db).fact("code_url_secret", make) == "secret-0"
    assert AccountStore(db).fact("code_url_secret", make) == "secret-0"
    assert made == ["secret-0"]
    assert AccountStore(db).fact("other_fact", make) == "secret-1"


# -- functions --------------------------------------------------------------------------


def test_function_is_created_with_its_latest_version(functions: FunctionStore) -> None:
    v = latest("fn")
    functions.create(v, {"team": "core"})
    assert functions.get(A, "fn") == Function(A, "fn", 0, None, {"team": "core"})
    assert functions.version(A, "fn", LATEST) == v
    assert functions.versions(A, "fn") == [v]
    assert functions.get(A, "missing") is None
    assert functions.version(A, "fn", "1") is None


def test_duplicate_function_is_refused_and_leaves_the_original(
    functions: FunctionStore,
) -> None:
    original = latest("fn", memory=128)
    functions.create(original, {"keep": "me"})
    with pytest.raises(FunctionExists):
        functions.create(latest("fn", sha=SHA_2, memory=1024, revision="rev-x"), {})
    assert functions.get(A, "fn") == Function(A, "fn", 0, None, {"keep": "me"})
    assert functions.versions(A, "fn") == [original]


def test_versions_are_listed_latest_first_then_numerically(functions: FunctionStore) -> None:
    current = latest("fn")
    functions.create(current, {})
    for memory in range(129, 139):  # ten changes, ten versions
        current = change(functions, current, config=CONFIG.updated(memory_size=memory))
        publish(functions, current)
    listed = functions.versions(A, "fn")
    assert [v.version for v in listed] == [LATEST, *(str(n) for n in range(1, 11))]
    assert [v.config.memory_size for v in listed[1:]] == list(range(129, 139))
    assert functions.version(A, "fn", "10") == listed[-1]


def test_update_latest_loses_to_a_newer_revision(functions: FunctionStore) -> None:
    v = latest("fn", revision="rev-0")
    functions.create(v, {})
    first = replace(v, config=CONFIG.updated(memory_size=256), revision_id="rev-1")
    assert functions.update_latest(first, "rev-0")

    stale = replace(v, code=Code(SHA_2, 5), revision_id="rev-2")
    assert not functions.update_latest(stale, "rev-0")
    assert functions.version(A, "fn", LATEST) == first


def test_publish_returns_the_newest_version_when_nothing_changed(
    functions: FunctionStore,
) -> None:
    v = latest("fn")
    functions.create(v, {})
    first, created = publish(functions, v)
    assert created
    assert first == replace(v, version="1", revision_id="rev-v1")
    assert get_function(functions, "fn").last_version == 1

    def must_not_make(number: int) -> FunctionVersion:
        raise AssertionError(f"published {number} although nothing changed")

    again, created = functions.publish(v, must_not_make)
    assert (again, created) == (first, False)
    assert [x.version for x in functions.versions(A, "fn")] == [LATEST, "1"]


def test_publish_after_a_change_takes_the_next_number(functions: FunctionStore) -> None:
    v = latest("fn")
    functions.create(v, {})
    publish(functions, v)
    v = change(functions, v, config=CONFIG.updated(memory_size=256))
    second, created = publish(functions, v)
    assert (second.version, created, second.config.memory_size) == ("2", True, 256)
    v = change(functions, v, code=Code(SHA_2, 2000))
    third, created = publish(functions, v)
    assert (third.version, created, third.code) == ("3", True, Code(SHA_2, 2000))
    assert functions.versions(A, "fn")[1].config.memory_size == 128


def test_publish_never_reuses_a_deleted_number(functions: FunctionStore) -> None:
    v = latest("fn")
    functions.create(v, {})
    publish(functions, v)
    v = change(functions, v, code=Code(SHA_2, 2000))
    publish(functions, v)
    assert functions.delete_version(A, "fn", "2") == []

    third, created = publish(functions, v)
    assert (third.version, created) == ("3", True)
    assert [x.version for x in functions.versions(A, "fn")] == [LATEST, "1", "3"]
    assert get_function(functions, "fn").last_version == 3


def test_concurrent_publishes_of_the_same_code_create_one_version(
    functions: FunctionStore,
) -> None:
    v = latest("fn")
    functions.create(v, {})
    # If the store lets both publishes read "no version yet" before either inserts, they
    # meet at this barrier; if it serialises them, the first waits out the timeout alone.
    both_read = threading.Barrier(2, timeout=0.3)

    def make(number: int) -> FunctionVersion:
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return replace(v, version=str(number), revision_id=f"rev-v{number}")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: functions.publish(v, make), range(2)))
    assert sorted(created for _, created in results) == [False, True]
    assert [version.version for version, _ in results] == ["1", "1"]
    assert [x.version for x in functions.versions(A, "fn")] == [LATEST, "1"]


def test_delete_version_is_refused_while_an_alias_uses_it(
    functions: FunctionStore, aliases: AliasStore
) -> None:
    v = latest("fn")
    functions.create(v, {})
    publish(functions, v)
    v = change(functions, v, code=Code(SHA_2, 2000))
    publish(functions, v)
    functions.create(latest("other"), {})
    publish(functions, latest("other"))
    aliases.create(alias("live", "1"))
    aliases.create(alias("canary", "2", routing_weights={"1": 0.1}))
    aliases.create(alias("elsewhere", "1", function="other"))

    assert functions.delete_version(A, "fn", "1") == ["canary", "live"]
    assert functions.delete_version(A, "fn", "2") == ["canary"]
    assert [x.version for x in functions.versions(A, "fn")] == [LATEST, "1", "2"]

    aliases.delete(A, "fn", "canary")
    assert functions.delete_version(A, "fn", "2") == []
    assert functions.delete_version(A, "fn", "1") == ["live"]
    assert [x.version for x in functions.versions(A, "fn")] == [LATEST, "1"]
    assert functions.delete_version(A, "other", "1") == ["elsewhere"]


def test_delete_function_removes_versions_and_aliases_and_returns_its_code(
    functions: FunctionStore, aliases: AliasStore
) -> None:
    v = latest("fn", sha=SHA_1)
    functions.create(v, {})
    publish(functions, v)
    v = change(functions, v, code=Code(SHA_2, 2000))
    publish(functions, v)
    aliases.create(alias("live", "2"))
    functions.create(latest("kept", sha=SHA_3), {})
    aliases.create(alias("live", LATEST, function="kept"))

    assert sorted(functions.delete(A, "fn")) == [SHA_1, SHA_2]
    assert functions.get(A, "fn") is None
    assert functions.versions(A, "fn") == []
    assert aliases.list(A, "fn") == []
    assert functions.code_references(SHA_1) == 0
    assert [x.version for x in functions.versions(A, "kept")] == [LATEST]
    assert aliases.get(A, "kept", "live") is not None

    functions.create(latest("fn", sha=SHA_3), {})  # the name is free again, from version 1
    assert publish(functions, latest("fn", sha=SHA_3))[0].version == "1"


def test_code_references_count_every_version_in_every_account(
    functions: FunctionStore,
) -> None:
    functions.create(latest("fn", A, sha=SHA_1), {})
    publish(functions, latest("fn", A, sha=SHA_1))
    functions.create(latest("fn", B, sha=SHA_1), {})
    functions.create(latest("other", B, sha=SHA_2), {})
    assert functions.code_references(SHA_1) == 3
    assert functions.code_references(SHA_2) == 1
    assert functions.code_references(SHA_3) == 0

    functions.delete(A, "fn")
    assert functions.code_references(SHA_1) == 1


def test_reserved_concurrency_total(functions: FunctionStore) -> None:
    for name in ("ten", "five", "unreserved"):
        functions.create(latest(name), {})
    functions.create(latest("ten", B), {})
    assert functions.set_reserved_concurrency(A, "ten", 10)
    assert functions.set_reserved_concurrency(A, "five", 5)
    assert functions.set_reserved_concurrency(B, "ten", 100)
    assert not functions.set_reserved_concurrency(A, "missing", 1)

    assert functions.reserved_concurrency_total(A) == 15
    assert functions.reserved_concurrency_total(A, excluding="ten") == 5
    assert functions.reserved_concurrency_total(A, excluding="unreserved") == 15
    assert functions.reserved_concurrency_total(B) == 100
    assert functions.reserved_concurrency_total(NOBODY) == 0
    assert get_function(functions, "ten").reserved_concurrency == 10

    assert functions.set_reserved_concurrency(A, "ten", None)
    assert functions.reserved_concurrency_total(A) == 5
    assert get_function(functions, "ten").reserved_concurrency is None


def test_usage_counts_functions_and_the_code_of_all_versions(
    functions: FunctionStore,
) -> None:
    assert functions.usage(A) == (0, 0)
    functions.create(latest("big", size=3_000_000_000), {})  # past 32 bits: BigInteger
    publish(functions, latest("big", size=3_000_000_000))
    functions.create(latest("small", size=500), {})
    functions.create(latest("theirs", B, size=7), {})
    assert functions.usage(A) == (2, 6_000_000_500)
    assert functions.usage(B) == (1, 7)


def test_tags_round_trip(functions: FunctionStore) -> None:
    tags = {"team": "core", "cost-center": "42", "ключ": "значение ✓", "empty": ""}
    functions.create(latest("fn"), tags)
    assert get_function(functions, "fn").tags == tags

    assert functions.set_tags(A, "fn", {"only": "this"})
    assert get_function(functions, "fn").tags == {"only": "this"}
    assert functions.set_tags(A, "fn", {})
    assert get_function(functions, "fn").tags == {}
    assert not functions.set_tags(A, "missing", {"a": "b"})


def test_latest_versions_pages_by_name_and_all_versions_sorts(
    functions: FunctionStore,
) -> None:
    for name in ("fn-c", "fn-a", "fn-b"):
        functions.create(latest(name), {})
    functions.create(latest("fn-0", B), {})
    v = latest("fn-a")
    for memory in range(129, 140):
        v = change(functions, v, config=CONFIG.updated(memory_size=memory))
        publish(functions, v)

    first = functions.latest_versions(A, None, 2)
    assert [(x.function_name, x.version) for x in first] == [("fn-a", LATEST), ("fn-b", LATEST)]
    rest = functions.latest_versions(A, "fn-b", 2)
    assert [(x.function_name, x.version) for x in rest] == [("fn-c", LATEST)]
    assert functions.latest_versions(A, "fn-c", 2) == []

    listed = [(x.function_name, x.version) for x in functions.all_versions(A)]
    assert listed == [
        ("fn-a", LATEST),
        *(("fn-a", str(n)) for n in range(1, 12)),
        ("fn-b", LATEST),
        ("fn-c", LATEST),
    ]


# -- aliases ----------------------------------------------------------------------------


def test_alias_create_get_and_list(functions: FunctionStore, aliases: AliasStore) -> None:
    functions.create(latest("fn"), {})
    live = alias("live", "1", description="production", routing_weights={"2": 0.25})
    beta = alias("beta", LATEST)
    aliases.create(live)
    aliases.create(beta)
    assert aliases.get(A, "fn", "live") == live
    assert aliases.list(A, "fn") == [beta, live]
    assert aliases.get(A, "fn", "missing") is None
    assert aliases.list(A, "other") == []


def test_alias_that_exists_is_refused_and_left_alone(
    functions: FunctionStore, aliases: AliasStore
) -> None:
    functions.create(latest("fn"), {})
    aliases.create(alias("live", "1"))
    with pytest.raises(AliasExists):
        aliases.create(alias("live", "2", description="replacement"))
    assert aliases.get(A, "fn", "live") == alias("live", "1")


def test_alias_replace_is_compare_and_swap(functions: FunctionStore, aliases: AliasStore) -> None:
    functions.create(latest("fn"), {})
    aliases.create(alias("live", "1", revision_id="a-0"))
    moved = alias("live", "2", routing_weights={"1": 0.5}, revision_id="a-1")
    assert aliases.replace(moved, "a-0")
    assert aliases.get(A, "fn", "live") == moved

    assert not aliases.replace(alias("live", "3", revision_id="a-2"), "a-0")
    assert aliases.get(A, "fn", "live") == moved
    assert not aliases.replace(alias("missing", "1"), "alias-rev-0")
    assert aliases.get(A, "fn", "missing") is None


def test_alias_delete_removes_only_that_alias(
    functions: FunctionStore, aliases: AliasStore
) -> None:
    functions.create(latest("fn"), {})
    functions.create(latest("other"), {})
    aliases.create(alias("live", "1"))
    aliases.create(alias("beta", "1"))
    aliases.create(alias("live", "1", function="other"))

    aliases.delete(A, "fn", "live")
    assert aliases.get(A, "fn", "live") is None
    assert aliases.list(A, "fn") == [alias("beta", "1")]
    assert aliases.get(A, "other", "live") == alias("live", "1", function="other")


# -- accounts keep apart ----------------------------------------------------------------


def test_same_name_in_two_accounts_is_two_independent_functions(
    functions: FunctionStore, aliases: AliasStore
) -> None:
    mine = latest("shared", A, memory=128)
    functions.create(mine, {"owner": "a"})
    assert functions.get(B, "shared") is None
    assert functions.version(B, "shared", LATEST) is None
    assert functions.versions(B, "shared") == []

    theirs = latest("shared", B, sha=SHA_2, memory=512)
    functions.create(theirs, {"owner": "b"})  # not FunctionExists
    mine = change(functions, mine, config=CONFIG.updated(memory_size=256))
    publish(functions, mine)
    aliases.create(alias("live", "1", function="shared"))

    assert functions.version(B, "shared", LATEST) == theirs
    assert functions.get(B, "shared") == Function(B, "shared", 0, None, {"owner": "b"})
    assert aliases.list(B, "shared") == []
    assert functions.delete(A, "shared") == [SHA_1]
    assert functions.versions(B, "shared") == [theirs]


# -- concurrency ------------------------------------------------------------------------


def test_concurrent_first_uses_of_a_fact_agree_on_one_value(db: Database) -> None:
    # Two servers sharing a database start at once: both must sign with the same secret.
    both_read = threading.Barrier(2, timeout=0.3)

    def make(server: int) -> str:
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return f"secret-of-{server}"

    with ThreadPoolExecutor(2) as pool:
        values = list(
            pool.map(lambda s: AccountStore(db).fact("code_url_secret", lambda: make(s)), [1, 2])
        )
    assert values[0] == values[1]
    assert AccountStore(db).fact("code_url_secret", lambda: "late") == values[0]


def test_concurrent_writers_all_succeed(db: Database) -> None:
    """8 threads x 25 read-then-write transactions: none fails with "database is locked"
    (on SQLite, a deferred transaction that reads before it writes can fail at once)."""
    store = AccountStore(db)
    expected = {f"t{t}-{n}": f"{t}:{n}" for t in range(8) for n in range(25)}
    start = threading.Barrier(8)

    def writer(thread: int) -> None:
        start.wait()
        for n in range(25):
            key = f"t{thread}-{n}"
            store.fact(key, lambda: expected[key])  # noqa: B023 (called before the next key)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    assert {key: store.fact(key, lambda: "missing") for key in expected} == expected
