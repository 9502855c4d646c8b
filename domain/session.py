"""The OCPP-neutral charging-session model: states and the messages that cross into Temporal.

Both OCPP 1.6 and 2.0.1 adapters translate into these; workflows and activities only see these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.rating import RatingResult


class AuthorizationStatus(StrEnum):
    """Why a credential may or may not charge (the common subset of 1.6 and 2.0.1)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    NO_CREDIT = "NoCredit"  # the payment hold was declined (2.0.1 NoCredit; 1.6 says Blocked)


class SessionState(StrEnum):
    """Where a session is; also the `SessionState` search attribute."""

    AUTHORIZED = "Authorized"
    PENDING = "Pending"  # EV connected / remote start sent, waiting for the transaction or an id
    CHARGING = "Charging"
    STOPPED = "Stopped"
    COMPLETED = "Completed"
    REJECTED = "Rejected"  # credential refused: never billed
    EXPIRED = "Expired"  # authorized but never started (zombie guard)
    PAYMENT_FAILED = "PaymentFailed"
    NEEDS_REVIEW = "NeedsReview"


class Authorization(BaseModel):
    """The answer to 'may this credential charge here?'."""

    status: AuthorizationStatus
    id_token: str
    driver_id: int | None = None
    group_id: str | None = None
    expires_at: datetime | None = None
    guest: bool = False  # an ad-hoc (payment link) credential: its hold caps the session
    free_vend: bool = False  # a free-vend station: no authorization, nothing to pay


class RemoteStart(BaseModel):
    """A session started from the app or API: the workflow asks the charger to start."""

    id_token: str
    connector_id: int | None = None
    requested_by: str = "api"


class SessionInput(BaseModel):
    """Input of the `ChargingSession` workflow (guards in seconds)."""

    session_id: str
    station_id: str
    transaction_id: str
    authorization_timeout_s: int = 180
    max_session_s: int = 72 * 3600
    offline_close_s: int = 3600  # charger silent this long: close with the last known energy
    reconcile_window_s: int = 7 * 24 * 3600  # after such a close, wait this long for its stop
    remote_stop_grace_s: int = 120  # after a remote stop, wait this long for the charger's stop
    cost_update_interval_s: int = 0  # push the running cost to 2.0.1 chargers (0 = off)
    spend_limit: int | None = None  # stop remotely before the cost exceeds this (minor units)
    remote_start: RemoteStart | None = None
    history_limit: int = 10_000  # continue-as-new past this many history events
    decision_only: bool = False  # only answer one Authorize (2.0.1: not tied to a transaction)
    carry: SessionMemory | None = None


class AuthorizeRequest(BaseModel):
    """A credential presented at a station (OCPP Authorize)."""

    id_token: str
    token_type: str = "ISO14443"
    station_id: str | None = None  # where it was presented (per-station brute-force limit)
    session_id: str | None = None  # the session deciding (a guest's payment it already took)


class StartRequest(BaseModel):
    """A charger reports a started transaction (StartTransaction / TransactionEvent Started)."""

    connector_id: int
    id_token: str
    token_type: str = "ISO14443"
    meter_start_wh: int = 0
    timestamp: datetime
    station_transaction_id: str | None = None  # the charger's own id, when it differs (2.0.1)
    # The charger was already told this refusal (the gateway's fallback decision, ADR-005): the
    # session takes it as its answer, so a transaction the charger stopped is never billed.
    refused_as: str | None = None


class StartResult(BaseModel):
    """What the charger is told when it starts a transaction."""

    transaction_id: str
    authorization: Authorization | None  # None: started without an id token (plug-in first)


class MeterUpdate(BaseModel):
    """A compact live reading (the raw samples themselves go to the store)."""

    timestamp: datetime
    energy_wh: int | None = None
    power_w: float | None = None
    soc_percent: float | None = None
    received_at: datetime | None = None  # when the gateway got it (proof the charger is online)


class StopCommand(BaseModel):
    """A driver, an operator or a guard asks the charger to stop the session."""

    requested_by: str
    reason: str = "Remote"


class ConnectorStatusUpdate(BaseModel):
    """The session's connector changed status (idle detection, fault)."""

    timestamp: datetime
    status: str
    error_code: str | None = None


class LinkUpdate(BaseModel):
    """The station's connection went down or came back."""

    timestamp: datetime
    online: bool


class StopRequest(BaseModel):
    """A charger reports that a transaction ended."""

    timestamp: datetime
    meter_stop_wh: int | None = None
    reason: str = "Local"
    id_token: str | None = None


class SessionView(BaseModel):
    """Live state of a session, as answered by the workflow's `state` query."""

    session_id: str
    station_id: str
    transaction_id: str
    state: SessionState
    connector_id: int | None = None
    id_token_fingerprint: str | None = None
    driver_id: int | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    meter_start_wh: int | None = None
    last_energy_wh: int | None = None
    energy_wh: int = 0
    power_w: float | None = None
    cost_so_far: int = 0
    currency: str | None = None
    stop_reason: str | None = None
    final_reason: str | None = None
    total: int | None = None
    connector_status: str | None = None
    idle_s: int = 0
    online: bool = True
    flags: list[str] = Field(default_factory=list)


class SessionRecord(BaseModel):
    """What the store is told about a session at start and at stop."""

    session_id: str
    station_id: str
    transaction_id: str
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: int | None = None
    state: SessionState
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    stop_reason: str | None = None
    review_reason: str | None = None
    free_vend: bool = False  # snapshot a zero tariff
    # The workflow's count of its own writes: the store ignores a write older than one it has
    # applied (a worker that lost its workflow task may still be retrying an earlier write).
    seq: int | None = None


class StartedSession(BaseModel):
    """The store's answer when a session starts: the tariff snapshot in force."""

    tariff: dict = Field(default_factory=dict)


class RateRequest(BaseModel):
    session_id: str


class PendingStart(BaseModel):
    """Whether a charger's start for this session is stored but not delivered yet (ADR-005)."""

    session_id: str
    pending: bool = False


class RatedSession(BaseModel):
    """The rated price and what it was computed from."""

    session_id: str
    energy_wh: int
    duration_s: int
    rating: RatingResult


class ChargeRequest(BaseModel):
    """Charge a rated session's total to its driver (idempotent per session)."""

    session_id: str
    driver_id: int | None
    amount: int
    currency: str


class PaymentOutcome(BaseModel):
    payment_id: int
    status: str  # "succeeded" | "failed" | "not_required"
    provider: str
    amount: int
    failure_reason: str | None = None


class ReceiptRequest(BaseModel):
    session_id: str


class ReceiptIssued(BaseModel):
    receipt_number: int
    session_id: str


class IdleInterval(BaseModel):
    """A stretch during which the car was plugged in but drew no energy."""

    start: datetime
    end: datetime | None = None
    status: str | None = None  # the connector status that made it idle


class SessionMemory(BaseModel):
    """Everything a `ChargingSession` carries across continue-as-new."""

    view: SessionView
    authorization: Authorization | None = None
    start_request: StartRequest | None = None
    start_result: StartResult | None = None
    stop_request: StopRequest | None = None
    tariff: dict | None = None
    idle: list[IdleInterval] = Field(default_factory=list)
    offline_since: datetime | None = None
    stop_command: StopCommand | None = None
    stop_command_sent_at: datetime | None = None
    last_cost_push: datetime | None = None
    last_cost_pushed: int | None = None  # the running cost last told the charger (minor units)
    charging_since: datetime | None = None  # workflow time the start was recorded (guards)
    last_reading_at: datetime | None = None
    late_stop: StopRequest | None = None  # the charger's own stop after a guard closed it
    hold_status: str | None = None  # held | declined | not_required (payment hold at authorize)
    spend_limit: int | None = None  # from a guest's hold: nothing to charge beyond it
    last_link_at: datetime | None = None  # gateway time of the newest link change applied
    stop_command_acked: bool = False  # the charger accepted the remote stop
    stop_command_last_try: datetime | None = None  # when the remote stop was last sent
    record_seq: int = 0  # writes of the session row so far (SessionRecord.seq)


SessionInput.model_rebuild()
