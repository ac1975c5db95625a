"""Records rendered into botocore's output shapes (FunctionConfiguration, AliasConfiguration)."""

from __future__ import annotations

from typing import Any

from lambdalite.control.arns import function_arn
from lambdalite.model import Alias, FunctionVersion


def function_configuration(
    version: FunctionVersion, region: str, *, qualify_latest: bool = False
) -> dict[str, Any]:
    """A FunctionConfiguration. $LATEST's ARN is unqualified except where AWS lists
    versions (ListVersionsByFunction, ListFunctions with FunctionVersion=ALL)."""
    config = version.config
    qualifier = None if version.is_latest and not qualify_latest else version.version
    body: dict[str, Any] = {
        "FunctionName": version.function_name,
        "FunctionArn": function_arn(region, version.account_id, version.function_name, qualifier),
        "Runtime": config.runtime,
        "Role": config.role,
        "Handler": config.handler,
        "CodeSize": version.code.size,
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory_size,
        "LastModified": version.last_modified,
        "CodeSha256": version.code.sha256_base64,
        "Version": version.version,
        "TracingConfig": {"Mode": config.tracing_mode},
        "RevisionId": version.revision_id,
        "State": version.status.state,
        "PackageType": "Zip",
        "Architectures": list(config.architectures),
        "EphemeralStorage": {"Size": config.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {
            "LogFormat": config.log_format,
            "LogGroup": config.log_group or f"/aws/lambda/{version.function_name}",
        },
    }
    status = version.status
    # Absent until set, as AWS leaves them (LastUpdateStatus: once creation is done).
    for key, value in (
        ("StateReason", status.state_reason),
        ("StateReasonCode", status.state_reason_code),
        ("LastUpdateStatus", status.last_update),
        ("LastUpdateStatusReason", status.last_update_reason),
        ("LastUpdateStatusReasonCode", status.last_update_reason_code),
    ):
        if value is not None:
            body[key] = str(value)
    if config.layers:
        body["Layers"] = [{"Arn": ref.arn, "CodeSize": ref.code_size} for ref in config.layers]
    if config.environment:
        body["Environment"] = {"Variables": dict(config.environment)}
    if config.dead_letter_target_arn:
        body["DeadLetterConfig"] = {"TargetArn": config.dead_letter_target_arn}
    return body


def alias_configuration(alias: Alias, region: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AliasArn": function_arn(region, alias.account_id, alias.function_name, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.routing_weights:
        body["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.routing_weights)}
    return body
