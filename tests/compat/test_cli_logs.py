"""`lambdalite logs NAME`: a function's lines in time order, one invocation, a filter,
a time window, and following as new lines arrive (the CLI in-process, the server real)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lambdalite.cli import logs as cli_logs
from tests.conftest import create, make_zip
from tests.support.cli import Env, cli_env, one_line_error, run
from tests.support.logs import flush, invocation_log, put_events, submit
from tests.support.servers import RunningServer

STREAM_A = "2026/01/01/[$LATEST]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
STREAM_B = "2026/01/01/[$LATEST]bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def env(server: RunningServer, tmp_path: Path) -> Env:
    return cli_env(server.endpoint, tmp_path)


@pytest.fixture
def function(lam: Any, name: str) -> str:
    """A function that exists (its log group comes from its configuration)."""
    create(lam, name)
    return name


def lines_of(result: Result) -> list[str]:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout.splitlines()


def rid() -> str:
    return str(uuid.uuid4())


def test_logs_prints_a_functions_lines_in_time_order(
    server: RunningServer, lam: Any, env: Env, name: str
) -> None:
    source = "def handler(event, context):\n    print('hello', event['n'])\n"
    create(lam, name, Code={"ZipFile": make_zip({"app.py": source})})
    for n in (1, 2):
        lam.invoke(FunctionName=name, Payload=json.dumps({"n": n}))
    flush(server)
    lines = lines_of(run(env, "logs", name))
    starts = [i for i, line in enumerate(lines) if line.startswith("START RequestId: ")]
    assert len(starts) == 2
    for start, n in zip(starts, (1, 2), strict=True):
        assert lines[start + 1] == f"hello {n}"
        assert lines[start + 2].startswith("END RequestId: ")
        assert lines[start + 3].startswith("REPORT RequestId: ")


def test_request_id_shows_exactly_that_invocation(
    server: RunningServer, env: Env, function: str, account: str
) -> None:
    group = f"/aws/lambda/{function}"
    first, wanted, other = rid(), rid(), rid()
    submit(server, account, group, STREAM_A, invocation_log(first, "one"))
    submit(server, account, group, STREAM_A, invocation_log(wanted, "two", f"mentions {first}"))
    submit(server, account, group, STREAM_B, invocation_log(other, f"asks about {wanted}"))
    lines = lines_of(run(env, "logs", function, "--request-id", wanted))
    assert lines[0] == f"START RequestId: {wanted} Version: $LATEST"
    assert lines[1:4] == ["two", f"mentions {first}", f"END RequestId: {wanted}"]
    assert lines[4].startswith(f"REPORT RequestId: {wanted}\t")
    assert len(lines) == 5
    missing = one_line_error(run(env, "logs", function, "--request-id", rid()))
    assert missing.startswith("error: no lines of request ")


def test_filter_prints_only_matching_lines(
    server: RunningServer, env: Env, function: str, account: str
) -> None:
    group = f"/aws/lambda/{function}"
    submit(server, account, group, STREAM_A, invocation_log(rid(), "[ERROR] boom", "fine"))
    submit(server, account, group, STREAM_B, invocation_log(rid(), "[WARN] hmm"))
    assert lines_of(run(env, "logs", function, "--filter", '?"[ERROR]" ?"[WARN]"')) == [
        "[ERROR] boom",
        "[WARN] hmm",
    ]
    nothing = run(env, "logs", function, "--filter", "NOPE")
    assert lines_of(nothing) == []
    assert "no log lines in" in nothing.stderr


def test_since_leaves_out_older_lines(
    server: RunningServer, env: Env, function: str, account: str
) -> None:
    now = int(time.time() * 1000)
    group = f"/aws/lambda/{function}"
    put_events(server, account, group, STREAM_A, [(now - 2 * 86_400_000, "two days ago\n")])
    put_events(server, account, group, STREAM_A, [(now - 60_000, "a minute ago\n")])
    assert lines_of(run(env, "logs", function, "--since", "10m")) == ["a minute ago"]
    assert lines_of(run(env, "logs", function, "--since", "3d")) == [
        "two days ago",
        "a minute ago",
    ]


def test_follow_prints_new_lines_once_as_they_arrive(
    server: RunningServer,
    env: Env,
    function: str,
    account: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = f"/aws/lambda/{function}"
    submit(server, account, group, STREAM_A, invocation_log(rid(), "before"))
    polls: list[float] = []

    def between_polls(interval: float) -> None:
        polls.append(interval)
        if len(polls) == 1:
            submit(server, account, group, STREAM_B, invocation_log(rid(), "while following"))
        elif len(polls) == 3:
            raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setattr(cli_logs, "_sleep", between_polls)
    printed = lines_of(run(env, "logs", function, "--follow"))
    functions_lines = [line for line in printed if not line.split(" ")[0].isupper()]
    assert functions_lines == ["before", "while following"], "each line once, in order"
    assert len(printed) == 8


def test_a_deleted_functions_logs_stay_readable(
    server: RunningServer, env: Env, name: str, account: str
) -> None:
    submit(server, account, f"/aws/lambda/{name}", STREAM_A, invocation_log(rid(), "last words"))
    assert "last words" in lines_of(run(env, "logs", name))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "yesterday"], "--since expects a number and a unit"),
        (["--filter", '{ $.level = "ERROR" }'], "JSON filter patterns"),
        (["--follow", "--request-id", "x"], "do not go together"),
    ],
)
def test_what_cannot_work_is_one_clear_error(
    env: Env, function: str, args: list[str], says: str
) -> None:
    assert says in one_line_error(run(env, "logs", function, *args))


def test_no_function_and_no_logs_is_an_error(env: Env, name: str) -> None:
    error = one_line_error(run(env, "logs", name))
    assert error == f"error: no function {name} and no log group /aws/lambda/{name}"
