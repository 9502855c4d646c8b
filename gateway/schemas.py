"""Strict JSON-schema validation of every OCPP payload, both ways.

Uses the official schemas shipped by the `ocpp` package, compiled once per action with
`fastjsonschema` (far faster than interpreting them on every message).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import fastjsonschema
import ocpp

from gateway.protocol import OCPP16, OCPP201, OcppError

_SCHEMA_DIRS = {
    OCPP16: Path(ocpp.__file__).parent / "v16" / "schemas",
    OCPP201: Path(ocpp.__file__).parent / "v201" / "schemas",
}


def _schema_file(version: str, action: str, response: bool) -> Path:
    if version == OCPP16:
        name = f"{action}Response.json" if response else f"{action}.json"
    else:
        name = f"{action}Response.json" if response else f"{action}Request.json"
    return _SCHEMA_DIRS[version] / name


@cache
def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (in either direction)."""
    suffix = "Response.json"
    return frozenset(path.name[: -len(suffix)] for path in _SCHEMA_DIRS[version].glob(f"*{suffix}"))


@cache
def _validator(version: str, action: str, response: bool) -> Callable[[dict], object]:
    path = _schema_file(version, action, response)
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema.pop("$id", None)  # refs are local ("#/definitions/..."); never resolve remotely
    return fastjsonschema.compile(schema)


_compiled: dict[tuple[str, str, bool], Callable[[dict], object]] = {}  # one lookup per message


def validate(version: str, action: str, payload: dict, *, response: bool = False) -> None:
    """Raise `OcppError` with the protocol's error code if `payload` breaks the schema."""
    key = (version, action, response)
    validator = _compiled.get(key)
    if validator is None:
        if action not in known_actions(version):
            raise OcppError("NotImplemented", f"unknown action {action}")
        validator = _compiled[key] = _validator(version, action, response)
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        raise OcppError(_code_for(err.rule), f"{action}: {err.message}") from err


def _code_for(rule: str | None) -> str:
    if rule == "type":
        return "TypeConstraintViolation"
    if rule == "required":
        return "OccurrenceConstraintViolation"
    if rule == "additionalProperties":
        return "FormatViolation"
    return "PropertyConstraintViolation"
