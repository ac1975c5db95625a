"""Checks on function configuration that AWS makes beyond the API model's constraints.

The model's own constraints (lengths, ranges, patterns, enums) are checked for every
operation by `lambdalite.api.validation` before a service is called; what is here needs
knowledge of the platform: which runtimes run, reserved variables, size of the
environment, and AWS's wording for each refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from lambdalite.errors import InvalidParameterValueException, ValidationException

# Python runtimes run on the server's own interpreter (see docs/decisions/0002-runtimes.md);
# custom runtimes run the package's `bootstrap` executable.
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")
CUSTOM_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
SUPPORTED_RUNTIMES = PYTHON_RUNTIMES + CUSTOM_RUNTIMES
DEPRECATED_RUNTIMES = ("python2.7", "python3.6", "python3.7", "python3.8")

MAX_ENVIRONMENT_BYTES = 4 * 1024
_ENV_NAME = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
# "Defined runtime environment variables" (Lambda Developer Guide): these cannot be set.
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
ARCHITECTURES = ("x86_64", "arm64")


def check_runtime(runtime: str) -> None:
    if runtime in SUPPORTED_RUNTIMES:
        return
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or "
            "updating AWS Lambda functions. We recommend you use a supported runtime while "
            "creating or updating functions."
        )
    raise InvalidParameterValueException(
        f"The runtime parameter of {runtime} is not supported by lambdalite. Supported "
        f"runtimes: {', '.join(SUPPORTED_RUNTIMES)}."
    )


def check_environment(variables: Mapping[str, str]) -> None:
    reserved = sorted(k for k in variables if k in RESERVED_ENV)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{','.join(reserved)}"
        )
    for name in variables:
        if not _ENV_NAME.match(name):
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the "
                f"environment variables you have provided contains invalid key: {name}. "
                "Keys must start with a letter and contain only letters, numbers and "
                "underscores."
            )
    measured = json.dumps(dict(variables), separators=(",", ":"))
    if len(measured.encode()) > MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. String measured: "
            f"{measured}"
        )


def check_dead_letter_target(arn: str) -> None:
    """DeadLetterConfig.TargetArn: on AWS an SQS queue or an SNS topic; lambdalite has
    queues only (whether the queue exists is the caller's check)."""
    service = arn.split(":")[2] if arn.count(":") >= 5 and arn.startswith("arn:") else ""
    if service == "sqs":
        return
    if service == "sns":
        raise InvalidParameterValueException(
            f"lambdalite does not support SNS topics as dead-letter queues ({arn}): use an "
            "SQS queue of lambdalite."
        )
    raise InvalidParameterValueException(
        f"The dead-letter target {arn} is invalid: it must be the ARN of an SQS queue."
    )


def check_architectures(architectures: list[str]) -> tuple[str, ...]:
    if len(architectures) != 1:
        raise InvalidParameterValueException("Architectures must contain exactly one value.")
    return (architectures[0],)


# The model allows more (Lambda Managed Instances: 32 GB, 90 min); a classic function's
# quotas are these ("Lambda quotas"), reported in the front end's own wording.
_RANGES = {
    "memorySize": ("memory_size", 128, 10240),
    "timeout": ("timeout", 1, 900),
    "ephemeralStorage.size": ("ephemeral_storage", 512, 10240),
}


def check_ranges(values: Mapping[str, object]) -> None:
    """Check FunctionConfig fields (by field name) against a classic function's quotas."""
    problems = []
    for member, (field, low, high) in _RANGES.items():
        value = values.get(field)
        if not isinstance(value, int):
            continue
        if value < low:
            bound = f"greater than or equal to {low}"
        elif value > high:
            bound = f"less than or equal to {high}"
        else:
            continue
        problems.append(
            f"Value '{value}' at '{member}' failed to satisfy constraint: Member must have "
            f"value {bound}"
        )
    if problems:
        raise ValidationException.of(problems)
