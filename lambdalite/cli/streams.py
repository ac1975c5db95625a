"""`lambdalite streams add|ls|rm|map`: Redis streams registered under Kinesis-style names,
and event source mappings that read them (the same CreateEventSourceMapping call boto3
makes, with the stream's `arn:aws:kinesis:...` ARN).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lambdalite.cli.signed import Fail, call, quoted

# main's `_api(service)`: a boto3 client whose errors become one line and exit 1.
Api = Callable[[str], AbstractContextManager[Any]]
STREAMS = "/_lambdalite/streams"


def stream_commands(api: Api, console: Console, fail: Fail) -> click.Group:
    @click.group("streams")
    def streams() -> None:
        """Redis streams that functions read in batches, as Lambda reads Kinesis."""

    @streams.command("add")
    @click.argument("name")
    @click.option("--redis", "url", required=True, help="redis://[user:password@]host[:port][/db].")
    @click.option("--key", default=None, help="The Redis stream's key (default: NAME).")
    def add(name: str, url: str, key: str | None) -> None:
        """Register stream NAME (a Redis stream) and print its ARN."""
        document: dict[str, Any] = {"StreamName": name, "RedisUrl": url}
        if key:
            document["Key"] = key
        found = call(fail, "POST", STREAMS, document).json()
        console.print(
            f"{found['StreamArn']} -> {found['Redis']} key {found['Key']}",
            markup=False,
            highlight=False,
        )

    @streams.command("ls")
    def list_streams() -> None:
        """List registered streams."""
        found = call(fail, "GET", STREAMS).json()["Streams"]
        table = Table("name", "redis", "key", "arn")
        for stream in found:
            table.add_row(stream["StreamName"], stream["Redis"], stream["Key"], stream["StreamArn"])
        console.print(table if found else "no streams")

    @streams.command("rm")
    @click.argument("name")
    def remove(name: str) -> None:
        """Forget stream NAME (refused while a mapping reads it)."""
        call(fail, "DELETE", f"{STREAMS}/{quoted(name)}")
        console.print(f"deleted stream {name}", markup=False, highlight=False)

    @streams.command("map")
    @click.argument("name")
    @click.option("--function", "function", required=True, help="Function name, ARN or name:alias.")
    @click.option(
        "--starting-position",
        type=click.Choice(["TRIM_HORIZON", "LATEST"]),
        default="LATEST",
        show_default=True,
    )
    @click.option("--batch-size", type=int, default=None, help="Records per batch (default 100).")
    @click.option("--window", type=int, default=None, help="Seconds to gather a batch (0-300).")
    @click.option("--retries", type=int, default=None, help="MaximumRetryAttempts (-1: forever).")
    @click.option("--bisect", is_flag=True, help="Split a failing batch in two and retry each.")
    @click.option("--report-failures", is_flag=True, help="The function reports failed items.")
    @click.option("--on-failure", default=None, help="A queue ARN for discarded batches' records.")
    def map_stream(
        name: str,
        function: str,
        starting_position: str,
        batch_size: int | None,
        window: int | None,
        retries: int | None,
        bisect: bool,
        report_failures: bool,
        on_failure: str | None,
    ) -> None:
        """Run FUNCTION on batches of stream NAME's records."""
        arn = next(
            (
                s["StreamArn"]
                for s in call(fail, "GET", STREAMS).json()["Streams"]
                if s["StreamName"] == name
            ),
            None,
        )
        if arn is None:
            fail(f"no stream {name}: register it with `lambdalite streams add {name} --redis URL`")
        params: dict[str, Any] = {
            "FunctionName": function,
            "EventSourceArn": arn,
            "StartingPosition": starting_position,
        }
        optional = {
            "BatchSize": batch_size,
            "MaximumBatchingWindowInSeconds": window,
            "MaximumRetryAttempts": retries,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        if bisect:
            params["BisectBatchOnFunctionError"] = True
        if report_failures:
            params["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        if on_failure:
            params["DestinationConfig"] = {"OnFailure": {"Destination": on_failure}}
        with api("lambda") as client:
            created = client.create_event_source_mapping(**params)
        console.print(
            f"{created['UUID']} {created['State']}: {arn} -> {created['FunctionArn']}, "
            f"batches of up to {created['BatchSize']} from {created['StartingPosition']}",
            markup=False,
            highlight=False,
        )

    return streams
