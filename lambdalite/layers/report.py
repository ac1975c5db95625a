"""What `lambdalite layers ls` shows: an account's dependency layers (and builds without
one yet) and layer versions, with their size on disk and how many function versions use
each, and a function version's build with its log (what `lambdalite deploy` follows)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lambdalite.layers.build_store import BuildStore
from lambdalite.layers.layer_store import LayerVersionStore
from lambdalite.layers.model import Build
from lambdalite.layers.references import References
from lambdalite.layers.service import LayerService
from lambdalite.model import FunctionVersion


class LayerReport:
    def __init__(
        self,
        references: References,
        builds: BuildStore,
        layer_versions: LayerVersionStore,
        layers: LayerService,
    ) -> None:
        self._references = references
        self._builds = builds
        self._layer_versions = layer_versions
        self._layers = layers

    def of_account(self, account_id: str) -> dict[str, Any]:
        uses = self._references.versions(account_id)
        by_key = Counter(u.dependencies for u in uses if u.dependencies)
        by_arn = Counter(ref.arn for u in uses for ref in u.layers)
        builds = [b for b in self._builds.all() if b.account_id == account_id]
        layers = {
            layer.digest: layer for layer in self._builds.layers() if layer.account_id == account_id
        }
        rows: list[dict[str, Any]] = []
        refs_by_digest: Counter[str] = Counter()
        for build in builds:
            if build.layer_digest:
                refs_by_digest[build.layer_digest] += by_key[build.key]
        for digest, layer in sorted(layers.items(), key=lambda item: -item[1].size_bytes):
            rows.append(
                {
                    "Kind": "dependencies",
                    "Name": ", ".join(layer.resolved) or "(nothing)",
                    "Id": digest[:12],
                    "State": "ready",
                    "SizeBytes": layer.size_bytes,
                    "Files": layer.files,
                    "References": refs_by_digest[digest],
                    "PreImport": list(layer.preimport),
                }
            )
        for build in builds:
            if build.layer_digest is None:
                rows.append(
                    {
                        "Kind": "dependencies",
                        "Name": ", ".join(build.requirements.splitlines()),
                        "Id": build.key[:12],
                        "State": str(build.status),
                        "SizeBytes": 0,
                        "Files": 0,
                        "References": by_key[build.key],
                        "PreImport": [],
                    }
                )
        for version in self._layer_versions.all_versions(account_id):
            arn = self._layers.arn(version)
            rows.append(
                {
                    "Kind": "layer",
                    "Name": arn,
                    "Id": version.code_sha256[:12],
                    "State": "published",
                    "SizeBytes": version.unzipped_size,
                    "Files": 0,
                    "References": by_arn[arn],
                    "PreImport": [],
                }
            )
        disk = sum(layer.size_bytes for layer in layers.values())
        disk += sum(
            v.unzipped_size + v.code_size for v in self._layer_versions.all_versions(account_id)
        )
        return {"Layers": rows, "DiskBytes": disk}

    def build_of(self, version: FunctionVersion, offset: int = 0) -> dict[str, Any]:
        """The version's dependency build: its state and its log from `offset` on."""
        status = version.status
        body: dict[str, Any] = {
            "State": status.state,
            "StateReason": status.state_reason,
            "LastUpdateStatus": status.last_update,
            "LastUpdateStatusReason": status.last_update_reason,
        }
        key = version.config.dependencies
        build: Build | None = self._builds.get(version.account_id, key) if key else None
        if build is None:
            body.update(Build=None)
            return body
        layer = (
            self._builds.layer(version.account_id, build.layer_digest)
            if build.layer_digest
            else None
        )
        body["Build"] = {
            "Status": str(build.status),
            "Requirements": build.requirements.splitlines(),
            "Source": build.source,
            "Reason": build.reason,
            "Log": build.log[offset:],
            "LogLength": len(build.log),
            "LayerSize": layer.size_bytes if layer else None,
            "Packages": list(layer.resolved) if layer else [],
            "PreImport": list(layer.preimport) if layer else [],
        }
        return body
