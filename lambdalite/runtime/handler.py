"""Finding and calling a Python handler, and AWS's error payloads when that fails.

The messages and error types are awslambdaric 4.2.2's (`bootstrap.py`, `_get_handler`,
`make_error`, `log_error`), so an error a user sees here reads exactly as on AWS:

    Runtime.MalformedHandlerName   Bad handler 'x': not enough values to unpack ...
    Runtime.ImportModuleError      Unable to import module 'app': No module named 'app'
    Runtime.UserCodeSyntaxError    Syntax error in module 'app': invalid syntax (app.py, line 1)
    Runtime.HandlerNotFound        Handler 'handler' missing on module 'app'
    <the exception's own type>     an exception raised by the module's init code

The zygote compiles the handler module once (`precompile`), and every sandbox forked from
it executes that code object in a fresh module (`load_handler`): the function's init code
still runs once per sandbox, as on AWS, but no sandbox pays for reading and compiling it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, NamedTuple

Handler = Callable[[Any, Any], Any]

# Frames of lambdalite's own runtime are cut from the top of a stack trace, as
# awslambdaric cuts its bootstrap.py frames.
_OWN_FILES = (os.path.dirname(__file__),)
LOG_INDENT = "\u00a0"  # awslambdaric indents traceback lines with NO-BREAK SPACE


class FaultError(Exception):
    """A runtime fault with an AWS error type (`Runtime.*`) and a prepared stack trace."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class Precompiled(NamedTuple):
    """What the zygote prepared for its handler module: a code object, or nothing."""

    module: str
    path: str | None = None
    code: types.CodeType | None = None


def precompile(handler: str, task_root: str) -> Precompiled | None:
    """Compile a top-level handler module; `None` leaves everything to `import_module`.

    Any problem (a package, a missing file, a syntax error) is left for the sandbox to
    meet again through the normal import, so the error it reports is the same either way.
    """
    modname = handler.rsplit(".", 1)[0] if "." in handler else ""
    if not modname or "." in modname or "/" in modname:
        return None
    path = os.path.join(task_root, f"{modname}.py")
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None
    return Precompiled(modname, path, code)


def _import(modname: str, pre: Precompiled | None) -> types.ModuleType:
    dotted = modname.replace("/", ".")
    if pre is None or pre.module != dotted or pre.code is None or pre.path is None:
        return importlib.import_module(dotted)
    spec = importlib.util.spec_from_file_location(dotted, pre.path)
    if spec is None:
        return importlib.import_module(dotted)
    module = importlib.util.module_from_spec(spec)
    sys.modules[dotted] = module
    try:
        exec(pre.code, module.__dict__)
    except BaseException:
        sys.modules.pop(dotted, None)
        raise
    return module


def load_handler(handler: str, pre: Precompiled | None = None) -> Handler:
    """Import the handler's module (running its init code) and return the function."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from e
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultError(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {modname} as a handler module",
            )
        module = _import(modname, pre)
    except ImportError as e:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}"
        ) from e
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace
        ) from e
    try:
        found: Handler = getattr(module, fname)
    except AttributeError as e:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from e
    return found


def make_error(
    message: str, error_type: str, trace: list[str], request_id: str = ""
) -> dict[str, Any]:
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id,
        "stackTrace": trace,
    }


def error_from_exception(exc: BaseException, request_id: str = "") -> dict[str, Any]:
    """The error object of an uncaught exception, its stack trace starting in user code."""
    if isinstance(exc, FaultError):
        return make_error(exc.message, exc.error_type, exc.trace, request_id)
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename.startswith(_OWN_FILES):
        frames = traceback.StackSummary.from_list(list(frames)[1:])
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def error_log_line(error: dict[str, Any]) -> str:
    """awslambdaric's text log line of an error: one CloudWatch event, `\\r` joined."""
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + str(error["errorType"])
    if error.get("errorMessage"):
        head += (":" if error.get("errorType") else "") + " " + str(error["errorMessage"])
    lines = [head, "Traceback (most recent call last):"]
    for element in error.get("stackTrace") or []:
        for line in str(element).splitlines():
            stripped = line.lstrip(" ")
            lines.append(LOG_INDENT * (len(line) - len(stripped)) + stripped)
    return "\r".join(lines) + "\n"


def to_json(value: Any) -> bytes:
    """Marshal a handler's result; bytes pass through as awslambdaric lets them."""
    if isinstance(value, bytes):
        return value
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (TypeError, ValueError) as e:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {e}") from e


def from_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError as e:
        raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from e
