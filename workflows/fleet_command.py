"""`FleetCommand`: one command for many stations, through whichever gateway holds each socket.

Id `fleet-cmd-{name}-{time}`, query `progress` (`FleetProgress`, also the result). The
stations are grouped by the gateway command queue that holds their socket (one query), and each
gateway gets them in chunks of `FLEET_CHUNK`, sent at once by `send_to_stations`, a few chunks
at a time: ten thousand stations are a few dozen activities, not ten thousand workflows
(ADR-003). A chunk whose gateway died (not picked up within 10 s) and stations found offline
are tried again after `retry_after_s`, `retries` times, on their routes of then: a gateway's
stations reconnect to another within a minute. Every station's outcome goes to the command log.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.command_activities import CommandActivities
    from domain.commands import (
        FLEET_CHUNK,
        GATEWAY_DID_NOT_ANSWER,
        FleetCommand,
        FleetProgress,
        FleetRecord,
        StationGroups,
        StationOutcome,
        StationsCommand,
    )
    from workflows import contract

_STORE = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10)),
}
_CHUNKS_AT_ONCE = 8
_NOT_OK_SHOWN = 1000  # stations listed by name in the progress (all are in the command log)


@workflow.defn(name=contract.FLEET_COMMAND)
class FleetCommandWorkflow:
    """Send one command to many stations, record each outcome, return the counts."""

    @workflow.init
    def __init__(self, request: FleetCommand) -> None:
        stations = len(set(request.station_ids))
        self.progress = FleetProgress(name=request.name, stations=stations)

    @workflow.query(name=contract.QUERY_FLEET_PROGRESS)
    def current(self) -> FleetProgress:
        return self.progress

    @workflow.run
    async def run(self, request: FleetCommand) -> FleetProgress:
        stations = list(dict.fromkeys(request.station_ids))
        outcomes: dict[str, StationOutcome] = {}
        pending = stations
        for round_number in range(request.retries + 1):
            if round_number:
                await workflow.sleep(timedelta(seconds=request.retry_after_s))
            self.progress.rounds = round_number + 1
            for outcome in await self._round(request, pending):
                outcomes[outcome.station_id] = outcome
            pending = [s for s in pending if outcomes[s].outcome == "offline"]
            self._count(outcomes)
            if not pending:
                break
        self.progress.done = True
        return self.progress

    async def _round(self, request: FleetCommand, stations: list[str]) -> list[StationOutcome]:
        """One pass over `stations` on their current routes; each one's outcome."""
        groups: StationGroups = await workflow.execute_local_activity_method(
            CommandActivities.group_stations_by_route, stations, **_STORE
        )
        not_sent = [
            *(StationOutcome(station_id=s, outcome="unknown") for s in groups.unknown),
            *(
                StationOutcome(station_id=s, outcome="offline", error=f"{s} is not connected")
                for s in groups.offline
            ),
        ]
        chunks = [
            (queue, ids[start : start + FLEET_CHUNK])
            for queue, ids in groups.by_queue.items()
            for start in range(0, len(ids), FLEET_CHUNK)
        ]
        gate = asyncio.Semaphore(_CHUNKS_AT_ONCE)

        async def send(queue: str, ids: list[str]) -> list[StationOutcome]:
            async with gate:
                return await self._chunk(request, queue, ids)

        sent = await asyncio.gather(*(send(queue, ids) for queue, ids in chunks))
        await self._record(request, [o for o in not_sent if o.outcome != "unknown"])
        return [*not_sent, *(o for chunk in sent for o in chunk)]

    async def _chunk(
        self, request: FleetCommand, queue: str, ids: list[str]
    ) -> list[StationOutcome]:
        command = StationsCommand(
            station_ids=ids,
            name=request.name,
            params=request.params,
            timeout_s=request.timeout_s,
            requested_by=request.requested_by,
        )
        try:
            outcomes: list[StationOutcome] = await workflow.execute_activity(
                "send_to_stations",
                command,
                task_queue=queue,
                # A dead gateway never drains its queue: schedule_to_start bounds the wait.
                schedule_to_start_timeout=timedelta(seconds=10),
                start_to_close_timeout=timedelta(seconds=request.timeout_s + 15),
                retry_policy=RetryPolicy(maximum_attempts=1),
                result_type=list[StationOutcome],
            )
        except ActivityError:  # the gateway died, or never answered: offline until retried
            outcomes = [
                StationOutcome(station_id=s, outcome="offline", error=GATEWAY_DID_NOT_ANSWER)
                for s in ids
            ]
        await self._record(request, outcomes)
        return outcomes

    async def _record(self, request: FleetCommand, outcomes: list[StationOutcome]) -> None:
        """The command log: a station's row is its first outcome that is not "offline", or
        "offline" when no round reached it (a row per station, written once)."""
        final = [o for o in outcomes if o.outcome != "offline" or self._last_round(request)]
        if not final:
            return
        await workflow.execute_local_activity_method(
            CommandActivities.record_fleet_outcomes,
            FleetRecord(
                workflow_id=workflow.info().workflow_id,
                name=request.name,
                params=request.params,
                requested_by=request.requested_by,
                outcomes=final,
            ),
            **_STORE,
        )

    def _last_round(self, request: FleetCommand) -> bool:
        return self.progress.rounds == request.retries + 1

    def _count(self, outcomes: dict[str, StationOutcome]) -> None:
        counts: dict[str, int] = {}
        not_ok: dict[str, str] = {}
        for outcome in outcomes.values():
            key = f"ok:{outcome.status}" if outcome.outcome == "ok" else outcome.outcome
            counts[key] = counts.get(key, 0) + 1
            if outcome.outcome != "ok" and len(not_ok) < _NOT_OK_SHOWN:
                not_ok[outcome.station_id] = f"{outcome.outcome}: {outcome.error or ''}".strip()
        self.progress.counts = counts
        self.progress.not_ok = not_ok
