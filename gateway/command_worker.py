"""The gateway's own Temporal worker: runs station commands on the process holding the socket.

Each gateway process polls its own task queue (`gateway-{instance}`) and records, per connected
station, that queue in the store; a workflow reaches a station by running `send_to_station` on
it — no extra broker, any number of gateway processes. `send_batch_to_station` sends one
station several commands in one activity (a site's profiles: one activity per station, not
per connector); `send_to_stations` sends one command to many stations of this gateway at once
(a chunk of a fleet command).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import Worker

from domain.commands import (
    COMMAND_NOT_SUPPORTED,
    COMMAND_REJECTED,
    COMMAND_TIMEOUT,
    ERROR_OUTCOMES,
    STATION_OFFLINE,
    BatchOutcome,
    BatchResult,
    CommandBatch,
    CommandResult,
    StationCommand,
    StationOutcome,
    StationsCommand,
)
from domain.credentials import secret_config_problem
from gateway import charging_profiles
from gateway.connection import CommandError
from gateway.message_limits import send_within_limits
from gateway.protocol import OcppError
from gateway.services import GatewayServices
from gateway.station_auth import send_command
from gateway.versions import TRANSLATORS

log = logging.getLogger(__name__)


_ERROR_TYPES = {
    "offline": STATION_OFFLINE,
    "rejected": COMMAND_REJECTED,
    "timeout": COMMAND_TIMEOUT,
    "not_supported": COMMAND_NOT_SUPPORTED,
}


def gateway_task_queue(instance: str | None = None) -> str:
    """This process's command queue, unique per process."""
    instance = instance or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    return f"gateway-{instance}"


class GatewayActivities:
    """Activities that need a live station socket."""

    def __init__(self, services: GatewayServices) -> None:
        self.services = services

    @activity.defn
    async def send_to_station(self, command: StationCommand) -> CommandResult:
        """Send one command as an OCPP CALL and return the station's answer."""
        return await self._send(command)

    @activity.defn
    async def send_to_stations(self, command: StationsCommand) -> list[StationOutcome]:
        """Send one command to several stations of this gateway, all at once; how each ended
        (a fleet command's chunk). Only the answer's status word returns: the whole answer is
        in each station's message log."""
        return list(await asyncio.gather(*(self._outcome(command, s) for s in command.station_ids)))

    async def _outcome(self, command: StationsCommand, station_id: str) -> StationOutcome:
        try:
            result = await self._send(command.for_station(station_id))
        except ApplicationError as err:
            outcome = ERROR_OUTCOMES.get(err.type or "", "error")
            return StationOutcome(station_id=station_id, outcome=outcome, error=str(err)[:300])
        except Exception as err:  # a bug of ours: this station's outcome, not the chunk's
            log.warning("%s %s failed", station_id, command.name, exc_info=True)
            return StationOutcome(station_id=station_id, outcome="error", error=repr(err)[:300])
        return StationOutcome(station_id=station_id, outcome="ok", status=result.status)

    @activity.defn
    async def send_batch_to_station(self, batch: CommandBatch) -> BatchResult:
        """Send a station several commands in order (one CALL at a time, as OCPP has it); each
        one's answer or error type. A station offline fails them all at once."""
        outcomes: list[BatchOutcome] = []
        notes: list[charging_profiles.Answer] = []
        conn = self.services.connections.get(batch.station_id)
        async with contextlib.AsyncExitStack() as stack:
            if conn is not None:  # the batch's profile answers are stored together at its end
                await stack.enter_async_context(charging_profiles.in_flight(conn))
            for command in batch.commands:
                if outcomes and outcomes[-1].error == STATION_OFFLINE:
                    outcomes.append(outcomes[-1])
                    continue
                try:
                    outcomes.append(BatchOutcome(result=await self._send(command, notes)))
                except ApplicationError as err:
                    outcomes.append(BatchOutcome(error=err.type, message=str(err)[:300]))
            if conn is not None:
                await charging_profiles.store_notes(conn, notes)
        return BatchResult(outcomes=outcomes)

    async def _send(
        self, command: StationCommand, notes: list[charging_profiles.Answer] | None = None
    ) -> CommandResult:
        conn = self.services.connections.get(command.station_id)
        if conn is None:
            raise _failure("offline", f"{command.station_id} is not connected to this gateway")
        translator = TRANSLATORS.get(conn.version, {}).get(command.name)
        if translator is None:
            raise _failure("not_supported", f"{command.name} is not available in {conn.version}")
        try:
            action, payload = translator(command.params)
            # A new station password (AuthorizationKey, BasicAuthPassword) obeys the rule.
            problem = secret_config_problem(action, payload)
            if problem:
                raise ValueError(problem)
            # Credentials stored as the station answers; nothing a Pending station must not get;
            # lists within the station's ItemsPerMessage / BytesPerMessage.
            response = await charging_profiles.sent_and_noted(
                conn,
                action,
                payload,
                lambda: send_within_limits(conn, action, payload, command.timeout_s, send_command),
                notes,
            )
        except CommandError as err:
            raise _failure(err.kind, str(err)) from err
        except (OcppError, ValueError) as err:  # parameters the station must not get
            raise _failure("not_supported", f"bad parameters for {command.name}: {err}") from err
        except (KeyError, TypeError) as err:  # more likely a bug of ours: logged in full
            log.warning(
                "%s %s: translation failed", command.station_id, command.name, exc_info=True
            )
            raise ApplicationError(
                f"bad parameters for {command.name}: {err!r}",
                type=COMMAND_NOT_SUPPORTED,
                non_retryable=True,
            ) from err
        status = response.get("status")
        if status is None and isinstance(response.get("idTagInfo"), dict):
            status = response["idTagInfo"].get("status")
        log.info("%s %s -> %s", command.station_id, action, status)
        return CommandResult(
            station_id=command.station_id,
            name=command.name,
            action=action,
            version=conn.version,
            status=status,
            response=response,
        )


def _failure(kind: str, message: str) -> ApplicationError:
    """An expected outcome (offline, refused, unsupported, no answer), logged here in one line;
    BENIGN keeps the SDK from logging it again with tracebacks."""
    log.info("command not carried out (%s): %s", kind, message)
    return ApplicationError(
        message,
        type=_ERROR_TYPES.get(kind, kind),
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,
    )


def build_command_worker(client: Client, services: GatewayServices, task_queue: str) -> Worker:
    activities = GatewayActivities(services)
    return Worker(
        client,
        task_queue=task_queue,
        activities=[
            activities.send_to_station,
            activities.send_to_stations,
            activities.send_batch_to_station,
        ],
        max_concurrent_activities=1000,
    )
