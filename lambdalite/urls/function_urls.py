"""FunctionUrls: the function URL services of one server, built together.

The composition root builds it once; the API takes its `service` and `policy`, the ASGI
app routes URL requests to its `app`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalite.api.auth import Authenticator
from lambdalite.control.functions import FunctionService
from lambdalite.invoke.invoker import Runner
from lambdalite.settings import Settings
from lambdalite.store.database import Database
from lambdalite.urls.app import FunctionUrlApp
from lambdalite.urls.directory import UrlDirectory
from lambdalite.urls.policy import PolicyService
from lambdalite.urls.policy_store import PolicyStore
from lambdalite.urls.service import FunctionUrlService
from lambdalite.urls.store import UrlStore


@dataclass(frozen=True)
class FunctionUrls:
    service: FunctionUrlService
    policy: PolicyService
    app: FunctionUrlApp

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        functions: FunctionService,
        runner: Runner,
        auth: Authenticator,
    ) -> FunctionUrls:
        store = UrlStore(db)
        directory = UrlDirectory(store.by_url_id)
        service = FunctionUrlService(store, functions, on_change=directory.forget)
        policy = PolicyService(PolicyStore(db), functions)
        app = FunctionUrlApp(
            directory, runner, auth, policy, settings.region, settings.max_sync_payload_bytes
        )
        return cls(service, policy, app)
