"""Commands to stations, OCPP-neutral: workflows ask, the gateway translates per version."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# Names the gateway translates for both OCPP versions (see gateway/*/commands.py).
COMMAND_NAMES = (
    "reset",  # params: type Soft|Hard (1.6) / Immediate|OnIdle (2.0.1)
    "unlock_connector",  # params: connector_id (2.0.1 also evse_id)
    "change_availability",  # params: connector_id (0 = station), operative: bool
    "get_configuration",  # params: keys (1.6) / variables (2.0.1 GetVariables)
    "change_configuration",  # params: key, value (1.6) / variables (2.0.1 SetVariables)
    "trigger_message",  # params: message, connector_id
    "data_transfer",  # params: vendor_id, message_id, data
    "clear_cache",
    "remote_start",  # params: id_token, connector_id, remote_start_id (2.0.1)
    "remote_stop",  # params: transaction_id
    "raw",  # params: action, payload — an OCPP CALL as is, for operators and tests
    # Maintenance (gateway/*/maintenance_commands.py); times are RFC 3339 strings.
    "get_diagnostics",  # params: location, oldest, latest, request_id, retries, retry_interval
    "get_log",  # params: as get_diagnostics + log_type DiagnosticsLog|SecurityLog
    "update_firmware",  # params: location, retrieve_at, request_id, install_at, signature, ...
    "get_base_report",  # params: request_id, report_base (2.0.1 only)
    # Local authorization lists (gateway/*/local_list_commands.py, domain.access).
    "send_local_list",  # params: version, update_type Full|Differential, entries [...]
    "get_local_list_version",
    # 2.0.1 function blocks (gateway/v201/device_commands.py); 1.6: not_supported.
    "set_variable_monitoring",  # params: monitors [{name, type, value, severity, ...}]
    "set_monitoring_base",  # params: base All|FactoryDefault|HardWiredOnly
    "set_monitoring_level",  # params: severity 0-9
    "clear_variable_monitoring",  # params: ids
    "get_monitoring_report",  # params: request_id, criteria, variables
    "customer_information",  # params: request_id, report, clear, customer_identifier|id_token
    "set_display_message",  # params: id, content, priority, state, start, end, language
    "get_display_messages",  # params: request_id, ids, priority, state
    "clear_display_message",  # params: id
    "get_charging_profiles",  # params: request_id, evse_id, purpose, stack_level, source
    "publish_firmware",  # params: request_id, location, checksum (local controllers)
    "unpublish_firmware",  # params: checksum
    # Station certificates, both versions (gateway/certificates.py): the station sends a CSR.
    "renew_certificate",  # params: certificate_type ChargingStationCertificate|V2GCertificate|…
    # Smart charging (gateway/*/smart_commands.py; profile form in gateway/v16/smart_commands).
    "set_charging_profile",  # params: connector_id, profile {id, stack_level, purpose, ...}
    "clear_charging_profile",  # params: id, connector_id, purpose, stack_level
    "get_composite_schedule",  # params: connector_id, duration_s, unit A|W
)

# Commands answered later by reports the charger sends in parts (`/stations/{id}/reports`):
# when the operator gives no `request_id`, the API picks one (in the command's params).
REPORTED_COMMANDS = frozenset(
    {
        "get_monitoring_report",
        "customer_information",
        "get_display_messages",
        "get_charging_profiles",
        "publish_firmware",
        "get_base_report",
    }
)


class StationCommand(BaseModel):
    """Ask a station to do something; answered with a `CommandResult` or a typed error."""

    station_id: str
    name: str
    params: dict = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    requested_by: str = "system"


class CommandResult(BaseModel):
    """The station's answer: its status word (Accepted, Rejected, ...) and the raw payload."""

    station_id: str
    name: str
    action: str
    version: str
    status: str | None
    response: dict


class CommandBatch(BaseModel):
    """Several commands for one station, sent in order in one activity (`send_batch_to_station`):
    one activity instead of one per command (e.g. a site's profiles)."""

    station_id: str
    commands: list[StationCommand] = Field(max_length=500)


class BatchOutcome(BaseModel):
    """One command of a batch: the station's answer, or the error type it ended with."""

    result: CommandResult | None = None
    error: str | None = None  # STATION_OFFLINE, COMMAND_TIMEOUT, ... as a single command raises
    message: str | None = None


class BatchResult(BaseModel):
    outcomes: list[BatchOutcome]


class StationRoute(BaseModel):
    """Where a station's socket lives: the task queue of the gateway that holds it."""

    station_id: str
    connected: bool
    task_queue: str | None = None
    version: str | None = None


class CommandRecord(BaseModel):
    """An operator-visible record of a command and its outcome."""

    workflow_id: str
    station_id: str
    name: str
    params: dict
    requested_by: str
    outcome: str  # ok | offline | rejected | timeout | not_supported | error
    status: str | None = None
    response: dict | None = None
    error: str | None = None
    finished_at: datetime | None = None


# ---- one command for many stations (`FleetCommand` workflow) -------------------------------

FLEET_MAX_STATIONS = 20_000  # per fleet command (its history holds every station's outcome)
FLEET_CHUNK = 200  # stations per gateway activity


class FleetCommand(BaseModel):
    """The same command for many stations: sent through whichever gateway holds each socket,
    a chunk of stations per activity; stations offline are tried again `retries` times."""

    name: str
    params: dict = Field(default_factory=dict)
    station_ids: list[str] = Field(min_length=1, max_length=FLEET_MAX_STATIONS)
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    requested_by: str = "system"
    retries: int = Field(default=2, ge=0, le=10)
    retry_after_s: float = Field(default=30.0, ge=1, le=600)


class StationGroups(BaseModel):
    """Stations by the gateway command queue that holds their socket; the rest are offline."""

    by_queue: dict[str, list[str]] = Field(default_factory=dict)
    offline: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)


class StationsCommand(BaseModel):
    """One command for several stations of one gateway, all sent at once (`send_to_stations`)."""

    station_ids: list[str] = Field(max_length=FLEET_CHUNK)
    name: str
    params: dict = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    requested_by: str = "system"

    def for_station(self, station_id: str) -> StationCommand:
        return StationCommand(
            station_id=station_id,
            name=self.name,
            params=self.params,
            timeout_s=self.timeout_s,
            requested_by=self.requested_by,
        )


class StationOutcome(BaseModel):
    """How a command ended at one station of a fleet command (the answer's status word only:
    the whole answer is in the station's message log)."""

    station_id: str
    outcome: str  # as CommandRecord.outcome
    status: str | None = None
    error: str | None = None


class FleetRecord(BaseModel):
    """Outcomes of a fleet command's chunk, for the command log (one row per station)."""

    workflow_id: str
    name: str
    params: dict
    requested_by: str
    outcomes: list[StationOutcome]


def fleet_command_log_id(workflow_id: str, station_id: str) -> str:
    """A station's row of a fleet command in the command log: `{workflow id}/{station}`."""
    return f"{workflow_id}/{station_id}"


class FleetProgress(BaseModel):
    """The `FleetCommand` workflow's query result and final result."""

    name: str
    stations: int
    done: bool = False
    counts: dict[str, int] = Field(default_factory=dict)  # "ok:Accepted", "offline", ...
    not_ok: dict[str, str] = Field(default_factory=dict)  # station -> outcome: error (≤ 1,000)
    rounds: int = 0


# Typed errors raised by `send_to_station` (ApplicationError types), all non-retryable.
STATION_OFFLINE = "StationOffline"
COMMAND_REJECTED = "CommandRejected"
COMMAND_TIMEOUT = "CommandTimeout"
COMMAND_NOT_SUPPORTED = "CommandNotSupported"

# A command's error when the gateway holding the station took no task (dead) or gave no answer.
GATEWAY_DID_NOT_ANSWER = "the gateway holding the station did not answer"

# The outcome a command ends with when `send_to_station` raised that error type.
ERROR_OUTCOMES = {
    STATION_OFFLINE: "offline",
    COMMAND_REJECTED: "rejected",
    COMMAND_TIMEOUT: "timeout",
    COMMAND_NOT_SUPPORTED: "not_supported",
}
