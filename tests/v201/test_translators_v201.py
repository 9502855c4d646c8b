"""2.0.1 command translators and meter-value parsing, without sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.meter_values import energy_register_wh, live_update, sample_rows
from gateway.protocol import OCPP201
from gateway.schemas import validate
from gateway.v201.commands import COMMANDS

CASES = [
    ("reset", {}, {"type": "OnIdle"}),
    ("reset", {"type": "Hard", "evse_id": 2}, {"type": "Immediate", "evseId": 2}),
    ("unlock_connector", {"connector_id": 2}, {"evseId": 2, "connectorId": 1}),
    ("unlock_connector", {"evse_id": 1, "connector_id": 3}, {"evseId": 1, "connectorId": 3}),
    ("change_availability", {"operative": False}, {"operationalStatus": "Inoperative"}),
    (
        "change_availability",
        {"connector_id": 0, "operative": True},
        {"operationalStatus": "Operative"},
    ),
    (
        "change_availability",
        {"evse_id": 2, "connector_id": 1, "operative": False},
        {"operationalStatus": "Inoperative", "evse": {"id": 2, "connectorId": 1}},
    ),
    (
        "get_configuration",
        {"keys": ["OCPPCommCtrlr.HeartbeatInterval"]},
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    ),
    (
        "get_configuration",
        {
            "variables": [
                {
                    "component": "EVSE",
                    "evse_id": 1,
                    "variable": "Power",
                    "attribute_type": "MaxSet",
                }
            ]
        },
        {
            "getVariableData": [
                {
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Power"},
                    "attributeType": "MaxSet",
                }
            ]
        },
    ),
    (
        "change_configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": 60},
        {
            "setVariableData": [
                {
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "60",
                }
            ]
        },
    ),
    (
        "trigger_message",
        {"message": "DiagnosticsStatusNotification"},
        {"requestedMessage": "LogStatusNotification"},
    ),
    (
        "trigger_message",
        {"message": "MeterValues", "connector_id": 1},
        {"requestedMessage": "MeterValues", "evse": {"id": 1}},
    ),
    ("data_transfer", {"vendor_id": "v", "data": [1, 2]}, {"vendorId": "v", "data": [1, 2]}),
    ("clear_cache", {}, {}),
    (
        "remote_start",
        {"id_token": "TAG", "connector_id": 2, "remote_start_id": 9},
        {"idToken": {"idToken": "TAG", "type": "Central"}, "remoteStartId": 9, "evseId": 2},
    ),
    ("remote_stop", {"transaction_id": 42}, {"transactionId": "42"}),
]


@pytest.mark.parametrize(("name", "params", "expected"), CASES)
def test_translations_are_schema_valid(name, params, expected):
    action, payload = COMMANDS[name](params)
    validate(OCPP201, action, payload)  # raises on a schema violation
    assert payload == expected


def test_remote_start_without_an_id_picks_a_valid_one():
    action, payload = COMMANDS["remote_start"]({"id_token": "TAG"})
    validate(OCPP201, action, payload)
    assert "evseId" not in payload and 0 <= payload["remoteStartId"] < 2**31


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("get_configuration", {}),  # 2.0.1 reads everything with GetBaseReport
        ("get_configuration", {"variables": ["NoDot"]}),
        ("change_configuration", {"key": "HeartbeatInterval", "value": 1}),
    ],
)
def test_incomplete_parameters_are_refused(name, params):
    with pytest.raises((KeyError, ValueError)):
        COMMANDS[name](params)


def _sampled(**fields) -> list[dict]:
    return [{"timestamp": "2026-01-01T12:00:00Z", "sampledValue": [fields]}]


def test_201_units_multipliers_and_signed_values():
    rows = sample_rows(
        "S",
        1,
        "tx",
        "session-S-tx",
        _sampled(
            value=12.345,
            unitOfMeasure={"unit": "kWh"},
            signedMeterValue={
                "signedMeterData": "BLOB",
                "signingMethod": "ECDSA",
                "encodingMethod": "OCMF",
                "publicKey": "KEY",
            },
        ),
    )
    assert (rows[0].unit, rows[0].value, rows[0].signed_data) == ("kWh", 12.345, "BLOB")
    assert energy_register_wh(rows) == 12_345  # a 2.0.1 signed reading still has its number
    scaled = sample_rows("S", 0, None, None, _sampled(value=5, unitOfMeasure={"multiplier": 3}))
    assert (scaled[0].unit, scaled[0].value) == ("Wh", 5000)


def test_16_signed_blobs_carry_no_reading():
    rows = sample_rows("S", 1, "1", None, _sampled(value="BLOB", format="SignedData"))
    assert rows[0].signed_data == "BLOB" and energy_register_wh(rows) is None
    assert live_update(rows).timestamp == datetime(2026, 1, 1, 12, tzinfo=UTC)
