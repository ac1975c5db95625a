"""Running lambdalite's CLI in tests: in process (click's runner), against a test server,
with the root key in AWS_* variables and nothing from this machine's AWS setup."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from lambdalite.cli.main import main
from tests.support.servers import ROOT_KEY, ROOT_SECRET

Env = dict[str, str | None]


def cli_env(endpoint: str, tmp_path: Path) -> Env:
    return {
        "LAMBDALITE_ENDPOINT": endpoint,
        "LAMBDALITE_DATA_DIR": str(tmp_path / "no-data-dir"),
        "AWS_ACCESS_KEY_ID": ROOT_KEY,
        "AWS_SECRET_ACCESS_KEY": ROOT_SECRET,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
        "AWS_REGION": None,
        "AWS_DEFAULT_REGION": None,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


def run(env: Env, *args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def succeeded(result: Result) -> str:
    """The output of a command that must succeed, with rich's line wrapping undone."""
    assert result.exit_code == 0, (result.output, result.exception)
    return " ".join(result.stdout.split())


def one_line_error(result: Result) -> str:
    """A failed command's error: exit 1, no traceback, one `error: ...` line on stderr."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), f"crashed with {result.exception!r}"
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {result.stderr!r}"
    assert lines[0].startswith("error: ")
    return lines[0]
