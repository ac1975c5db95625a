"""PolicyService: AddPermission, RemovePermission and GetPolicy, as far as function URLs
need them.

Statements are stored and rendered as AWS renders them ("Using resource-based policies
for Lambda"). lambdalite has no IAM (decision 0005), so only one thing reads them: a
function URL with AuthType AWS_IAM lets a signed caller of *another* account in when a
statement allows `lambda:InvokeFunctionUrl` to that account (or "*") with no
FunctionUrlAuthType condition or AWS_IAM ("Security and auth model for Lambda function
URLs"). Statements for other services (events.amazonaws.com, s3...) are kept so that
deployment tools which add them work unchanged, and otherwise change nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdalite.control.functions import FunctionService
from lambdalite.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.urls.model import AuthType, FunctionUrlConfig
from lambdalite.urls.policy_store import PolicyStore, StatementExists

_ACCOUNT = re.compile(r"^\d{12}$")
_URL_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:*", "*")
NO_POLICY = "The resource you requested does not exist."


class PolicyService:
    def __init__(self, store: PolicyStore, functions: FunctionService) -> None:
        self._store = store
        self._functions = functions

    def add(
        self, account_id: str, name: str, qualifier: str | None, p: dict[str, Any]
    ) -> dict[str, Any]:
        """Add AddPermission's statement (parameters by model name); returns it."""
        self._check_revision(account_id, name, qualifier, p.get("RevisionId"))
        statement = {
            "Sid": p["StatementId"],
            "Effect": "Allow",
            "Principal": _principal(p["Principal"]),
            "Action": p["Action"],
            "Resource": self._functions.arn(account_id, name, qualifier),
        }
        condition = _condition(p)
        if condition:
            statement["Condition"] = condition
        try:
            self._store.add(account_id, name, qualifier or "", p["StatementId"], statement)
        except StatementExists:
            raise ResourceConflictException(
                f"The statement id ({p['StatementId']}) provided already exists. Please "
                "provide a new statement id, or remove the existing statement."
            ) from None
        return statement

    def remove(
        self, account_id: str, name: str, qualifier: str | None, sid: str, revision: str | None
    ) -> None:
        self._check_revision(account_id, name, qualifier, revision)
        if not self._store.remove(account_id, name, qualifier or "", sid):
            raise ResourceNotFoundException(f"Statement {sid} is not found in resource policy.")

    def policy(self, account_id: str, name: str, qualifier: str | None) -> tuple[str, str]:
        """GetPolicy: the policy document as JSON text, and the revision id."""
        version = self._functions.version(account_id, name, qualifier)
        statements = self._store.statements(account_id, name, qualifier or "")
        if not statements:
            raise ResourceNotFoundException(NO_POLICY)
        document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        return json.dumps(document, separators=(",", ":")), version.revision_id

    def allows_url(self, config: FunctionUrlConfig, caller_account: str) -> bool:
        """Whether another account's signed request may invoke an AWS_IAM URL."""
        qualifier = config.invoked_qualifier or ""
        statements = self._store.statements(config.account_id, config.function_name, qualifier)
        return any(_grants_url(s, caller_account, config.auth_type) for s in statements)

    def _check_revision(
        self, account_id: str, name: str, qualifier: str | None, revision: str | None
    ) -> None:
        version = self._functions.version(account_id, name, qualifier)  # 404 if unknown
        if revision and revision != version.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id"
            )


def _principal(value: str) -> Any:
    if value == "*":
        return "*"
    if _ACCOUNT.match(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if value.startswith("arn:"):
        return {"AWS": value}
    if "." in value:
        return {"Service": value}
    raise InvalidParameterValueException(
        "The provided principal was invalid. Please check the principal and try again."
    )


def _condition(p: dict[str, Any]) -> dict[str, dict[str, str]]:
    condition: dict[str, dict[str, str]] = {}
    equals = {
        "AWS:SourceAccount": p.get("SourceAccount"),
        "aws:PrincipalOrgID": p.get("PrincipalOrgID"),
        "lambda:EventSourceToken": p.get("EventSourceToken"),
        "lambda:FunctionUrlAuthType": p.get("FunctionUrlAuthType"),
    }
    if any(equals.values()):
        condition["StringEquals"] = {k: v for k, v in equals.items() if v}
    if p.get("SourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": p["SourceArn"]}
    if p.get("InvokedViaFunctionUrl"):
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    return condition


def _grants_url(statement: dict[str, Any], caller: str, auth_type: AuthType) -> bool:
    if statement.get("Effect") != "Allow" or statement.get("Action") not in _URL_ACTIONS:
        return False
    principal = statement.get("Principal")
    if principal != "*":
        aws = principal.get("AWS", "") if isinstance(principal, dict) else ""
        if aws != caller and not aws.startswith(f"arn:aws:iam::{caller}:"):
            return False
    condition = statement.get("Condition", {})
    equals = condition.get("StringEquals", {})
    # Any condition lambdalite cannot evaluate (a source ARN, an organization) denies.
    if set(condition) - {"StringEquals"} or set(equals) - {"lambda:FunctionUrlAuthType"}:
        return False
    required: str = equals.get("lambda:FunctionUrlAuthType", auth_type.value)
    return required == auth_type.value
