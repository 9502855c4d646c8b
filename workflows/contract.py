"""The public contract of our workflows: names, ids and search attributes.

Imported by the gateway and the API so they can start, update, signal and query workflows by
name without importing workflow code.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CHARGING_SESSION = "ChargingSession"
STATION_COMMAND = "StationCommand"
FLEET_COMMAND = "FleetCommand"
QUERY_FLEET_PROGRESS = "progress"  # FleetCommand

# ChargingSession updates, signals and queries.
UPDATE_AUTHORIZE = "authorize"
UPDATE_START = "start"
SIGNAL_METER = "meter"
SIGNAL_STOP = "stop"
SIGNAL_REQUEST_STOP = "request_stop"
SIGNAL_CONNECTOR_STATUS = "connector_status"
SIGNAL_LINK = "link"
QUERY_STATE = "state"

STATION_ID = SearchAttributeKey.for_keyword("StationId")
ID_TOKEN = SearchAttributeKey.for_keyword("IdToken")  # a fingerprint, never the raw token
SESSION_STATE = SearchAttributeKey.for_keyword("SessionState")
DRIVER_ID = SearchAttributeKey.for_keyword("DriverId")
# `session` for a charging session; `decision` for a decision-only ChargingSession (a 2.0.1
# Authorize no transaction follows from): `StationId="X" AND SessionKind="session"` lists only
# real sessions, which alone take session numbers.
SESSION_KIND = SearchAttributeKey.for_keyword("SessionKind")
KIND_SESSION = "session"
KIND_DECISION = "decision"

SEARCH_ATTRIBUTES = (STATION_ID, ID_TOKEN, SESSION_STATE, DRIVER_ID, SESSION_KIND)


def session_workflow_id(station_id: str, transaction_id: str | int) -> str:
    """Readable, stable id of a session workflow, e.g. `session-DEMO-1-42`."""
    return f"session-{station_id}-{transaction_id}"


def command_workflow_id(station_id: str, name: str, at_compact: str) -> str:
    """e.g. `cmd-DEMO-1-reset-20260101T120000123456`."""
    return f"cmd-{station_id}-{name}-{at_compact}"


def fleet_command_workflow_id(name: str, at_compact: str) -> str:
    """e.g. `fleet-cmd-reset-20260101T120000123456`."""
    return f"fleet-cmd-{name}-{at_compact}"
