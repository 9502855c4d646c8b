"""Strict JSON-schema validation of OCPP payloads with the official schemas of the `ocpp` package.

Each (version, action, direction) is compiled once per process with `fastjsonschema` and shared by
every charger, so validation costs microseconds per message even with thousands of chargers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

import fastjsonschema
import ocpp

V16, V201 = "1.6", "2.0.1"
SUBPROTOCOLS = {V16: "ocpp1.6", V201: "ocpp2.0.1"}
_DIRS = {
    V16: Path(ocpp.__file__).parent / "v16" / "schemas",
    V201: Path(ocpp.__file__).parent / "v201" / "schemas",
}


class SchemaError(Exception):
    """A payload breaks its schema; `code` is the OCPP-J error code for the version."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@cache
def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (either direction)."""
    suffix = "Response.json"
    return frozenset(p.name[: -len(suffix)] for p in _DIRS[version].glob(f"*{suffix}"))


@cache
def _validator(version: str, action: str, response: bool) -> Callable[[dict], object]:
    if response:
        name = f"{action}Response.json"
    else:
        name = f"{action}.json" if version == V16 else f"{action}Request.json"
    schema = json.loads((_DIRS[version] / name).read_text(encoding="utf-8"))
    schema.pop("$id", None)  # refs are local; never resolve anything remotely
    return fastjsonschema.compile(schema)


def validate(version: str, action: str, payload: dict, *, response: bool = False) -> None:
    """Raise `SchemaError` when `payload` is not a valid request (or response) of `action`."""
    try:
        _validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        raise SchemaError(_code(version, err.rule), f"{action}: {err.message}") from err


def _code(version: str, rule: str | None) -> str:
    if rule == "type":
        return "TypeConstraintViolation"
    if rule == "required":
        return "OccurenceConstraintViolation" if version == V16 else "OccurrenceConstraintViolation"
    if rule == "additionalProperties":
        return "FormationViolation" if version == V16 else "FormatViolation"
    return "PropertyConstraintViolation"
