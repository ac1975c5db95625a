"""The Python runtime's handler model in-process (no sandbox needed): loading, AWS's
error objects and log lines, marshalling, and the context object."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.runtime.context import LambdaContext
from lambdalite.runtime.handler import (
    FaultError,
    error_from_exception,
    error_log_line,
    from_json,
    load_handler,
    precompile,
    to_json,
)


@pytest.fixture
def task_root(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("mod_ok", "mod_init", "mod_pre"):
        sys.modules.pop(name, None)


def test_precompiled_module_runs_its_init_once_per_load(task_root: Path) -> None:
    (task_root / "mod_pre.py").write_text(
        "LOADS = []\nLOADS.append(1)\ndef h(e, c):\n    return LOADS\n"
    )
    pre = precompile("mod_pre.h", str(task_root))
    assert pre is not None and pre.code is not None
    handler = load_handler("mod_pre.h", pre)
    assert handler(None, None) == [1]
    assert sys.modules["mod_pre"].__file__ == str(task_root / "mod_pre.py")


def test_precompile_leaves_packages_and_bad_code_to_the_import(task_root: Path) -> None:
    (task_root / "bad.py").write_text("def (:\n")
    assert precompile("bad.h", str(task_root)) is None
    assert precompile("pkg.mod.h", str(task_root)) is None
    assert precompile("nodot", str(task_root)) is None


def test_init_exception_keeps_its_type_and_user_frames(task_root: Path) -> None:
    (task_root / "mod_init.py").write_text("x = 1\nraise KeyError('cfg')\n")
    with pytest.raises(KeyError) as info:
        load_handler("mod_init.h")
    error = error_from_exception(info.value)
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == (
        "KeyError",
        "'cfg'",
        "",
    )
    assert error["stackTrace"][-1].startswith(f'  File "{task_root}/mod_init.py", line 2')


def test_fault_errors_render_as_awslambdaric() -> None:
    with pytest.raises(FaultError) as info:
        load_handler("json.nothere")
    error = error_from_exception(info.value, "rid")
    assert error == {
        "errorMessage": "Handler 'nothere' missing on module 'json'",
        "errorType": "Runtime.HandlerNotFound",
        "requestId": "rid",
        "stackTrace": [],
    }
    with pytest.raises(FaultError, match="Cannot use built-in module sys as a handler module"):
        load_handler("sys.h")


def test_error_log_line_is_one_event_with_nbsp_indent() -> None:
    line = error_log_line(
        {
            "errorType": "ValueError",
            "errorMessage": "bad",
            "stackTrace": [
                '  File "/var/task/app.py", line 3, in h\n    raise ValueError("bad")\n'
            ],
        }
    )
    assert line == (
        "[ERROR] ValueError: bad\rTraceback (most recent call last):\r"
        '\u00a0\u00a0File "/var/task/app.py", line 3, in h\r'
        '\u00a0\u00a0\u00a0\u00a0raise ValueError("bad")\n'
    )


def test_marshalling() -> None:
    assert to_json({"a": [1, "é"]}) == json.dumps({"a": [1, "é"]}).encode()
    assert to_json(b"raw") == b"raw"
    with pytest.raises(FaultError, match="Unable to marshal response: Object of type set"):
        to_json({1})
    with pytest.raises(FaultError, match="Unable to unmarshal input: Expecting value"):
        from_json(b"not json")


def test_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    deadline = int(time.time() * 1000) + 2000
    context = LambdaContext(
        "rid", deadline, "arn:x", {"custom": {"a": 1}, "w3c": {"traceparent": "t"}}, None
    )
    assert (context.function_name, context.memory_limit_in_mb) == ("fn", "512")
    assert 1500 < context.get_remaining_time_in_millis() <= 2000
    assert context.client_context is not None and context.client_context.custom == {"a": 1}
    assert context.identity.cognito_identity_id is None
    assert LambdaContext("r", 0, "a").get_remaining_time_in_millis() == 0
