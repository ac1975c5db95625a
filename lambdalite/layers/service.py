"""LayerService: PublishLayerVersion and friends, and the layer versions a function uses.

A layer's zip is checked like function code (`check_zip`: zip slip, links, bombs, the
size limits) before anything is written, then stored by digest in the layer content
store; the row comes after, and a failed insert removes the blob again if nothing else
holds it. A function may use its own account's layer versions and those another account
granted it (AddLayerVersionPermission); whether another account's layer exists is never
told to anyone it has not granted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lambdalite.control.functions import now_timestamp
from lambdalite.control.pagination import page
from lambdalite.control.zipcheck import check_zip
from lambdalite.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdalite.layers.arns import (
    LayerRefName,
    layer_version_arn,
    parse_layer_name,
    parse_layer_version_arn,
)
from lambdalite.layers.layer_store import LayerVersionStore
from lambdalite.layers.model import LayerVersion
from lambdalite.layers.trees import LayerTrees
from lambdalite.model import LayerRef
from lambdalite.settings import CodeLimits

MAX_LAYERS = 5
NOT_FOUND = "The resource you requested does not exist."
GET_LAYER_VERSION = "lambda:GetLayerVersion"


@dataclass(frozen=True)
class PublishRequest:
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str | None = None


class LayerService:
    def __init__(
        self,
        store: LayerVersionStore,
        trees: LayerTrees,
        limits: CodeLimits,
        region: str,
        content_in_use: Callable[[str], bool] = lambda _sha: False,
    ) -> None:
        self._store = store
        self._trees = trees
        self._limits = limits
        self.region = region
        # Whether a function version names this layer content (set by the composition
        # root: the function store knows, this service does not).
        self.content_in_use = content_in_use

    # -- layer versions ---------------------------------------------------------------------
    def publish(
        self, account_id: str, layer_name: str, zip_file: bytes, request: PublishRequest
    ) -> LayerVersion:
        ref = self._own(account_id, layer_name)
        manifest = check_zip(zip_file, self._limits)
        self._trees.content.put(zip_file, manifest)

        def make(number: int) -> LayerVersion:
            return LayerVersion(
                account_id=account_id,
                layer_name=ref.name,
                version=number,
                description=request.description,
                compatible_runtimes=request.compatible_runtimes,
                compatible_architectures=request.compatible_architectures,
                license_info=request.license_info,
                code_sha256=manifest.sha256,
                code_size=manifest.size,
                unzipped_size=manifest.unzipped_size,
                created_date=now_timestamp(),
            )

        try:
            return self._store.publish(account_id, ref.name, make)
        except BaseException:
            self.forget_content([manifest.sha256])
            raise

    def get(self, account_id: str, layer_name: str, version: int) -> LayerVersion:
        ref = parse_layer_name(layer_name, account_id)
        return self._readable(account_id, LayerRefName(ref.account_id, ref.name, version))

    def get_by_arn(self, account_id: str, arn: str) -> LayerVersion:
        return self._readable(account_id, parse_layer_version_arn(arn))

    def list_layers(
        self,
        account_id: str,
        runtime: str | None,
        architecture: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[LayerVersion], str | None]:
        """The newest matching version of each of the account's layers."""
        newest: dict[str, LayerVersion] = {}
        for layer in self._store.all_versions(account_id):
            if layer.layer_name not in newest and _matches(layer, runtime, architecture):
                newest[layer.layer_name] = layer
        return page(list(newest.values()), lambda v: v.layer_name, marker, max_items)

    def list_versions(
        self,
        account_id: str,
        layer_name: str,
        runtime: str | None,
        architecture: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[LayerVersion], str | None]:
        ref = parse_layer_name(layer_name, account_id)
        versions = [
            v
            for v in self._store.versions(ref.account_id, ref.name)
            if _matches(v, runtime, architecture) and self._may_read(account_id, v)
        ]
        return page(versions, lambda v: str(v.version), marker, max_items)

    def delete(self, account_id: str, layer_name: str, version: int) -> LayerVersion | None:
        """Delete a version (a missing one is no error, as on AWS). Its content stays while
        functions use it; the collector removes it after."""
        ref = self._own(account_id, layer_name)
        return self._store.delete(account_id, ref.name, version)

    def content_bytes(self, sha256: str) -> bytes:
        return self._trees.content.read(sha256)

    def arn(self, layer: LayerVersion) -> str:
        return layer_version_arn(self.region, layer.account_id, layer.layer_name, layer.version)

    # -- what functions use -----------------------------------------------------------------
    def resolve(self, account_id: str, arns: list[str]) -> tuple[LayerRef, ...]:
        """The layer versions `arns` name, in order, for a function of `account_id`."""
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
        refs: list[LayerRef] = []
        seen: set[tuple[str, str]] = set()
        for arn in arns:
            wanted = parse_layer_version_arn(arn)
            layer = self._store.get(wanted.account_id, wanted.name, wanted.version or 0)
            if wanted.account_id != account_id and (
                layer is None or not self._may_read(account_id, layer)
            ):
                raise _denied(account_id, arn)
            if layer is None:
                raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
            if (wanted.account_id, wanted.name) in seen:
                raise InvalidParameterValueException(
                    "Two different versions of the same layer are not allowed to be "
                    "referenced in the same function."
                )
            seen.add((wanted.account_id, wanted.name))
            refs.append(LayerRef(self.arn(layer), layer.code_size, layer.code_sha256))
        return tuple(refs)

    def unzipped_size(self, refs: tuple[LayerRef, ...]) -> int:
        return sum(self._trees.content.unzipped_size(ref.sha256) for ref in refs)

    def forget_content(self, shas: list[str]) -> None:
        """Remove layer zips (and trees) that no layer version and no function uses."""
        for sha in set(shas):
            if self._store.code_references(sha) == 0 and not self.content_in_use(sha):
                self._trees.content.delete(sha)

    # -- permissions --------------------------------------------------------------------------
    def add_permission(
        self,
        account_id: str,
        layer_name: str,
        version: int,
        statement_id: str,
        principal: str,
        organization_id: str | None,
        revision_id: str | None,
    ) -> tuple[dict[str, object], str]:
        ref = self._own(account_id, layer_name)
        if principal.startswith("arn:"):
            principal = principal.split(":")[4]
        statement = {"Sid": statement_id, "Principal": principal, "OrganizationId": organization_id}
        try:
            revision = self._store.add_statement(
                account_id, ref.name, version, statement, revision_id
            )
        except KeyError:
            raise ResourceConflictException(
                f"The statement id ({statement_id}) provided already exists. Please provide a "
                "new statement id, or remove the existing statement."
            ) from None
        except ValueError:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetLayerPolicy API to retrieve the latest Revision Id"
            ) from None
        if revision is None:
            raise ResourceNotFoundException(NOT_FOUND)
        arn = layer_version_arn(self.region, account_id, ref.name, version)
        return _statement_document(statement, arn), revision

    def policy(
        self, account_id: str, layer_name: str, version: int
    ) -> tuple[dict[str, object], str]:
        ref = self._own(account_id, layer_name)
        if self._store.get(account_id, ref.name, version) is None:
            raise ResourceNotFoundException(NOT_FOUND)
        statements = self._store.statements(account_id, ref.name, version)
        if not statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        arn = layer_version_arn(self.region, account_id, ref.name, version)
        document: dict[str, object] = {
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [_statement_document(s, arn) for s in statements],
        }
        return document, self._store.policy_revision(account_id, ref.name, version) or ""

    def remove_permission(
        self,
        account_id: str,
        layer_name: str,
        version: int,
        statement_id: str,
        revision_id: str | None,
    ) -> None:
        ref = self._own(account_id, layer_name)
        try:
            removed = self._store.remove_statement(
                account_id, ref.name, version, statement_id, revision_id
            )
        except ValueError:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetLayerPolicy API to retrieve the latest Revision Id"
            ) from None
        if not removed:
            raise ResourceNotFoundException(
                f"Statement {statement_id} is not found in resource policy."
            )

    # -- helpers --------------------------------------------------------------------------------
    def _own(self, account_id: str, layer_name: str) -> LayerRefName:
        ref = parse_layer_name(layer_name, account_id)
        if ref.account_id != account_id:
            raise AccessDeniedException(
                f"User: arn:aws:iam::{account_id}:root is not authorized to perform: "
                f"lambda:PublishLayerVersion on resource: {layer_name}"
            )
        return ref

    def _readable(self, account_id: str, ref: LayerRefName) -> LayerVersion:
        layer = self._store.get(ref.account_id, ref.name, ref.version or 0)
        if ref.account_id != account_id and (
            layer is None or not self._may_read(account_id, layer)
        ):
            arn = layer_version_arn(self.region, ref.account_id, ref.name, ref.version or 0)
            raise _denied(account_id, arn)
        if layer is None:
            raise ResourceNotFoundException(NOT_FOUND)
        return layer

    def _may_read(self, account_id: str, layer: LayerVersion) -> bool:
        if layer.account_id == account_id:
            return True
        statements = self._store.statements(layer.account_id, layer.layer_name, layer.version)
        # lambdalite has no organisations: a statement limited to one grants nobody here.
        return any(
            s["Principal"] in (account_id, "*") and not s["OrganizationId"] for s in statements
        )


def _matches(layer: LayerVersion, runtime: str | None, architecture: str | None) -> bool:
    if runtime and runtime not in layer.compatible_runtimes:
        return False
    return not architecture or architecture in layer.compatible_architectures


def _denied(account_id: str, arn: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: arn:aws:iam::{account_id}:root is not authorized to perform: "
        f"{GET_LAYER_VERSION} on resource: {arn} because no resource-based policy allows "
        f"the {GET_LAYER_VERSION} action"
    )


def _statement_document(statement: Mapping[str, object], arn: str) -> dict[str, object]:
    principal = statement["Principal"]
    document: dict[str, object] = {
        "Sid": statement["Sid"],
        "Effect": "Allow",
        "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
        "Action": GET_LAYER_VERSION,
        "Resource": arn,
    }
    if statement.get("OrganizationId"):
        document["Condition"] = {
            "StringEquals": {"aws:PrincipalOrgID": statement["OrganizationId"]}
        }
    return document
