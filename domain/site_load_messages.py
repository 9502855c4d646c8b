"""What crosses into and out of the `SiteLoad` workflow: its input, the site snapshot its
activity reads, the signals the gateway sends and the view its query answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.site_load import AllocationResult, SiteLimits, StationLimit


class SiteLoadInput(BaseModel):
    """Start (or continue) the load management of one site."""

    site_id: str
    rebalance_s: float = 5.0
    connectors: dict[str, dict] = Field(default_factory=dict)  # carried over continue-as-new
    max_periods: dict[str, int] = Field(default_factory=dict)  # stations prepared, carried over
    runs: int = 0


class ConnectorInfo(BaseModel):
    connector_id: int
    phases: int = 3
    phase: int = 1
    max_a: float = 32.0


class StationInfo(BaseModel):
    station_id: str
    version: str | None = None  # ocpp1.6 | ocpp2.0.1 (the live connection's)
    connected: bool = False
    connectors: list[ConnectorInfo] = Field(default_factory=list)
    max_periods: int | None = None  # ChargingScheduleMaxPeriods / PeriodsPerSchedule if known
    task_queue: str | None = None  # the command queue of the gateway holding its socket


class ActiveSession(BaseModel):
    station_id: str
    connector_id: int
    session_id: str
    started_at: datetime | None = None
    group_id: str | None = None


class SiteSnapshot(BaseModel):
    """The site as the store knows it (read by an activity)."""

    site_id: str
    limits: SiteLimits | None = None  # None: the site is not managed (any more)
    stations: list[StationInfo] = Field(default_factory=list)
    station_limits: dict[str, StationLimit] = Field(default_factory=dict)
    sessions: list[ActiveSession] = Field(default_factory=list)


class SessionSignal(BaseModel):
    station_id: str
    session_id: str
    kind: str  # started | stopped
    connector_id: int | None = None
    transaction_id: str | None = None  # the charger's own id (TxProfile), once known
    at: datetime


class StatusSignal(BaseModel):
    station_id: str
    connector_id: int
    status: str
    at: datetime


class MeterSample(BaseModel):
    station_id: str
    connector_id: int
    session_id: str | None = None
    power_w: float
    at: datetime


class MeterBatch(BaseModel):
    """The newest reading per connector since the last batch (coalesced by the gateway)."""

    samples: list[MeterSample]


class LinkSignal(BaseModel):
    station_id: str
    connected: bool
    version: str | None = None
    at: datetime


class LimitsChanged(BaseModel):
    """The site's or a station's limits changed in the store (re-read them)."""

    by: str = "system"


class EvNeeds(BaseModel):
    """2.0.1 NotifyEVChargingNeeds: the EV's own limits on one EVSE."""

    station_id: str
    connector_id: int
    max_current_a: float | None = None
    phases: int | None = None
    departure: datetime | None = None


class Renegotiate(BaseModel):
    """The EV's schedule exceeded our profile (NotifyEVChargingSchedule Rejected): send the
    EVSE its profile again (K15.FR.13, K16.FR.08, K17.FR.13)."""

    station_id: str
    connector_id: int
    reason: str | None = None


class ConnectorView(BaseModel):
    """One connector in the site's live view: its state and what it was given, and why."""

    station_id: str
    connector_id: int
    session_id: str | None = None
    status: str | None = None
    measured_w: float | None = None
    allowed_a: float | None = None  # the profile the charger accepted last
    profile: str | None = None  # accepted | rejected | offline | pending | cleared
    controllable: bool = True


class SiteLoadView(BaseModel):
    """The `allocation` query: limits in force, measured power, allocation and reasons."""

    site_id: str
    managed: bool
    at: datetime | None = None
    measured_w: float = 0.0
    allocation: AllocationResult | None = None
    connectors: list[ConnectorView] = Field(default_factory=list)
    rebalances: int = 0
    profiles_sent: int = 0
    last_rebalance_ms: float | None = None  # workflow time from trigger to all answers


class ConnectorState(BaseModel):
    """The workflow's running knowledge of one connector (carried over continue-as-new)."""

    station_id: str
    connector_id: int
    session_id: str | None = None
    transaction_id: str | None = None
    arrival: datetime | None = None
    priority: int = 0
    group_checked: bool = False
    status: str | None = None
    measured_w: float | None = None
    measured_at: datetime | None = None
    ev_max_a: float | None = None
    periods: list[tuple[float, float]] | None = None  # sent last (offset s, A)
    sent_at: datetime | None = None
    profile_start: datetime | None = None  # the start of the periods sent last
    allowed_a: float | None = None  # in force: accepted by the charger
    profile: str | None = None  # accepted | rejected | offline | pending
    resend: bool = False  # send the profile again even if unchanged (EV needs, renegotiation)
    use_default: bool = False  # the charger refused the TxProfile: a connector default instead
    rejected: bool = False  # refuses our profiles altogether (alerted)
    overdraws: int = 0  # readings in a row above the allowance
    overdrawing: bool = False  # alerted; counted at its maximum until the session ends
