"""Directory buckets end to end on a running server: the API and CLI that make them and
their notifications, uploads with `lambdalite cp` and with any other tool, and what the
function receives (S3's event notification, field by field against AWS's example),
through the async path, with real sandboxes; accounts kept apart; restarts.

The server runs no watcher or delivery loop of its own: tests drive both with
`run_once` (no sleeping) and read what functions printed from the stored logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import pytest

from tests.compat.test_invoke import stored_lines
from tests.conftest import create, make_zip
from tests.support.cli import cli_env, one_line_error, run, succeeded
from tests.support.servers import ROOT_KEY, ROOT_SECRET, RunningServer, start_server

AWS_EXAMPLE = Path(__file__).parents[1] / "fixtures" / "aws-events" / "s3-put.json"
PRINTER = "import json\n\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
runs = pytest.mark.sandbox  # the tests that run functions need real sandboxes


def quiet_server(data_dir: Path) -> RunningServer:
    return start_server(data_dir, async_poll_interval_seconds=0, bucket_poll_interval_seconds=0)


@pytest.fixture(scope="module")
def bserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = quiet_server(tmp_path_factory.mktemp("buckets"))
    yield running
    running.stop()


@pytest.fixture
def lam(bserver: RunningServer) -> Any:
    return bserver.client()


@pytest.fixture
def bucket() -> str:
    return f"b-{uuid.uuid4().hex[:12]}"


def api(
    server: RunningServer,
    method: str,
    path: str,
    document: Any = None,
    content: bytes = b"",
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
) -> httpx.Response:
    """A call to lambdalite's own endpoints, signed as the CLI signs it."""
    body = json.dumps(document).encode() if document is not None else content
    url = server.endpoint + path
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    credentials = botocore.credentials.Credentials(key, secret)
    botocore.auth.SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    return httpx.request(method, url, content=body, headers=dict(request.headers.items()))


def on_loop(server: RunningServer, work: Any) -> Any:
    loop = server.platform.engine._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(work, loop).result(timeout=120)


def watch(server: RunningServer) -> int:
    """Watcher passes until nothing is left pending; how many changes were notified."""
    buckets = server.platform.buckets
    assert buckets is not None
    notified = on_loop(server, buckets.watcher.run_once())
    for _ in range(5):
        if not buckets.watcher.pending:
            break
        notified += on_loop(server, buckets.watcher.run_once())
    return int(notified)


def deliver(server: RunningServer) -> int:
    events = server.platform.async_invocations
    assert events is not None
    return int(on_loop(server, events.delivery.run_once()))


def received(server: RunningServer, function: str) -> list[dict[str, Any]]:
    """The events the function printed, in the order they ran."""
    account = server.platform.root.account.account_id
    lines = [line for lines in stored_lines(server, account, function).values() for line in lines]
    return [json.loads(line[len("EVENT ") :]) for line in lines if line.startswith("EVENT ")]


def make_bucket(server: RunningServer, name: str, **extra: Any) -> dict[str, Any]:
    response = api(server, "POST", "/_lambdalite/buckets", {"Name": name, **extra})
    assert response.status_code == 201, response.text
    watch(server)  # the watcher takes the new bucket on before anything is written
    found: dict[str, Any] = response.json()
    return found


def notify(server: RunningServer, bucket: str, function: str, **filters: str) -> str:
    rules = [{"Name": name, "Value": value} for name, value in filters.items()]
    item: dict[str, Any] = {"LambdaFunctionArn": function, "Events": ["s3:ObjectCreated:*"]}
    if rules:
        item["Filter"] = {"Key": {"FilterRules": rules}}
    response = api(server, "POST", f"/_lambdalite/buckets/{bucket}/notification", item)
    assert response.status_code == 200, response.text
    identifier: str = response.json()["LambdaFunctionConfigurations"][-1]["Id"]
    return identifier


def put(server: RunningServer, bucket: str, key: str, data: bytes) -> httpx.Response:
    quoted = "/".join(part.replace(" ", "%20") for part in key.split("/"))
    return api(server, "PUT", f"/_lambdalite/buckets/{bucket}/objects/{quoted}", content=data)


def shape(value: Any) -> Any:
    """The keys of a JSON document, nested, without the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


# -- the event ------------------------------------------------------------------------------


@runs
def test_an_upload_runs_the_function_with_s3s_event(
    bserver: RunningServer, lam: Any, name: str, bucket: str
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
    made = make_bucket(bserver, bucket)
    configuration = notify(bserver, bucket, name, Prefix="uploads/", Suffix=".jpg")
    data = b"\xff\xd8\xff" + b"jpeg" * 1000
    assert put(bserver, bucket, "uploads/red flower.jpg", data).status_code == 200
    assert watch(bserver) == 1
    assert deliver(bserver) == 1
    (event,) = received(bserver, name)

    example = json.loads(AWS_EXAMPLE.read_text())
    (expected,) = example["Records"]
    del expected["s3"]["object"]["versionId"]  # only for versioned buckets
    (record,) = event["Records"]
    assert shape(record) == shape(expected), "the same members, nested, in AWS's order"
    assert list(record) == list(expected)
    for member in ("eventVersion", "eventSource", "awsRegion", "eventName"):
        assert record[member] == expected[member]
    assert TIME.fullmatch(record["eventTime"])
    account = bserver.platform.root.account.account_id
    assert record["userIdentity"] == {"principalId": f"AWS:{account}"}
    assert re.fullmatch(r"[0-9A-F]{16}", record["responseElements"]["x-amz-request-id"])
    assert record["s3"]["s3SchemaVersion"] == "1.0"
    assert record["s3"]["configurationId"] == configuration
    assert record["s3"]["bucket"] == {
        "name": bucket,
        "ownerIdentity": {"principalId": account},
        "arn": f"arn:aws:s3:::{bucket}",
    }
    obj = record["s3"]["object"]
    assert obj["key"] == "uploads/red+flower.jpg"  # URL-encoded as S3 does
    assert obj["size"] == len(data)
    assert obj["eTag"] == hashlib.md5(data).hexdigest()
    assert re.fullmatch(r"[0-9A-F]{18}", obj["sequencer"])
    assert Path(made["Path"], "uploads", "red flower.jpg").read_bytes() == data


@runs
def test_prefix_and_suffix_filters_choose_the_keys(
    bserver: RunningServer, lam: Any, name: str, bucket: str
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
    made = make_bucket(bserver, bucket)
    notify(bserver, bucket, name, Prefix="in/", Suffix=".png")
    root = Path(made["Path"])
    (root / "in").mkdir()
    (root / "out").mkdir()
    for key in ("in/a.png", "in/b.jpg", "out/c.png", "in/d.png"):
        (root / key).write_bytes(key.encode())
    assert watch(bserver) == 4  # every change is recorded; two match the filter
    assert deliver(bserver) == 2
    keys = sorted(e["Records"][0]["s3"]["object"]["key"] for e in received(bserver, name))
    assert keys == ["in/a.png", "in/d.png"]


@runs
def test_files_written_by_any_process_trigger_sequencers_increase(
    bserver: RunningServer, lam: Any, name: str, bucket: str, tmp_path: Path
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
    made = make_bucket(bserver, bucket)
    notify(bserver, bucket, name)
    source = tmp_path / "report.csv"
    for version in (b"a,b\n1,2\n", b"a,b\n1,2\n3,4\n"):
        source.write_bytes(version)
        subprocess.run(["cp", str(source), str(Path(made["Path"]) / "report.csv")], check=True)
        assert watch(bserver) == 1
    assert deliver(bserver) == 2
    objects = [e["Records"][0]["s3"]["object"] for e in received(bserver, name)]
    objects.sort(key=lambda o: o["sequencer"])
    assert [o["size"] for o in objects] == [8, 12]
    assert objects[0]["sequencer"] < objects[1]["sequencer"]


# -- the API and the CLI --------------------------------------------------------------------


@runs
def test_the_cli_makes_buckets_notifies_and_uploads(
    bserver: RunningServer, lam: Any, name: str, bucket: str, tmp_path: Path
) -> None:
    create(lam, name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
    env = cli_env(bserver.endpoint, tmp_path)
    out = succeeded(run(env, "buckets", "create", bucket))
    assert out.startswith(f"arn:aws:s3:::{bucket} (")
    out = succeeded(run(env, "buckets", "notify", bucket, "--function", name, "--suffix", ".txt"))
    assert f"-> {name} s3:ObjectCreated:* suffix=.txt" in out
    # Notifying the same again replaces, never doubles.
    succeeded(run(env, "buckets", "notify", bucket, "--function", name, "--suffix", ".txt"))
    listing = succeeded(run(env, "buckets", "ls"))
    assert listing.count(f"-> {name}") >= 1 and bucket in listing
    described = api(bserver, "GET", f"/_lambdalite/buckets/{bucket}").json()
    assert len(described["LambdaFunctionConfigurations"]) == 1
    watch(bserver)
    note = tmp_path / "hello world.txt"
    note.write_text("hi")
    out = succeeded(run(env, "cp", note, f"{bucket}/notes/"))
    assert f"-> {bucket}/notes/hello world.txt (2 bytes" in out
    assert watch(bserver) == 1
    assert deliver(bserver) == 1
    (event,) = received(bserver, name)
    assert event["Records"][0]["s3"]["object"]["key"] == "notes/hello+world.txt"
    got = api(bserver, "GET", f"/_lambdalite/buckets/{bucket}/objects/notes/hello%20world.txt")
    assert got.content == b"hi"
    error = one_line_error(run(env, "cp", note, "no-such-bucket/x.txt"))
    assert "NoSuchBucket" in error
    identifier = described["LambdaFunctionConfigurations"][0]["Id"]
    succeeded(run(env, "buckets", "unnotify", bucket, identifier))
    assert api(bserver, "GET", f"/_lambdalite/buckets/{bucket}/notification").json() == {
        "LambdaFunctionConfigurations": []
    }
    succeeded(run(env, "buckets", "rm", bucket))
    assert bucket not in succeeded(run(env, "buckets", "ls"))


def test_bad_requests_are_refused_clearly(bserver: RunningServer, bucket: str) -> None:
    made = make_bucket(bserver, bucket)
    again = api(bserver, "POST", "/_lambdalite/buckets", {"Name": bucket})
    assert again.status_code == 409
    bad_name = api(bserver, "POST", "/_lambdalite/buckets", {"Name": "Not_A_Bucket"})
    assert bad_name.status_code == 400
    assert "naming rules" in bad_name.json()["message"]
    unknown = api(bserver, "PUT", "/_lambdalite/buckets/nope-nope/objects/a.txt", content=b"x")
    assert unknown.status_code == 404
    assert unknown.headers["x-amzn-ErrorType"] == "NoSuchBucket"
    for key in ("a//b.txt", ".lambdalite-tmp-1", "a/%2E%2E/b"):
        refused = api(bserver, "PUT", f"/_lambdalite/buckets/{bucket}/objects/{key}", content=b"x")
        assert refused.status_code == 400, key
    missing_function = api(
        bserver,
        "PUT",
        f"/_lambdalite/buckets/{bucket}/notification",
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "nope", "Events": ["s3:x:*"]}]},
    )
    assert missing_function.status_code == 400
    assert "Unable to validate" in missing_function.json()["message"]
    unsigned = httpx.get(f"{bserver.endpoint}/_lambdalite/buckets")
    assert unsigned.status_code == 403
    # A link planted in the bucket's directory is never followed by the objects API.
    (Path(made["Path"]) / "passwd").symlink_to("/etc/passwd")
    linked = api(bserver, "GET", f"/_lambdalite/buckets/{bucket}/objects/passwd")
    assert linked.status_code == 400
    assert b"root:" not in linked.content


def test_accounts_are_kept_apart(bserver: RunningServer, lam: Any, bucket: str) -> None:
    other = api(bserver, "POST", "/_lambdalite/accounts", {"Name": f"acct-{uuid.uuid4().hex[:8]}"})
    assert other.status_code == 201
    theirs = other.json()
    their_key, their_secret = theirs["AccessKeyId"], theirs["SecretAccessKey"]
    their_function = f"fn-{uuid.uuid4().hex[:8]}"
    create(bserver.client(key=their_key, secret=their_secret), their_function)
    make_bucket(bserver, bucket)
    arn = f"arn:aws:lambda:us-east-1:{theirs['AccountId']}:function:{their_function}"
    refused = api(
        bserver,
        "PUT",
        f"/_lambdalite/buckets/{bucket}/notification",
        {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:x:*"]}]},
    )
    assert refused.status_code == 403
    assert "own account" in refused.json()["Message"]
    assert put(bserver, bucket, "mine.txt", b"root's").status_code == 200
    as_them = {"key": their_key, "secret": their_secret}
    path = f"/_lambdalite/buckets/{bucket}/objects/mine.txt"
    assert api(bserver, "GET", path, **as_them).status_code == 404
    assert api(bserver, "GET", "/_lambdalite/buckets", **as_them).json()["Buckets"] == []
    # Only root may make a bucket of a directory it names: others could read any file.
    document = {"Name": "x" + bucket, "Path": "/etc"}
    named = api(bserver, "POST", "/_lambdalite/buckets", document, **as_them)
    assert named.status_code == 403


def test_a_named_directory_must_not_overlap_the_data_dir_or_another_bucket(
    bserver: RunningServer, bucket: str, tmp_path: Path
) -> None:
    document = {"Name": bucket, "Path": str(bserver.data_dir)}
    inside = api(bserver, "POST", "/_lambdalite/buckets", document)
    assert inside.status_code == 400
    assert "data directory" in inside.json()["message"]
    (tmp_path / "photos" / "2025").mkdir(parents=True)
    assert make_bucket(bserver, bucket, Path=str(tmp_path / "photos"))["Path"] == str(
        tmp_path / "photos"
    )
    document = {"Name": "n" + bucket, "Path": str(tmp_path / "photos" / "2025")}
    nested = api(bserver, "POST", "/_lambdalite/buckets", document)
    assert nested.status_code == 400
    assert "another bucket" in nested.json()["message"]
    relative = api(bserver, "POST", "/_lambdalite/buckets", {"Name": "r" + bucket, "Path": "x"})
    assert relative.status_code == 400


# -- restarts -------------------------------------------------------------------------------


@runs
def test_a_restart_neither_loses_nor_repeats_notifications(tmp_path: Path, name: str) -> None:
    server = quiet_server(tmp_path / "data")
    try:
        create(server.client(), name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
        made = make_bucket(server, "photos")
        notify(server, "photos", name)
        root = Path(made["Path"])
        (root / "a.jpg").write_bytes(b"a")
        (root / "b.jpg").write_bytes(b"b")
        assert watch(server) == 2  # recorded and enqueued; not delivered yet
    finally:
        server.stop()
    # While it is down: one file changes, one is added, one stays as it was.
    (root / "b.jpg").write_bytes(b"b, edited")
    (root / "c.jpg").write_bytes(b"c")
    server = quiet_server(tmp_path / "data")
    try:
        assert watch(server) == 2
        assert watch(server) == 0
        assert deliver(server) == 4  # the two accepted before the restart ran too
        keys = sorted(
            (e["Records"][0]["s3"]["object"]["key"], e["Records"][0]["s3"]["object"]["size"])
            for e in received(server, name)
        )
        assert keys == [("a.jpg", 1), ("b.jpg", 1), ("b.jpg", 9), ("c.jpg", 1)]
    finally:
        server.stop()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
