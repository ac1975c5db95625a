"""A REST API for a mobile app's to-do list, on a function URL, with its state in
PostgreSQL outside the sandbox (the function keeps nothing between requests).

    GET    /todos            every item, oldest first
    POST   /todos            {"title": "..."}                 -> 201 and the new item
    GET    /todos/{id}       one item                         -> or 404
    PATCH  /todos/{id}       {"title"?: "...", "done"?: true}  -> the updated item
    DELETE /todos/{id}                                         -> 204

The database's address comes from the DATABASE_URL environment variable
(postgresql://user:password@host:port/database). One connection is opened per sandbox
and reused by its later (warm) invocations, as Lambda's best practices advise.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pgwire

ITEM = re.compile(r"^/todos/([0-9]+)$")
COLUMNS = (
    "id, title, done, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"
)
_db: pgwire.Connection | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"].rstrip("/") or "/"
    try:
        body = _body(event)
    except ValueError:
        return _reply(400, {"message": "the body must be a JSON object"})
    try:
        return _route(method, path, body)
    except (OSError, pgwire.DatabaseError):
        global _db
        _db = None  # a broken connection is not reused; the next request opens another
        raise


def _route(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path == "/todos" and method == "GET":
        return _reply(200, {"items": _query(f"SELECT {COLUMNS} FROM todos ORDER BY id")})
    if path == "/todos" and method == "POST":
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            return _reply(400, {"message": "title is required"})
        (item,) = _query(f"INSERT INTO todos (title) VALUES ($1) RETURNING {COLUMNS}", [title])
        return _reply(201, item)
    found = ITEM.match(path)
    if found is None:
        return _reply(404, {"message": f"no route for {method} {path}"})
    item_id = int(found[1])
    if method == "GET":
        rows = _query(f"SELECT {COLUMNS} FROM todos WHERE id = $1", [item_id])
    elif method == "PATCH":
        if not isinstance(body.get("done", False), bool):
            return _reply(400, {"message": "done must be true or false"})
        rows = _query(
            "UPDATE todos SET title = COALESCE($2, title), done = COALESCE($3, done) "
            f"WHERE id = $1 RETURNING {COLUMNS}",
            [item_id, body.get("title"), body.get("done")],
        )
    elif method == "DELETE":
        rows = _query("DELETE FROM todos WHERE id = $1 RETURNING id", [item_id])
        if rows:
            return {"statusCode": 204}
    else:
        return _reply(405, {"message": f"{method} is not allowed on {path}"})
    if not rows:
        return _reply(404, {"message": f"no item {item_id}"})
    return _reply(200, rows[0])


def _query(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    global _db
    if _db is None:
        _db = pgwire.connect(os.environ["DATABASE_URL"])
        _db.query(
            "CREATE TABLE IF NOT EXISTS todos ("
            " id bigserial PRIMARY KEY,"
            " title text NOT NULL,"
            " done boolean NOT NULL DEFAULT false,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    return _db.query(sql, params or [])


def _body(event: dict[str, Any]) -> dict[str, Any]:
    text = event.get("body")
    if not text:
        return {}
    if event.get("isBase64Encoded"):
        import base64

        text = base64.b64decode(text).decode()
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("not an object")
    return document


def _reply(status: int, document: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(document),
    }
