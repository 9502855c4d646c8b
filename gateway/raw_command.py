"""The `raw` neutral command: an OCPP CALL passed through as is (both versions)."""

from __future__ import annotations

from gateway.protocol import OcppError


def raw(params: dict) -> tuple[str, dict]:
    """`params` = {"action": ..., "payload": {...}}; validated against the schema when sent."""
    if not isinstance(params.get("action"), str) or not isinstance(params.get("payload"), dict):
        raise OcppError("FormatViolation", "raw commands need 'action' and an object 'payload'")
    return params["action"], params["payload"]
