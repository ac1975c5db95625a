"""A small PostgreSQL client in pure Python (standard library only), so the function's
zip needs no compiled driver: a sandbox imports only the standard library and its own
package.

It speaks the frontend/backend protocol 3.0 over one TCP connection: password, MD5 and
SCRAM-SHA-256 authentication, and the extended query protocol with parameters sent as
text ($1, $2, ...), so values are never pasted into SQL. Results come back as dicts;
booleans, integers, floats and JSON are converted, everything else stays text.

    db = connect("postgresql://user:secret@192.0.2.10:5432/app")
    rows = db.query("SELECT id, title FROM todos WHERE done = $1", [False])
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import unquote, urlsplit

_TYPES = {16: lambda v: v == "t", 20: int, 21: int, 23: int, 700: float, 701: float}
_TYPES.update({114: json.loads, 3802: json.loads})


class DatabaseError(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields.get("M", "database error"))
        self.code = fields.get("C", "")  # the SQLSTATE, e.g. 23505 for a unique violation


class Connection:
    def __init__(self, host: str, port: int, user: str, password: str, database: str) -> None:
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""
        self._user, self._password = user, password
        params = {"user": user, "database": database, "client_encoding": "UTF8"}
        body = struct.pack("!i", 196608) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()
        )
        self._sock.sendall(struct.pack("!i", len(body) + 5) + body + b"\0")
        self._authenticate()
        self._until_ready()

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement; its rows (none for statements that return none)."""
        encoded = [_text(p) for p in params]
        bind = b"\0\0" + struct.pack("!hh", 0, len(encoded))
        for value in encoded:
            bind += (
                struct.pack("!i", -1) if value is None else struct.pack("!i", len(value)) + value
            )
        bind += struct.pack("!h", 0)
        self._send(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
        self._send(b"B", bind)
        self._send(b"D", b"P\0")
        self._send(b"E", b"\0" + struct.pack("!i", 0))
        self._send(b"S", b"")
        columns: list[tuple[str, int]] = []
        rows: list[dict[str, Any]] = []
        error: DatabaseError | None = None
        while True:
            kind, data = self._receive()
            if kind == b"T":
                columns = _columns(data)
            elif kind == b"D":
                rows.append(_row(data, columns))
            elif kind == b"E":
                error = DatabaseError(_fields(data))
            elif kind == b"Z":
                if error is not None:
                    raise error
                return rows

    def close(self) -> None:
        try:
            self._send(b"X", b"")
        finally:
            self._sock.close()

    # -- protocol -----------------------------------------------------------------------
    def _authenticate(self) -> None:
        while True:
            kind, data = self._receive()
            if kind == b"E":
                raise DatabaseError(_fields(data))
            (code,) = struct.unpack("!i", data[:4])
            if code == 0:
                return
            if code == 3:
                self._send(b"p", self._password.encode() + b"\0")
            elif code == 5:
                inner = hashlib.md5((self._password + self._user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + data[4:8]).hexdigest()
                self._send(b"p", b"md5" + outer.encode() + b"\0")
            elif code == 10:
                self._scram(data[4:].split(b"\0"))
            else:
                raise DatabaseError({"M": f"unsupported authentication method {code}"})

    def _scram(self, mechanisms: list[bytes]) -> None:
        """SCRAM-SHA-256 (RFC 7677) without channel binding, as PostgreSQL runs it."""
        if b"SCRAM-SHA-256" not in mechanisms:
            raise DatabaseError({"M": "the server offers no SCRAM-SHA-256"})
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        self._send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
        server_first = self._sasl(11)
        fields = dict(item.split("=", 1) for item in server_first.split(","))
        if not fields["r"].startswith(nonce):
            raise DatabaseError({"M": "SCRAM: the server's nonce does not extend ours"})
        salted = hashlib.pbkdf2_hmac(
            "sha256", self._password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        final_bare = f"c=biws,r={fields['r']}"
        message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
        server_final = self._sasl(12)
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        expected = base64.b64encode(hmac.digest(server_key, message, "sha256")).decode()
        if server_final != f"v={expected}":
            raise DatabaseError({"M": "SCRAM: the server's signature is wrong"})

    def _sasl(self, expected: int) -> str:
        kind, data = self._receive()
        if kind == b"E":
            raise DatabaseError(_fields(data))
        (code,) = struct.unpack("!i", data[:4])
        if kind != b"R" or code != expected:
            raise DatabaseError({"M": f"SCRAM: unexpected message {kind!r} {code}"})
        return data[4:].decode()

    def _until_ready(self) -> None:
        while True:
            kind, data = self._receive()
            if kind == b"E":
                raise DatabaseError(_fields(data))
            if kind == b"Z":
                return

    def _send(self, kind: bytes, payload: bytes) -> None:
        self._sock.sendall(kind + struct.pack("!i", len(payload) + 4) + payload)

    def _receive(self) -> tuple[bytes, bytes]:
        header = self._read(5)
        (length,) = struct.unpack("!i", header[1:])
        kind, data = header[:1], self._read(length - 4)
        if kind in (b"N", b"S", b"K"):  # notices, parameter status, the cancel key
            return self._receive()
        return kind, data

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the database closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def connect(url: str) -> Connection:
    """postgresql://user[:password]@host[:port]/database"""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError("expected postgresql://user:password@host:port/database")
    return Connection(
        parts.hostname,
        parts.port or 5432,
        unquote(parts.username or "postgres"),
        unquote(parts.password or ""),
        parts.path.lstrip("/") or "postgres",
    )


def _text(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, dict | list):
        return json.dumps(value).encode()
    return str(value).encode()


def _fields(data: bytes) -> dict[str, str]:
    return {item[:1].decode(): item[1:].decode() for item in data.split(b"\0") if item}


def _columns(data: bytes) -> list[tuple[str, int]]:
    (count,) = struct.unpack("!h", data[:2])
    columns, at = [], 2
    for _ in range(count):
        end = data.index(b"\0", at)
        name = data[at:end].decode()
        (type_oid,) = struct.unpack("!i", data[end + 7 : end + 11])
        columns.append((name, type_oid))
        at = end + 19
    return columns


def _row(data: bytes, columns: list[tuple[str, int]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    at = 2
    for name, type_oid in columns:
        (length,) = struct.unpack("!i", data[at : at + 4])
        at += 4
        if length < 0:
            row[name] = None
            continue
        text = data[at : at + length].decode()
        at += length
        row[name] = _TYPES.get(type_oid, str)(text)
    return row
