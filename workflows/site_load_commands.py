"""How `SiteLoad` reaches its chargers: station commands on the gateway holding each socket
(ADR-003), with the route looked up once per station and forgotten on a failure or a link
change; a rebalance sends each station its profiles in one activity (`send_many`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.command_activities import CommandActivities
    from domain import commands
    from domain.commands import (
        BatchResult,
        CommandBatch,
        CommandResult,
        StationCommand,
        StationRoute,
    )
    from domain.site_load_messages import StationInfo

_OUTCOMES = {
    commands.STATION_OFFLINE: "offline",
    commands.COMMAND_REJECTED: "error",  # a CALLERROR: not a profile refusal
    commands.COMMAND_TIMEOUT: "timeout",
    commands.COMMAND_NOT_SUPPORTED: "not_supported",
}
_ROUTE = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=5)),
}
COMMAND_TIMEOUT_S = 10.0
# How many periods a schedule may have, per version, and what to assume when not told.
_PERIODS_16 = "ChargingScheduleMaxPeriods"
_PERIODS_201 = "SmartChargingCtrlr.PeriodsPerSchedule"
DEFAULT_PERIODS = 1


class Sender:
    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self.routes: dict[str, StationRoute] = {}

    def seed(self, stations: list[StationInfo]) -> None:
        """Routes as the site's snapshot read them: one store read instead of one activity per
        station (a failed command forgets its station's route; it is looked up again)."""
        for station in stations:
            if station.connected and station.task_queue:
                self.routes[station.station_id] = StationRoute(
                    station_id=station.station_id,
                    connected=True,
                    task_queue=station.task_queue,
                    version=station.version,
                )

    def forget(self, station_id: str) -> None:
        self.routes.pop(station_id, None)

    async def _route(self, station_id: str) -> StationRoute:
        route = self.routes.get(station_id)
        if route is None:
            route = await workflow.execute_activity_method(
                CommandActivities.route_for_station, station_id, **_ROUTE
            )
            if route.connected:
                self.routes[station_id] = route
        return route

    async def command(self, station_id: str, name: str, params: dict) -> CommandResult | str:
        """The station's answer, or an outcome word: offline | timeout | error | not_supported."""
        route = await self._route(station_id)
        if not route.connected or route.task_queue is None:
            return "offline"
        try:
            return await workflow.execute_activity(
                "send_to_station",
                StationCommand(
                    station_id=station_id,
                    name=name,
                    params=params,
                    timeout_s=COMMAND_TIMEOUT_S,
                    requested_by=f"site-load:{self.site_id}",
                ),
                task_queue=route.task_queue,
                schedule_to_start_timeout=timedelta(seconds=10),
                start_to_close_timeout=timedelta(seconds=COMMAND_TIMEOUT_S + 5),
                retry_policy=RetryPolicy(maximum_attempts=1),
                result_type=CommandResult,
            )
        except ActivityError as err:
            self.forget(station_id)
            cause = err.cause
            if isinstance(cause, ApplicationError):
                return _OUTCOMES.get(cause.type or "", "error")
            if isinstance(cause, ActivityTimeoutError):
                return "offline"
            return "error"

    async def send(self, station_id: str, name: str, params: dict) -> str:
        """The station's status word (Accepted, Rejected, ...) or the outcome word."""
        result = await self.command(station_id, name, params)
        if isinstance(result, str):
            return result
        return result.status or "Accepted"

    async def send_many(self, station_id: str, commands: list[tuple[str, dict]]) -> list[str]:
        """Several commands to one station in one activity, in order: each one's status word
        (Accepted, Rejected, ...) or outcome word (offline | timeout | error | not_supported)."""
        route = await self._route(station_id)
        if not route.connected or route.task_queue is None:
            return ["offline"] * len(commands)
        batch = CommandBatch(
            station_id=station_id,
            commands=[
                StationCommand(
                    station_id=station_id,
                    name=name,
                    params=params,
                    timeout_s=COMMAND_TIMEOUT_S,
                    requested_by=f"site-load:{self.site_id}",
                )
                for name, params in commands
            ],
        )
        try:
            result = await workflow.execute_activity(
                "send_batch_to_station",
                batch,
                task_queue=route.task_queue,
                schedule_to_start_timeout=timedelta(seconds=10),
                start_to_close_timeout=timedelta(seconds=COMMAND_TIMEOUT_S * len(commands) + 5),
                retry_policy=RetryPolicy(maximum_attempts=1),
                result_type=BatchResult,
            )
        except ActivityError as err:
            self.forget(station_id)
            cause = err.cause
            if isinstance(cause, ApplicationError):
                word = _OUTCOMES.get(cause.type or "", "error")
            else:
                word = "offline" if isinstance(cause, ActivityTimeoutError) else "error"
            return [word] * len(commands)
        words = []
        for outcome in result.outcomes:
            if outcome.result is not None:
                words.append(outcome.result.status or "Accepted")
            else:
                words.append(_OUTCOMES.get(outcome.error or "", "error"))
        if any(word in ("offline", "timeout", "error") for word in words):
            self.forget(station_id)
        return words

    async def max_periods(self, station_id: str, version: str | None) -> int:
        """ChargingScheduleMaxPeriods (1.6) / PeriodsPerSchedule (2.0.1); 1 when unknown."""
        if version == "ocpp2.0.1":
            params: dict = {"variables": [_PERIODS_201]}
        else:
            params = {"keys": [_PERIODS_16]}
        result = await self.command(station_id, "get_configuration", params)
        if isinstance(result, str):
            return DEFAULT_PERIODS
        response = result.response
        values = [
            item.get("value")
            for item in response.get("configurationKey") or []
            if item.get("key") == _PERIODS_16
        ] + [
            item.get("attributeValue")
            for item in response.get("getVariableResult") or []
            if item.get("attributeStatus") == "Accepted"
        ]
        for value in values:
            try:
                return max(int(str(value)), 1)
            except ValueError:
                continue
        return DEFAULT_PERIODS
