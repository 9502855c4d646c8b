"""OCPP-J framing (RPC layer): parse frames, build CALLRESULT / CALLERROR, version error codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

CALL, CALLRESULT, CALLERROR = 2, 3, 4

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
SUBPROTOCOLS = (OCPP16, OCPP201)


class OcppError(Exception):
    """An error answered to the charger as a CALLERROR. `code` is version-neutral."""

    def __init__(self, code: str, description: str = "", details: dict | None = None):
        super().__init__(description or code)
        self.code = code
        self.description = description
        self.details = details or {}


# Version-neutral code -> what each version calls it.
_CODES = {
    OCPP16: {
        "FormatViolation": "FormationViolation",
        "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        "MessageTypeNotSupported": "FormationViolation",
        "RpcFrameworkError": "FormationViolation",
    },
    OCPP201: {},
}


def error_code(code: str, version: str) -> str:
    """The code as `version` spells it (1.6: FormationViolation, 2.0.1: FormatViolation)."""
    return _CODES.get(version, {}).get(code, code)


@dataclass(slots=True)
class Frame:
    """A parsed OCPP-J message."""

    message_type: int
    unique_id: str
    action: str | None = None  # CALL only
    payload: Any = None  # CALL / CALLRESULT payload
    error_code: str | None = None  # CALLERROR only
    error_description: str = ""
    error_details: Any = None


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one frame or raise OcppError (the unique id "-1" when it cannot be read)."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise OcppError("RpcFrameworkError", "message is not valid JSON") from err
    if not isinstance(message, list) or len(message) < 3:
        raise OcppError("RpcFrameworkError", "message is not an OCPP-J array")
    message_type, unique_id = message[0], message[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > 36:
        raise OcppError("RpcFrameworkError", "message id must be a string of 1 to 36 characters")
    if message_type == CALL:
        if len(message) != 4 or not isinstance(message[2], str):
            raise _with_id(
                OcppError("FormatViolation", "CALL must be [2, id, action, payload]"), unique_id
            )
        if not isinstance(message[3], dict):
            raise _with_id(
                OcppError("FormatViolation", "CALL payload must be an object"), unique_id
            )
        return Frame(CALL, unique_id, action=message[2], payload=message[3])
    if message_type == CALLRESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            raise _with_id(
                OcppError("FormatViolation", "CALLRESULT must be [3, id, payload]"), unique_id
            )
        return Frame(CALLRESULT, unique_id, payload=message[2])
    if message_type == CALLERROR:
        if len(message) != 5:
            raise _with_id(
                OcppError("FormatViolation", "CALLERROR must have 5 elements"), unique_id
            )
        return Frame(
            CALLERROR,
            unique_id,
            error_code=str(message[2]),
            error_description=str(message[3]),
            error_details=message[4],
        )
    raise _with_id(
        OcppError("MessageTypeNotSupported", f"unknown message type {message_type!r}"), unique_id
    )


def _with_id(error: OcppError, unique_id: str) -> OcppError:
    error.details = {**error.details, "_unique_id": unique_id}
    return error


def error_unique_id(error: OcppError) -> str:
    """The id to answer a framing error with ("-1" when the frame's id could not be read)."""
    return error.details.get("_unique_id", "-1")


def call(unique_id: str, action: str, payload: dict) -> str:
    return orjson.dumps([CALL, unique_id, action, payload]).decode()


def call_result(unique_id: str, payload: dict) -> str:
    return orjson.dumps([CALLRESULT, unique_id, payload]).decode()


def call_error(unique_id: str, error: OcppError, version: str) -> str:
    details = {k: v for k, v in error.details.items() if not k.startswith("_")}
    description = error.description[:255]
    return orjson.dumps(
        [CALLERROR, unique_id, error_code(error.code, version), description, details]
    ).decode()
