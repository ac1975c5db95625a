"""`lambdalite buckets ...`, `lambdalite cp` and `lambdalite webhooks ...`: buckets, their
notifications, uploads and the S3 webhook's secrets, through lambdalite's own signed
endpoints (never the store: the CLI may run on another machine than the server).

Built by functions taking main's console and `_fail`, so that main adds the commands
without this module importing main (which imports this module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from lambdalite.cli.client import target
from lambdalite.cli.signed import Fail, call, quoted

EVENT_TYPES = {
    "created": ["s3:ObjectCreated:*"],
    "removed": ["s3:ObjectRemoved:*"],
    "all": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
}
BUCKETS = "/_lambdalite/buckets"


def bucket_commands(console: Console, fail: Fail) -> click.Group:
    @click.group("buckets")
    def buckets() -> None:
        """Buckets whose new files run functions with S3's event (directories here, or
        S3-compatible stores through the webhook)."""

    @buckets.command("create")
    @click.argument("name")
    @click.option("--path", default=None, help="An existing directory on the server (root).")
    @click.option(
        "--external", is_flag=True, help="A bucket of an S3-compatible store (fed by webhook)."
    )
    def create(name: str, path: str | None, external: bool) -> None:
        """Create bucket NAME (a directory under the data dir unless --path/--external)."""
        document: dict[str, Any] = {"Name": name, "External": external}
        if path is not None:
            document["Path"] = path
        found = call(fail, "POST", BUCKETS, document).json()
        where = found.get("Path") or "external: notified through /_lambdalite/webhooks/s3"
        console.print(f"{found['Arn']} ({where})", markup=False, highlight=False)

    @buckets.command("ls")
    def list_buckets() -> None:
        """List buckets and the functions they notify."""
        found = call(fail, "GET", BUCKETS).json()["Buckets"]
        table = Table("name", "kind", "path", "notifies")
        for bucket in found:
            notifies = [_describe(n) for n in bucket["LambdaFunctionConfigurations"]]
            table.add_row(
                bucket["Name"], bucket["Kind"], bucket.get("Path", "-"), "\n".join(notifies) or "-"
            )
        console.print(table if found else "no buckets")

    @buckets.command("rm")
    @click.argument("name")
    def remove(name: str) -> None:
        """Forget bucket NAME (its directory and files stay on disk)."""
        call(fail, "DELETE", f"{BUCKETS}/{quoted(name)}")
        console.print(f"deleted bucket {name}", markup=False, highlight=False)

    @buckets.command("notify")
    @click.argument("name")
    @click.option("--function", "function", required=True, help="Function name, ARN or name:alias.")
    @click.option("--prefix", default="", help="Only keys starting with this.")
    @click.option("--suffix", default="", help="Only keys ending with this (e.g. .jpg).")
    @click.option(
        "--events",
        type=click.Choice(sorted(EVENT_TYPES)),
        default="created",
        show_default=True,
        help="Uploads, removals or both.",
    )
    @click.option("--id", "identifier", default=None, help="The configuration's Id.")
    def notify(
        name: str, function: str, prefix: str, suffix: str, events: str, identifier: str | None
    ) -> None:
        """Run FUNCTION when objects of bucket NAME are created (or removed)."""
        path = f"{BUCKETS}/{quoted(name)}/notification"
        item: dict[str, Any] = {"LambdaFunctionArn": function, "Events": EVENT_TYPES[events]}
        rules = [{"Name": "Prefix", "Value": prefix}] if prefix else []
        rules += [{"Name": "Suffix", "Value": suffix}] if suffix else []
        if rules:
            item["Filter"] = {"Key": {"FilterRules": rules}}
        if identifier:
            item["Id"] = identifier
        # POST adds one configuration, replacing one with the same Id (the server gives
        # the same function, events and filter the same Id: notifying twice is no double).
        saved = call(fail, "POST", path, item).json()["LambdaFunctionConfigurations"]
        added = saved[-1]
        console.print(f"{name}: {_describe(added)}", markup=False, highlight=False)

    @buckets.command("unnotify")
    @click.argument("name")
    @click.argument("identifier")
    def unnotify(name: str, identifier: str) -> None:
        """Remove notification IDENTIFIER of bucket NAME (see `buckets ls`)."""
        path = f"{BUCKETS}/{quoted(name)}/notification"
        current = call(fail, "GET", path).json()["LambdaFunctionConfigurations"]
        kept = [c for c in current if c["Id"] != identifier]
        if len(kept) == len(current):
            fail(f"bucket {name} has no notification {identifier}")
        call(fail, "PUT", path, {"LambdaFunctionConfigurations": kept})
        console.print(f"{name}: removed {identifier}", markup=False, highlight=False)

    return buckets


def cp_command(console: Console, fail: Fail) -> click.Command:
    @click.command("cp")
    @click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.argument("destination")
    def cp(source: Path, destination: str) -> None:
        """Upload file SOURCE as object BUCKET/KEY (KEY omitted or ending in '/': the file's
        name is added). The server writes it atomically; the bucket's notifications fire."""
        bucket, _, key = destination.partition("/")
        if not bucket:
            fail(f"the destination is BUCKET/KEY, not {destination!r}")
        if not key or key.endswith("/"):
            key += source.name
        data = source.read_bytes()
        path = f"{BUCKETS}/{quoted(bucket)}/objects/{quoted(key)}"
        found = call(fail, "PUT", path, content=data).json()
        console.print(
            f"{source} -> {bucket}/{found['Key']} ({found['Size']} bytes, ETag {found['ETag']})",
            markup=False,
            highlight=False,
        )

    return cp


def webhook_commands(console: Console, fail: Fail) -> click.Group:
    @click.group("webhooks")
    def webhooks() -> None:
        """Secrets for S3-compatible stores (MinIO, Ceph, S3 via SNS) posting notifications
        to /_lambdalite/webhooks/s3."""

    @webhooks.command("create")
    @click.option("--description", default="", help="A note kept with the secret.")
    def create(description: str) -> None:
        """Create a webhook secret of this account and print it (shown once)."""
        found = call(
            fail, "POST", "/_lambdalite/webhook-secrets", {"Description": description}
        ).json()
        endpoint = f"{target().endpoint}/_lambdalite/webhooks/s3"
        secret = found["Secret"]
        console.print(
            f"webhook secret {found['SecretId']} (shown once):\n{secret}\n\n"
            f"MinIO:  mc admin config set ALIAS notify_webhook:lambdalite "
            f'endpoint="{endpoint}" auth_token="Bearer {secret}"\n'
            f"SNS/Ceph: {endpoint.replace('://', f'://lambdalite:{secret}@', 1)}",
            markup=False,
            highlight=False,
        )

    @webhooks.command("ls")
    def list_secrets() -> None:
        """List this account's webhook secrets (ids only)."""
        found = call(fail, "GET", "/_lambdalite/webhook-secrets").json()["WebhookSecrets"]
        table = Table("id", "description")
        for item in found:
            table.add_row(item["SecretId"], item["Description"])
        console.print(table if found else "no webhook secrets")

    @webhooks.command("rm")
    @click.argument("secret_id")
    def remove(secret_id: str) -> None:
        """Revoke webhook secret SECRET_ID."""
        call(fail, "DELETE", f"/_lambdalite/webhook-secrets/{quoted(secret_id)}")
        console.print(f"revoked {secret_id}", markup=False, highlight=False)

    return webhooks


def _describe(configuration: dict[str, Any]) -> str:
    function = configuration["LambdaFunctionArn"].split(":function:", 1)[-1]
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    filters = " ".join(f"{r['Name'].lower()}={r['Value']}" for r in rules)
    events = ",".join(configuration["Events"])
    return " ".join(p for p in [configuration["Id"], "->", function, events, filters] if p)
