"""Streams: the Redis stream services of one server, built together.

The composition root builds it; MappingService takes `rules`, the PollerSupervisor
`poller` (the factory of a stream mapping's poller), the API `registry`.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable

from lambdalite.asyncinvoke.destinations import Destinations, check_queue
from lambdalite.asyncinvoke.model import Delivery
from lambdalite.control.accounts import AccountService
from lambdalite.control.functions import FunctionService
from lambdalite.errors import ApiError
from lambdalite.invoke.invoker import Invoker
from lambdalite.mappings.model import EventSourceMapping
from lambdalite.queues import QueueService
from lambdalite.settings import Settings
from lambdalite.store.database import Database
from lambdalite.streams.location import parse_stream_arn
from lambdalite.streams.poller import RedisStreamPoller, StreamLimits
from lambdalite.streams.registry import StreamRegistry
from lambdalite.streams.rules import StreamMappingRules


class Streams:
    def __init__(
        self,
        registry: StreamRegistry,
        rules: StreamMappingRules,
        poller: Callable[[EventSourceMapping], RedisStreamPoller],
    ) -> None:
        self.registry = registry
        self.rules = rules
        self.poller = poller

    def use_mappings(self, mappings: Callable[[], list[EventSourceMapping]]) -> None:
        """Where the registry finds the mappings that read a stream (it refuses to forget
        one in use)."""
        self.registry.mappings_of = lambda account_id, arn: [
            m.uuid for m in mappings() if m.account_id == account_id and m.source_arn == arn
        ]

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        accounts: AccountService,
        queues: QueueService,
        functions: FunctionService,
        invoker: Invoker,
        destinations: Destinations,
        clock: Callable[[], float] = time.time,
    ) -> Streams:
        region = settings.region
        registry = StreamRegistry(db, region, settings.redis_stream_allow, accounts.is_root, clock)

        def check_destination(account_id: str, arn: str) -> None:
            check_queue(queues, region, account_id, arn, "destination")

        rules = StreamMappingRules(registry, check_destination)
        limits = StreamLimits(max_payload_bytes=settings.max_sync_payload_bytes)
        # A restarted server takes its own lease back at once; another server waits for it
        # to expire (docs/decisions/0504).
        owner = f"{socket.gethostname()}:{settings.port}"

        async def write_failure(account_id: str, destination: str, record: str) -> None:
            await destinations.write(account_id, Delivery(destination, record, {}), clock())

        def role_of(mapping: EventSourceMapping) -> str:
            try:
                version = functions.version(
                    mapping.account_id, mapping.function_name, mapping.qualifier
                )
            except ApiError:
                return ""
            return version.config.role

        def poller(mapping: EventSourceMapping) -> RedisStreamPoller:
            parsed = parse_stream_arn(mapping.source_arn)
            stream = registry.get(mapping.account_id, parsed[2]) if parsed else None
            if stream is None:
                raise LookupError(f"stream {mapping.source_arn} is not registered")
            invoke = functools.partial(invoker.invoke, trigger="stream")
            return RedisStreamPoller(
                mapping,
                stream.location,
                invoke,
                write_failure,
                role_of,
                owner,
                region,
                clock,
                limits,
            )

        return cls(registry, rules, poller)
