"""The `lambdalite` command: serve, deploy, ls, rm, accounts.

Every command but `serve` is a thin client of the HTTP API, never of the store.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.config
import click
import httpx
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from rich.console import Console
from rich.table import Table

from lambdalite.cli import logs as function_logs
from lambdalite.cli.bill import bill
from lambdalite.cli.buckets import bucket_commands, cp_command, webhook_commands
from lambdalite.cli.client import target
from lambdalite.cli.layers import follow_build, layer_commands, wait_idle
from lambdalite.cli.packaging import package
from lambdalite.cli.schedules import schedule_commands
from lambdalite.cli.streams import stream_commands
from lambdalite.metering.timing import HEADER as TIMING_HEADER
from lambdalite.metering.timing import describe as describe_timing

# Outside a terminal rich would wrap at 80 columns: long ARNs and error lines must stay
# whole for pipes and scripts (`lambdalite ls | grep`), so soft-wrap and no width cap.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
errors = Console(stderr=True, soft_wrap=True)
# CreateFunction requires a Role; lambdalite has no IAM, so any well-formed ARN does.
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/lambdalite"


@click.group()
@click.version_option(package_name="lambdalite")
def main() -> None:
    """lambdalite: AWS Lambda, self-hosted."""


@main.command("unfirewall")
def unfirewall() -> None:
    """Remove the sandboxes' firewall from this host (root; no server running).

    A server leaves its nftables table `inet lambdalite` in place when it stops, so that
    the sandboxes of any other lambdalite process on the host stay fenced off; this
    takes it away (and IPv4 forwarding, if lambdalite turned it on)."""
    from lambdalite.sandbox.network import remove_firewall, sandbox_links

    if sandbox_links():
        _fail("sandboxes are still running on this host; stop every lambdalite server first")
    if not remove_firewall():
        _fail("no lambdalite firewall to remove (or nft is not installed)")
    console.print("removed the sandbox firewall (nftables table inet lambdalite)")


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 9000).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where state lives (default ~/.lambdalite).",
)
@click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL, e.g. postgresql://... (default: SQLite in the data dir).",
)
def serve(
    host: str | None, port: int | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Start the platform."""
    from lambdalite.server import serve as run
    from lambdalite.settings import Settings

    if database_url and database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    settings = Settings.from_env().with_overrides(
        host=host,
        port=port,
        data_dir=data_dir.expanduser() if data_dir else None,
        database_url=database_url,
    )
    run(settings)


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Function name.")
@click.option("--handler", default=None, help="module.function (default app.handler).")
@click.option("--runtime", default=None, help="Runtime (default python3.11).")
@click.option("--memory", type=int, default=None, help="Memory in MB (128-10240).")
@click.option("--timeout", type=int, default=None, help="Timeout in seconds (1-900).")
@click.option("--env", "env", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--publish", is_flag=True, help="Publish a version after deploying.")
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return once the code is stored; do not follow the build of requirements.txt.",
)
def deploy(
    source: Path,
    name: str,
    handler: str | None,
    runtime: str | None,
    memory: int | None,
    timeout: int | None,
    env: tuple[str, ...],
    publish: bool,
    no_wait: bool,
) -> None:
    """Create or update function NAME from a directory or zip file. A requirements.txt
    (or pyproject.toml's dependencies) in it is installed by the server; its progress is
    shown until the function is Active."""
    variables = dict(_pair(item) for item in env)
    zip_file = package(source)
    config: dict[str, Any] = {}
    if handler is not None:
        config["Handler"] = handler
    if runtime is not None:
        config["Runtime"] = runtime
    if memory is not None:
        config["MemorySize"] = memory
    if timeout is not None:
        config["Timeout"] = timeout
    if env:
        config["Environment"] = {"Variables": variables}
    with _api() as client:
        if _exists(client, name):
            # Another update still building would refuse this one (as on AWS).
            wait_idle(name, client)
            if config:
                client.update_function_configuration(FunctionName=name, **config)
                wait_idle(name, client)
            result = client.update_function_code(FunctionName=name, ZipFile=zip_file)
            verb = "updated"
        else:
            config.setdefault("Handler", "app.handler")
            config.setdefault("Runtime", "python3.11")
            result = client.create_function(
                FunctionName=name, Role=PLACEHOLDER_ROLE, Code={"ZipFile": zip_file}, **config
            )
            verb = "created"
        building = result["State"] == "Pending" or result.get("LastUpdateStatus") == "InProgress"
        if building and not no_wait:
            console.print(f"{verb} {result['FunctionArn']}; installing its dependencies:")
            follow_build(name, console, _fail)
        if publish:
            if building and no_wait:
                _fail("--publish needs the build to finish: leave out --no-wait")
            result = client.publish_version(FunctionName=name)
    version = f" version {result['Version']}" if publish else ""
    console.print(
        f"{verb} {result['FunctionArn']}{version} "
        f"({result['CodeSize']} bytes, sha256 {result['CodeSha256']})"
    )


@main.command("ls")
def list_functions() -> None:
    """List functions."""
    with _api() as client:
        rows = [
            f
            for page in client.get_paginator("list_functions").paginate()
            for f in page["Functions"]
        ]
    table = Table("name", "runtime", "handler", "memory", "timeout", "code", "last modified")
    for f in rows:
        table.add_row(
            f["FunctionName"],
            f["Runtime"],
            f["Handler"],
            f"{f['MemorySize']} MB",
            f"{f['Timeout']} s",
            f"{f['CodeSize']} B",
            f["LastModified"],
        )
    console.print(table if rows else "no functions")


@main.command("rm")
@click.argument("name")
def remove(name: str) -> None:
    """Delete function NAME and all its versions."""
    with _api() as client:
        client.delete_function(FunctionName=name)
    console.print(f"deleted {name}")


@main.command("invoke")
@click.argument("name")
@click.option("--payload", default="{}", help="The event, as JSON (default {}).")
@click.option("--qualifier", default=None, help="A version number or alias.")
@click.option("--tail", is_flag=True, help="Also print the invocation's log tail (stderr).")
@click.option(
    "--async",
    "run_async",
    is_flag=True,
    help="Queue the event (InvocationType Event) and print its request id; do not wait.",
)
@click.option(
    "--timing",
    is_flag=True,
    help="Also print where the time went (stderr): queued, sandbox creation, runtime "
    "start, function init, handler.",
)
def invoke(
    name: str, payload: str, qualifier: str | None, tail: bool, run_async: bool, timing: bool
) -> None:
    """Invoke function NAME and print its result; exit 1 if the function failed."""
    extra: dict[str, Any] = {"Qualifier": qualifier} if qualifier else {}
    if run_async:
        if tail or timing:
            flag = "--tail" if tail else "--timing"
            _fail(f"{flag} needs a synchronous invoke: an --async one returns before it runs")
        with _api() as client:
            response = client.invoke(
                FunctionName=name, Payload=payload.encode(), InvocationType="Event", **extra
            )
        # Accepted means stored: it runs (and retries) on the server from here on.
        console.print(response["ResponseMetadata"]["RequestId"], markup=False, highlight=False)
        return
    with _api() as client:
        response = client.invoke(
            FunctionName=name, Payload=payload.encode(), LogType="Tail" if tail else "None", **extra
        )
        result = response["Payload"].read().decode("utf-8", errors="replace")
    if tail and response.get("LogResult"):
        log_tail = base64.b64decode(response["LogResult"]).decode("utf-8", errors="replace")
        errors.print(log_tail, markup=False, highlight=False, end="")
    took = response["ResponseMetadata"]["HTTPHeaders"].get(TIMING_HEADER.lower())
    if timing and took:
        errors.print(describe_timing(took), markup=False, highlight=False)
    console.print(result, markup=False, highlight=False)
    if response.get("FunctionError"):
        errors.print(
            f"error: the function failed ({response['FunctionError']}) in version "
            f"{response.get('ExecutedVersion')}",
            markup=False,
        )
        sys.exit(1)


@main.command("logs")
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option(
    "--since", default=None, help="Only lines this recent: 30s, 10m, 2h, 7d (default: all)."
)
@click.option(
    "--filter", "pattern", default=None, help='A filter pattern: ERROR, "a phrase", ?A ?B, -term.'
)
@click.option("--request-id", default=None, help="Only this invocation's lines, START to REPORT.")
def logs(
    name: str, follow: bool, since: str | None, pattern: str | None, request_id: str | None
) -> None:
    """Print function NAME's log lines in time order."""
    if follow and request_id:
        _fail("--follow and --request-id do not go together: an invocation ends at its REPORT")
    with _api() as client:
        try:
            start = function_logs.since_ms(since, function_logs.now_ms()) if since else None
            group, found = function_logs.log_group(client, name)
            reader = function_logs.LogReader(function_logs.logs_client(target()), group, pattern)
        except ValueError as exc:  # a --since or --filter that cannot be read
            _fail(str(exc))
        if follow:
            function_logs.follow(function_logs.Follower(reader, start), _print_event)
            return
        events = reader.invocation(request_id, start) if request_id else list(reader.events(start))
        if not events and not found and not reader.exists():
            _fail(f"no function {name} and no log group {group}")
        if not events and request_id:
            _fail(f"no lines of request {request_id} in {group}")
        if not events:
            since_text = f" from the last {since}" if since else ""
            matching = f" matching {pattern}" if pattern else ""
            errors.print(f"no log lines in {group}{since_text}{matching}", markup=False)
        for event in events:
            _print_event(event)


def _print_event(event: dict[str, Any]) -> None:
    click.echo(event["message"].removesuffix("\n"))


@main.group()
def queues() -> None:
    """The built-in SQS queues: list, create, send, receive."""


@queues.command("ls")
def list_queues() -> None:
    """List queues and how many messages each holds."""
    counted = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    table = Table("name", "visible", "in flight", "delayed", "url")
    with _api("sqs") as sqs:
        pages = sqs.get_paginator("list_queues").paginate()
        urls = [url for page in pages for url in page.get("QueueUrls", [])]
        for url in urls:
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counted))
            table.add_row(url.rsplit("/", 1)[-1], *(found["Attributes"][n] for n in counted), url)
    console.print(table if urls else "no queues")


@queues.command("create")
@click.argument("name")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    help="NAME=VALUE, e.g. VisibilityTimeout=60 (repeatable). A NAME ending .fifo is FIFO.",
)
def create_queue(name: str, attributes: tuple[str, ...]) -> None:
    """Create queue NAME (or find the same one) and print its URL."""
    given = dict(_pair(item, "--attribute") for item in attributes)
    if name.endswith(".fifo"):
        given.setdefault("FifoQueue", "true")
    with _api("sqs") as sqs:
        url = sqs.create_queue(QueueName=name, Attributes=given)["QueueUrl"]
    console.print(url, markup=False, highlight=False)


@queues.command("send")
@click.argument("name")
@click.argument("body")
@click.option("--group", default=None, help="MessageGroupId (FIFO queues).")
@click.option("--dedup-id", default=None, help="MessageDeduplicationId (FIFO queues).")
def send_message(name: str, body: str, group: str | None, dedup_id: str | None) -> None:
    """Send BODY to queue NAME and print the message id."""
    extra = {"MessageGroupId": group, "MessageDeduplicationId": dedup_id}
    with _api("sqs") as sqs:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sent = sqs.send_message(
            QueueUrl=url, MessageBody=body, **{k: v for k, v in extra.items() if v}
        )
    console.print(sent["MessageId"], markup=False, highlight=False)


@queues.command("receive")
@click.argument("name")
@click.option("--max", "max_messages", type=click.IntRange(1, 10), default=1, show_default=True)
@click.option("--wait", type=click.IntRange(0, 20), default=0, help="Long-poll up to S seconds.")
@click.option("--delete", is_flag=True, help="Delete the messages once printed.")
def receive_messages(name: str, max_messages: int, wait: int, delete: bool) -> None:
    """Receive up to --max messages from queue NAME: one line each, its id then its body.
    Without --delete they return to the queue after its visibility timeout."""
    with _api("sqs") as sqs:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait
        ).get("Messages", [])
        for message in messages:
            console.print(
                f"{message['MessageId']} {message['Body']}", markup=False, highlight=False
            )
        if delete and messages:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    if not messages:
        errors.print(f"no messages in {name}", markup=False)


@main.group()
def mappings() -> None:
    """Event source mappings: a function run on batches of a queue's messages."""


@mappings.command("ls")
@click.option("--function", default=None, help="Only this function's mappings.")
def list_mappings(function: str | None) -> None:
    """List event source mappings."""
    params = {"FunctionName": function} if function else {}
    with _api() as client:
        pages = client.get_paginator("list_event_source_mappings").paginate(**params)
        rows = [m for page in pages for m in page["EventSourceMappings"]]
    table = Table("uuid", "function", "queue", "state", "batch size", "window")
    for m in rows:
        table.add_row(
            m["UUID"],
            m["FunctionArn"].split(":function:", 1)[-1],
            m["EventSourceArn"].rsplit(":", 1)[-1],
            m["State"],
            str(m["BatchSize"]),
            f"{m['MaximumBatchingWindowInSeconds']} s",
        )
    console.print(table if rows else "no event source mappings")


@mappings.command("create")
@click.option("--function", required=True, help="Function name (or ARN, or name:qualifier).")
@click.option("--queue", required=True, help="Queue name or ARN.")
@click.option("--batch-size", type=int, default=None, help="Messages per invocation (default 10).")
@click.option("--window", type=int, default=None, help="Seconds to gather a batch (0-300).")
@click.option(
    "--report-failures",
    is_flag=True,
    help="The function reports failed messages (partial batches).",
)
def create_mapping(
    function: str, queue: str, batch_size: int | None, window: int | None, report_failures: bool
) -> None:
    """Run FUNCTION on batches of QUEUE's messages."""
    arn = queue
    if not queue.startswith("arn:"):
        with _api("sqs") as sqs:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            arn = found["Attributes"]["QueueArn"]
    params: dict[str, Any] = {"FunctionName": function, "EventSourceArn": arn}
    if batch_size is not None:
        params["BatchSize"] = batch_size
    if window is not None:
        params["MaximumBatchingWindowInSeconds"] = window
    if report_failures:
        params["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    with _api() as client:
        created = client.create_event_source_mapping(**params)
    console.print(
        f"{created['UUID']} {created['State']}: {arn} -> {created['FunctionArn']}, "
        f"batches of up to {created['BatchSize']}",
        markup=False,
        highlight=False,
    )


@mappings.command("rm")
@click.argument("uuid")
def remove_mapping(uuid: str) -> None:
    """Delete event source mapping UUID."""
    with _api() as client:
        deleted = client.delete_event_source_mapping(UUID=uuid)
    console.print(f"{uuid} {deleted['State']}", markup=False, highlight=False)


@main.group()
def accounts() -> None:
    """Manage accounts (root account only)."""


@accounts.command("create")
@click.argument("name")
def create_account(name: str) -> None:
    """Create account NAME and print its access key (shown once)."""
    with _api():
        response = target().signed_post("/_lambdalite/accounts", {"Name": name})
    try:
        body = response.json()
    except ValueError:
        _fail(f"unexpected answer from {target().endpoint} (HTTP {response.status_code})")
    if response.status_code != 201:
        _fail(
            f"{response.headers.get('x-amzn-ErrorType', response.status_code)}: "
            f"{body.get('message') or body.get('Message')}"
        )
    console.print(f"account {body['Name']} ({body['AccountId']}); add to ~/.aws/credentials:\n")
    console.print(
        f"[{body['Name']}]\naws_access_key_id = {body['AccessKeyId']}\n"
        f"aws_secret_access_key = {body['SecretAccessKey']}",
        markup=False,
    )


def _exists(client: Any, name: str) -> bool:
    try:
        client.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


def _pair(item: str, option: str = "--env") -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        _fail(f"{option} expects KEY=VALUE, got {item!r}")
    return key, value


@contextmanager
def _api(service: str = "lambda") -> Iterator[Any]:
    """A Lambda (or `service`) client; API and connection errors become one clear line
    and exit 1."""
    endpoint = target().endpoint
    try:
        if service == "lambda":
            yield target().lambda_client()
        else:
            # Long polls last up to 20 s; one attempt, as for Lambda calls.
            config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60)
            yield target().session.client(service, endpoint_url=endpoint, config=config)
    except ClientError as exc:
        error = exc.response["Error"]
        _fail(f"{error.get('Code')}: {error.get('Message')}")
    except (EndpointConnectionError, httpx.TransportError):
        _fail(
            f"cannot reach lambdalite at {endpoint}: is `lambdalite serve` running? "
            "(set LAMBDALITE_ENDPOINT to use another address)"
        )
    except NoCredentialsError:
        _fail(
            "no credentials: run this on the server's machine (it reads "
            "~/.lambdalite/credentials, or LAMBDALITE_DATA_DIR/credentials), or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    except BotoCoreError as exc:  # e.g. boto3's own parameter validation
        _fail(" ".join(str(exc).split()))
    except OSError as exc:
        _fail(str(exc))


def _fail(message: str) -> Any:
    errors.print(f"error: {message}", markup=False)
    sys.exit(1)


main.add_command(schedule_commands(_api, console, _fail))
main.add_command(bill)
main.add_command(layer_commands(_api, console, _fail))
main.add_command(bucket_commands(console, _fail))
main.add_command(cp_command(console, _fail))
main.add_command(webhook_commands(console, _fail))
main.add_command(stream_commands(_api, console, _fail))
