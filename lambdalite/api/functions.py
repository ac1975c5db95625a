"""Handlers: CreateFunction, GetFunction(Configuration), ListFunctions, Update*, Delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import Call, Handler
from lambdalite.api.render import function_configuration
from lambdalite.api.responses import Reply
from lambdalite.control.arns import FunctionRef, parse_function_name, resolve_qualifier
from lambdalite.control.functions import FunctionService
from lambdalite.control.validation import check_architectures
from lambdalite.errors import InvalidParameterValueException
from lambdalite.model import LATEST, FunctionConfig

# FunctionConfig field for each configuration member of the Create/Update requests.
_SIMPLE_FIELDS = {
    "Runtime": "runtime",
    "Handler": "handler",
    "Role": "role",
    "Description": "description",
    "MemorySize": "memory_size",
    "Timeout": "timeout",
}
_NOT_SUPPORTED = ("VpcConfig", "FileSystemConfigs", "ImageConfig", "KMSKeyArn")


# Told (account, function, version or None for all) when code or configuration changes,
# so sandboxes of the old one are retired.
ChangeListener = Callable[[str, str, str | None], None]


class FunctionsApi:
    def __init__(
        self,
        functions: FunctionService,
        code_urls: CodeUrlSigner,
        on_change: ChangeListener = lambda *_: None,
    ) -> None:
        self._functions = functions
        self._code_urls = code_urls
        self._on_change = on_change

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateFunction": self.create,
            "GetFunction": self.get,
            "GetFunctionConfiguration": self.get_configuration,
            "ListFunctions": self.list,
            "UpdateFunctionCode": self.update_code,
            "UpdateFunctionConfiguration": self.update_configuration,
            "DeleteFunction": self.delete,
        }

    def ref(self, call: Call, *, allow_qualifier: bool = True) -> FunctionRef:
        return parse_function_name(
            call.params["FunctionName"],
            account_id=call.account_id,
            region=self._functions.region,
            allow_qualifier=allow_qualifier,
        )

    def create(self, call: Call) -> Reply:
        p = call.params
        ref = self.ref(call, allow_qualifier=False)
        code = p["Code"]
        zip_file = _zip_only(code)
        if p.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValueException("lambdalite runs Zip packages only.")
        if "Runtime" not in p or "Handler" not in p:
            raise InvalidParameterValueException(
                "Runtime and Handler are mandatory parameters for functions created with "
                "Zip packages."
            )
        _refuse_unsupported(p)
        config = FunctionConfig(runtime=p["Runtime"], handler=p["Handler"], role=p["Role"])
        config = config.updated(**self._changes(call))
        version = self._functions.create(
            call.account_id, ref.name, config, zip_file, p.get("Tags", {}), p.get("Publish", False)
        )
        return Reply(function_configuration(version, self._functions.region), status=201)

    def get(self, call: Call) -> dict[str, Any]:
        ref = self.ref(call)
        qualifier = resolve_qualifier(ref, call.params.get("Qualifier"))
        version = self._functions.version(call.account_id, ref.name, qualifier)
        function = self._functions.function(call.account_id, ref.name)
        body: dict[str, Any] = {
            "Configuration": function_configuration(version, self._functions.region),
            "Code": {
                "RepositoryType": "S3",
                "Location": self._code_urls.url(call.base_url, version.code.sha256),
            },
        }
        if function.tags and qualifier is None:
            body["Tags"] = dict(function.tags)
        if function.reserved_concurrency is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": function.reserved_concurrency}
        return body

    def get_configuration(self, call: Call) -> dict[str, Any]:
        ref = self.ref(call)
        qualifier = resolve_qualifier(ref, call.params.get("Qualifier"))
        version = self._functions.version(call.account_id, ref.name, qualifier)
        return function_configuration(version, self._functions.region)

    def list(self, call: Call) -> dict[str, Any]:
        p = call.params
        every = p.get("FunctionVersion") == "ALL"
        lister = self._functions.list_all if every else self._functions.list_latest
        versions, marker = lister(call.account_id, p.get("Marker"), p.get("MaxItems"))
        region = self._functions.region
        body: dict[str, Any] = {
            "Functions": [function_configuration(v, region, qualify_latest=every) for v in versions]
        }
        if marker:
            body["NextMarker"] = marker
        return body

    def update_code(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self.ref(call, allow_qualifier=False)
        architectures = p.get("Architectures")
        version = self._functions.update_code(
            call.account_id,
            ref.name,
            _zip_only(p),
            publish=p.get("Publish", False),
            revision_id=p.get("RevisionId"),
            dry_run=p.get("DryRun", False),
            architectures=check_architectures(architectures) if architectures else None,
        )
        self._on_change(call.account_id, ref.name, LATEST)
        return function_configuration(version, self._functions.region)

    def update_configuration(self, call: Call) -> dict[str, Any]:
        p = call.params
        ref = self.ref(call, allow_qualifier=False)
        _refuse_unsupported(p)
        version = self._functions.update_config(
            call.account_id, ref.name, self._changes(call), p.get("RevisionId")
        )
        self._on_change(call.account_id, ref.name, LATEST)
        return function_configuration(version, self._functions.region)

    def _changes(self, call: Call) -> dict[str, Any]:
        changes = _config_changes(call.params)
        if "Layers" in call.params:
            # Layer version ARNs, resolved (and checked: AWS's errors) to what they hold.
            changes["layers"] = self._functions.layer_refs(call.account_id, call.params["Layers"])
        return changes

    def delete(self, call: Call) -> Reply:
        ref = self.ref(call)
        qualifier = resolve_qualifier(ref, call.params.get("Qualifier"))
        self._functions.delete(call.account_id, ref.name, qualifier)
        self._on_change(call.account_id, ref.name, qualifier)
        return Reply(status=204)


def _config_changes(p: dict[str, Any]) -> dict[str, Any]:
    changes = {field: p[member] for member, field in _SIMPLE_FIELDS.items() if member in p}
    if "Environment" in p:
        changes["environment"] = dict(p["Environment"].get("Variables", {}))
    if "EphemeralStorage" in p:
        changes["ephemeral_storage"] = p["EphemeralStorage"]["Size"]
    if "Architectures" in p:
        changes["architectures"] = check_architectures(p["Architectures"])
    if "TracingConfig" in p:
        changes["tracing_mode"] = p["TracingConfig"].get("Mode", "PassThrough")
    if "DeadLetterConfig" in p:
        changes["dead_letter_target_arn"] = p["DeadLetterConfig"].get("TargetArn") or None
    if "LoggingConfig" in p:
        logging = p["LoggingConfig"]
        if "LogFormat" in logging:
            changes["log_format"] = logging["LogFormat"]
        if "LogGroup" in logging:
            changes["log_group"] = logging["LogGroup"]
    return changes


def _zip_only(code: dict[str, Any]) -> bytes:
    """Code arrives inline (ZipFile); S3 locations and images have nowhere to come from."""
    if "ZipFile" in code:
        zip_file: bytes = code["ZipFile"]
        return zip_file
    if any(k in code for k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")):
        raise InvalidParameterValueException(
            "lambdalite accepts code as ZipFile only; S3 locations and images are not supported."
        )
    raise InvalidParameterValueException("Please provide a source for function code.")


def _refuse_unsupported(p: dict[str, Any]) -> None:
    for member in _NOT_SUPPORTED:
        if _has_content(p.get(member)):
            raise InvalidParameterValueException(f"lambdalite does not support {member} yet.")


def _has_content(value: Any) -> bool:
    """Tools send empty settings (`VpcConfig: {SubnetIds: []}`) for "none": not a request."""
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    return bool(value)
