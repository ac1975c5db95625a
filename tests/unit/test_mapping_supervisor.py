"""mappings/supervisor.py: pollers follow the mappings' states, in tests (run_once) and in
the server (one task per poller), and a transition waits for a round in progress."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from lambdalite.mappings.model import EventSourceMapping, MappingState, SourceKind
from lambdalite.mappings.supervisor import PollerSupervisor

MAPPING = EventSourceMapping(
    uuid="u-1",
    account_id="111122223333",
    function_name="worker",
    qualifier=None,
    source_kind=SourceKind.SQS,
    source_arn="arn:aws:sqs:us-east-1:111122223333:jobs",
    enabled=True,
    state=MappingState.CREATING,
    state_reason="USER_INITIATED",
    last_modified=0.0,
    batch_size=10,
    batching_window_s=0,
)


class FakeService:
    """The store's side of MappingService: all() and a compare-and-set settle()."""

    def __init__(self, mapping: EventSourceMapping) -> None:
        self.mappings = {mapping.uuid: mapping}

    def all(self) -> list[EventSourceMapping]:
        return list(self.mappings.values())

    def settle(self, mapping: EventSourceMapping) -> bool:
        if self.mappings.get(mapping.uuid) != mapping:
            return False
        if mapping.state is MappingState.DELETING:
            del self.mappings[mapping.uuid]
        else:
            self.mappings[mapping.uuid] = replace(mapping, state=mapping.settled_state)
        return True

    def set(self, **changes: Any) -> None:
        self.mappings["u-1"] = replace(self.mappings["u-1"], **changes)


class FakePoller:
    def __init__(self, mapping: EventSourceMapping) -> None:
        self.mapping = mapping
        self.rounds = 0
        self.stopped = False
        self.in_round = asyncio.Event()
        self.finish_round = asyncio.Event()
        self.finish_round.set()
        self.wake = asyncio.Event()

    def configure(self, mapping: EventSourceMapping) -> None:
        self.mapping = mapping

    async def run_once(self) -> int:
        self.rounds += 1
        self.in_round.set()
        await self.finish_round.wait()
        self.in_round.clear()
        return 0

    async def wait(self) -> None:
        await self.wake.wait()  # idle until the test wakes it (or it is cut)
        self.wake.clear()

    async def stop(self) -> None:
        self.stopped = True


def supervisor(service: FakeService, made: list[FakePoller]) -> PollerSupervisor:
    def factory(mapping: EventSourceMapping) -> FakePoller:
        made.append(FakePoller(mapping))
        return made[-1]

    return PollerSupervisor(service, {SourceKind.SQS: factory}, 3600)  # type: ignore[arg-type,dict-item]


async def settle_tasks() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_run_once_settles_states_and_runs_enabled_pollers_only() -> None:
    service, made = FakeService(MAPPING), []
    pollers = supervisor(service, made)
    await pollers.run_once()
    assert service.mappings["u-1"].state is MappingState.ENABLED
    assert [p.rounds for p in made] == [1]

    service.set(enabled=False, state=MappingState.DISABLING)
    await pollers.run_once()
    assert service.mappings["u-1"].state is MappingState.DISABLED
    assert made[0].stopped and pollers.pollers == {}

    service.set(enabled=True, state=MappingState.ENABLING)
    await pollers.run_once()
    assert len(made) == 2 and made[1].rounds == 1

    service.set(state=MappingState.DELETING)
    await pollers.run_once()
    assert service.mappings == {} and made[1].stopped


async def test_in_the_server_a_transition_waits_for_the_round_in_progress() -> None:
    service, made = FakeService(MAPPING), []
    pollers = supervisor(service, made)
    pollers.start()
    await pollers.reconcile()
    # The background loop's first pass queued behind ours on the supervisor's lock (a
    # FIFO): reconciling once more waits for it, so it cannot land mid-test.
    await pollers.reconcile()
    await settle_tasks()
    (poller,) = made
    assert service.mappings["u-1"].state is MappingState.ENABLED and poller.rounds == 1

    service.set(batch_size=5, state=MappingState.UPDATING)
    await pollers.reconcile()  # the running poller takes the update
    assert (service.mappings["u-1"].state, poller.mapping.batch_size) == (
        MappingState.ENABLED,
        5,
    )

    service.set(enabled=False, state=MappingState.DISABLING)
    await pollers.reconcile()  # idle between rounds: its wait is cut at once
    assert service.mappings["u-1"].state is MappingState.DISABLED
    assert poller.stopped

    service.set(enabled=True, state=MappingState.ENABLING)
    await pollers.reconcile()
    await settle_tasks()
    busy = made[-1]
    busy.finish_round.clear()  # its next round blocks mid-way
    busy.wake.set()
    await settle_tasks()
    assert busy.in_round.is_set()
    service.set(enabled=False, state=MappingState.DISABLING)
    await pollers.reconcile()
    assert service.mappings["u-1"].state is MappingState.DISABLING, "a round is running"
    busy.finish_round.set()
    await settle_tasks()
    await pollers.reconcile()
    assert service.mappings["u-1"].state is MappingState.DISABLED and busy.stopped
    await pollers.stop()
