"""Station events the gateway publishes, OCPP-neutral, for whoever listens.

Handlers of both OCPP versions publish these; listeners (maintenance workflows, the live
monitoring stream, alerts) subscribe in `gateway/server.py`. A listener must be quick and must
not raise: slow work goes to its own task or queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StationEvent:
    station_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Connected(StationEvent):
    version: str


@dataclass(frozen=True, slots=True)
class Disconnected(StationEvent):
    close_code: int | None


@dataclass(frozen=True, slots=True)
class Booted(StationEvent):
    vendor: str | None
    model: str | None
    firmware_version: str | None
    reason: str | None = None
    holds_local_list: bool = True  # as the boot's write found it (True: not known, look)


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged(StationEvent):
    connector_id: int  # 0 = the station itself (2.0.1: EVSE id when the connector is not known)
    status: str  # OCPP-neutral: Available, Occupied, Charging, Faulted, Unavailable, ...
    error_code: str | None = None
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class MeterReading(StationEvent):
    connector_id: int
    session_id: str | None
    energy_wh: int | None
    power_w: float | None
    soc_percent: float | None = None


@dataclass(frozen=True, slots=True)
class FirmwareStatus(StationEvent):
    status: str  # as sent: Downloading, Downloaded, Installing, Installed, *Failed, Idle, ...
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class DiagnosticsStatus(StationEvent):
    status: str  # 1.6 Uploading/Uploaded/UploadFailed/Idle; 2.0.1 LogStatus values
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionEvent(StationEvent):
    session_id: str
    kind: str  # started | stopped
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class EVChargingNeeds(StationEvent):
    """2.0.1 NotifyEVChargingNeeds: what the EV can take on one EVSE."""

    evse_id: int
    max_current_a: float | None = None
    phases: int | None = None
    departure: datetime | None = None


@dataclass(frozen=True, slots=True)
class EVScheduleRejected(StationEvent):
    """2.0.1 NotifyEVChargingSchedule answered Rejected: the EV's schedule exceeds what we
    offered on the EVSE, so the CSMS renegotiates (K15.FR.13, K16.FR.08, K17.FR.13)."""

    evse_id: int
    reason: str


Listener = Callable[[StationEvent], Awaitable[None] | None]


@dataclass(eq=False)
class EventBus:
    """Fan-out of station events to subscribed listeners."""

    listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    async def publish(self, event: StationEvent) -> None:
        for listener in self.listeners:
            try:
                result = listener(event)
                if result is not None:
                    await result
            except Exception:
                log.exception("event listener failed on %s", type(event).__name__)
