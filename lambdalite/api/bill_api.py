"""Bills and usage records over HTTP, signed with SigV4 like lambdalite's other endpoints.

    GET  /_lambdalite/bill?since=&until=&by=function|account|day&price_book=aws&account=
    POST /_lambdalite/bill   {"Since", "Until", "By", "PriceBook", "PriceBookToml", "Account"}
    GET  /_lambdalite/usage?request_id=ID

An account sees its own usage; the root account sees every account's (or one, with
`account`). `since`/`until` are ISO 8601 dates or times (UTC unless they say otherwise);
the bill covers [since, until), by default the current calendar month up to now.
POST carries a price book's TOML itself (`lambdalite bill --price-book FILE` reads the
file on the client's machine); GET names a built-in one or the server's default.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lambdalite.api.auth import Authenticator, read_body
from lambdalite.api.responses import error_response, internal_error
from lambdalite.control.accounts import AccountService
from lambdalite.errors import (
    AccessDeniedException,
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
)
from lambdalite.metering.bill import Bill, GroupBy, from_store, month_start_ms, plain
from lambdalite.metering.prices import BUILT_IN, PriceBook, PriceBookError
from lambdalite.metering.record import UsageRecord
from lambdalite.metering.usage_store import UsageStore

MAX_BODY_BYTES = 256 * 1024  # a price book is a few hundred bytes


@dataclasses.dataclass(frozen=True)
class _BillQuery:
    since_ms: int
    until_ms: int
    by: GroupBy
    prices: PriceBook
    account: str | None  # None: every account (root only)


class BillApi:
    def __init__(
        self,
        auth: Authenticator,
        accounts: AccountService,
        usage: UsageStore,
        prices: PriceBook,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth = auth
        self._accounts = accounts
        self._usage = usage
        self._prices = prices
        self._clock = clock

    async def bill(self, request: Request) -> Response:
        request_id = request.headers.get("x-amz-request-id", "bill")
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            caller = await self._auth.authenticate(request, body)
            params = _document(body) if request.method == "POST" else _query(request)
            is_root = await run_in_threadpool(self._accounts.is_root, caller)
            query = self._bill_query(params, caller, is_root)
            bill: Bill = await run_in_threadpool(
                from_store,
                self._usage,
                query.prices,
                query.by,
                query.since_ms,
                query.until_ms,
                query.account,
            )
        except ApiError as error:
            return error_response(error, request_id)
        except Exception as exc:
            return internal_error(exc, request_id)
        return JSONResponse(bill.to_json())

    async def usage(self, request: Request) -> Response:
        """The usage records of one request id (an async event's attempts share it)."""
        request_id = request.headers.get("x-amz-request-id", "usage")
        try:
            caller = await self._auth.authenticate(request, b"")
            wanted = request.query_params.get("request_id", "")
            if not wanted:
                raise InvalidParameterValueException("request_id is required.")
            is_root = await run_in_threadpool(self._accounts.is_root, caller)
            records = await run_in_threadpool(
                self._usage.by_request, wanted, None if is_root else caller
            )
        except ApiError as error:
            return error_response(error, request_id)
        except Exception as exc:
            return internal_error(exc, request_id)
        return JSONResponse({"UsageRecords": [_record_json(r) for r in records]})

    def _bill_query(self, params: dict[str, Any], caller: str, is_root: bool) -> _BillQuery:
        now_ms = int(self._clock() * 1000)
        until_ms = _moment(params.get("Until"), "until") if params.get("Until") else now_ms
        since_ms = (
            _moment(params.get("Since"), "since")
            if params.get("Since")
            else month_start_ms(min(now_ms, until_ms - 1))
        )
        if since_ms >= until_ms:
            raise InvalidParameterValueException("since must be before until.")
        try:
            by = GroupBy(params.get("By") or GroupBy.FUNCTION)
        except ValueError:
            choices = ", ".join(g.value for g in GroupBy)
            raise InvalidParameterValueException(f"by must be one of {choices}.") from None
        account = params.get("Account") or None
        if account is not None and not isinstance(account, str):
            raise InvalidParameterValueException("account must be an account id.")
        if not is_root:
            if account not in (None, caller):
                raise AccessDeniedException("An account can only see its own usage.")
            account = caller
        return _BillQuery(since_ms, until_ms, by, self._price_book(params), account)

    def _price_book(self, params: dict[str, Any]) -> PriceBook:
        text, name = params.get("PriceBookToml"), params.get("PriceBook")
        try:
            if isinstance(text, str) and text:
                return PriceBook.parse(text, "the price book sent")
            if name:
                if name not in BUILT_IN:
                    raise InvalidParameterValueException(
                        f"price_book must be one of {', '.join(BUILT_IN)} (send a TOML book "
                        "with POST as PriceBookToml)."
                    )
                return PriceBook.load(str(name))
        except PriceBookError as exc:
            raise InvalidParameterValueException(str(exc)) from None
        return self._prices


def _query(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "Since": q.get("since"),
        "Until": q.get("until"),
        "By": q.get("by"),
        "PriceBook": q.get("price_book"),
        "Account": q.get("account"),
    }


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: {exc}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidRequestContentException("The request body must be a JSON object.")
    return document


def _moment(value: Any, name: str) -> int:
    """Epoch ms of an ISO 8601 date or date-time (UTC unless it carries an offset)."""
    if not isinstance(value, str):
        raise InvalidParameterValueException(f"{name} must be an ISO 8601 date or time.")
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameterValueException(
            f"{name} must be an ISO 8601 date or time (2026-11-01, 2026-11-01T12:00:00Z), "
            f"got {value!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def _record_json(r: UsageRecord) -> dict[str, Any]:
    return {
        "AccountId": r.account_id,
        "FunctionName": r.function_name,
        "Version": r.version,
        "RequestId": r.request_id,
        "Trigger": r.trigger,
        "StartTime": r.started_at,
        "InitMs": r.init_ms,
        "DurationMs": r.duration_ms,
        "BilledMs": r.billed_ms,
        "MemorySizeMb": r.memory_mb,
        "MaxMemoryUsedMb": r.max_memory_used_mb,
        "Architecture": r.architecture,
        "EphemeralStorageMb": r.ephemeral_storage_mb,
        "Cold": r.cold,
        "Provisioned": r.provisioned,
        "Outcome": r.outcome.value,
        "ErrorType": r.error_type,
        "GbSeconds": plain(r.gb_seconds),
        "Cost": plain(r.cost),
        "ColdStart": {
            "QueuedMs": r.queued_ms,
            "CreateMs": r.create_ms,
            "RuntimeMs": r.runtime_ms,
            "FunctionInitMs": r.function_init_ms,
            "HandlerMs": r.duration_ms,
        }
        if r.cold
        else None,
    }
