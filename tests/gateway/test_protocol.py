"""OCPP-J framing (`gateway.protocol`) and payload validation (`gateway.schemas`), no sockets.

Error codes are version-neutral inside the gateway and spelled per version on the wire: OCPP 1.6
says FormationViolation / OccurenceConstraintViolation (sic), 2.0.1 FormatViolation /
OccurrenceConstraintViolation. Every code we can emit must be one the version defines.
"""

from __future__ import annotations

import orjson
import pytest

from gateway.protocol import (
    CALL,
    CALLERROR,
    CALLRESULT,
    OCPP16,
    OCPP201,
    OcppError,
    call,
    call_error,
    call_result,
    error_code,
    error_unique_id,
    parse_frame,
)
from gateway.schemas import known_actions, validate

# The error codes each version defines (OCPP-J 1.6 section 4.2.3, OCPP 2.0.1 part 4 section 4.3).
CODES_16 = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
CODES_201 = {
    "FormatViolation",
    "GenericError",
    "InternalError",
    "MessageTypeNotSupported",
    "NotImplemented",
    "NotSupported",
    "OccurrenceConstraintViolation",
    "PropertyConstraintViolation",
    "ProtocolError",
    "RpcFrameworkError",
    "SecurityError",
    "TypeConstraintViolation",
}
# Every version-neutral code the gateway raises somewhere.
NEUTRAL_CODES = [
    "FormatViolation",
    "OccurrenceConstraintViolation",
    "MessageTypeNotSupported",
    "RpcFrameworkError",
    "TypeConstraintViolation",
    "PropertyConstraintViolation",
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "GenericError",
]


def _error(raw) -> OcppError:
    with pytest.raises(OcppError) as caught:
        parse_frame(raw)
    return caught.value


# ---- good frames ---------------------------------------------------------------------------


def test_parse_call():
    frame = parse_frame('[2, "abc", "Heartbeat", {}]')
    assert (frame.message_type, frame.unique_id, frame.action, frame.payload) == (
        CALL,
        "abc",
        "Heartbeat",
        {},
    )


def test_parse_call_from_bytes():
    frame = parse_frame(b'[2,"id-1","Authorize",{"idTag":"T1"}]')
    assert frame.action == "Authorize"
    assert frame.payload == {"idTag": "T1"}


def test_parse_callresult():
    frame = parse_frame('[3, "abc", {"status": "Accepted"}]')
    assert (frame.message_type, frame.unique_id, frame.payload) == (
        CALLRESULT,
        "abc",
        {"status": "Accepted"},
    )
    assert frame.action is None


def test_parse_callerror():
    frame = parse_frame('[4, "abc", "NotSupported", "nope", {"why": 1}]')
    assert frame.message_type == CALLERROR
    assert frame.unique_id == "abc"
    assert (frame.error_code, frame.error_description, frame.error_details) == (
        "NotSupported",
        "nope",
        {"why": 1},
    )


def test_unique_id_of_36_characters_is_accepted():
    unique_id = "x" * 36
    assert parse_frame(orjson.dumps([2, unique_id, "Heartbeat", {}])).unique_id == unique_id


# ---- bad frames ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "",
        "[2, 'single quotes', 'Heartbeat', {}]",
        '[2, "abc", "Heartbeat", {}',  # truncated
        b"\xff\xfe",
    ],
)
def test_not_json_is_a_framework_error_with_unknown_id(raw):
    err = _error(raw)
    assert err.code == "RpcFrameworkError"
    assert error_unique_id(err) == "-1"


@pytest.mark.parametrize(
    "raw", ['{"a": 1}', '"text"', "42", "null", "[]", "[2]", '[2, "abc"]', "true"]
)
def test_not_an_ocpp_array_is_a_framework_error_with_unknown_id(raw):
    err = _error(raw)
    assert err.code == "RpcFrameworkError"
    assert error_unique_id(err) == "-1"


@pytest.mark.parametrize("unique_id", [5, None, "", "x" * 37, ["a"], {"id": "a"}, 1.5], ids=repr)
def test_bad_unique_id_is_a_framework_error_with_unknown_id(unique_id):
    err = _error(orjson.dumps([2, unique_id, "Heartbeat", {}]))
    assert err.code == "RpcFrameworkError"
    assert error_unique_id(err) == "-1"


@pytest.mark.parametrize(
    "message",
    [
        [2, "id1", "Heartbeat"],  # no payload
        [2, "id1", "Heartbeat", {}, {}],  # one too many
        [2, "id1", 7, {}],  # action not a string
        [2, "id1", "Heartbeat", []],  # payload not an object
        [2, "id1", "Heartbeat", "{}"],
        [2, "id1", "Heartbeat", None],
        [3, "id1", {}, {}],  # CALLRESULT with 4 elements
        [3, "id1", "ok"],  # CALLRESULT payload not an object
        [4, "id1", "GenericError", "x"],  # CALLERROR with 4 elements
        [4, "id1", "GenericError", "x", {}, 1],
    ],
    ids=repr,
)
def test_wrong_shape_is_a_format_violation_keeping_the_id(message):
    err = _error(orjson.dumps(message))
    assert err.code == "FormatViolation"
    assert error_unique_id(err) == "id1"


@pytest.mark.parametrize("message_type", [5, 0, 1, 6, -2, "2", None], ids=repr)
def test_unknown_message_type(message_type):
    err = _error(orjson.dumps([message_type, "id9", "Heartbeat", {}]))
    assert err.code == "MessageTypeNotSupported"
    assert error_unique_id(err) == "id9"


def test_unknown_message_type_is_spelled_per_version():
    err = _error('[5, "id9", "Heartbeat", {}]')
    assert orjson.loads(call_error(error_unique_id(err), err, OCPP16))[2] == "FormationViolation"
    assert orjson.loads(call_error(error_unique_id(err), err, OCPP201))[2] == (
        "MessageTypeNotSupported"
    )


def test_not_json_is_spelled_per_version():
    err = _error("garbage")
    assert orjson.loads(call_error("-1", err, OCPP16))[:3] == [4, "-1", "FormationViolation"]
    assert orjson.loads(call_error("-1", err, OCPP201))[:3] == [4, "-1", "RpcFrameworkError"]


# ---- error codes per version -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("neutral", "v16", "v201"),
    [
        ("FormatViolation", "FormationViolation", "FormatViolation"),
        (
            "OccurrenceConstraintViolation",
            "OccurenceConstraintViolation",
            "OccurrenceConstraintViolation",
        ),
        ("TypeConstraintViolation", "TypeConstraintViolation", "TypeConstraintViolation"),
        (
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
            "PropertyConstraintViolation",
        ),
        ("NotImplemented", "NotImplemented", "NotImplemented"),
        ("NotSupported", "NotSupported", "NotSupported"),
        ("InternalError", "InternalError", "InternalError"),
    ],
)
def test_error_code_spelling(neutral, v16, v201):
    assert error_code(neutral, OCPP16) == v16
    assert error_code(neutral, OCPP201) == v201


@pytest.mark.parametrize("neutral", NEUTRAL_CODES)
def test_every_code_is_one_the_version_defines(neutral):
    assert error_code(neutral, OCPP16) in CODES_16
    assert error_code(neutral, OCPP201) in CODES_201


# ---- building frames -----------------------------------------------------------------------


def test_call_error_shape():
    err = OcppError("OccurrenceConstraintViolation", "idTag is required", {"field": "idTag"})
    for version, code in ((OCPP16, "OccurenceConstraintViolation"), (OCPP201, err.code)):
        frame = orjson.loads(call_error("u-1", err, version))
        assert frame == [CALLERROR, "u-1", code, "idTag is required", {"field": "idTag"}]


def test_call_error_has_an_object_for_details_even_when_there_are_none():
    frame = orjson.loads(call_error("u-1", OcppError("GenericError"), OCPP16))
    assert frame == [4, "u-1", "GenericError", "", {}]


def test_call_error_hides_internal_details_and_bounds_the_description():
    err = _error('[2, "id1", "Heartbeat"]')
    err.description = "d" * 1000
    frame = orjson.loads(call_error(error_unique_id(err), err, OCPP16))
    assert len(frame) == 5
    assert frame[1] == "id1"
    assert frame[4] == {}  # the private "_unique_id" bookkeeping never goes on the wire
    assert frame[3] == "d" * 255


def test_call_and_call_result_shape():
    assert orjson.loads(call("c-1", "Reset", {"type": "Soft"})) == [
        2,
        "c-1",
        "Reset",
        {"type": "Soft"},
    ]
    assert orjson.loads(call_result("c-1", {"status": "Accepted"})) == [
        3,
        "c-1",
        {"status": "Accepted"},
    ]


def test_built_frames_parse_back():
    assert parse_frame(call("c-1", "Reset", {"type": "Soft"})).action == "Reset"
    assert parse_frame(call_result("c-1", {})).message_type == CALLRESULT
    parsed = parse_frame(call_error("c-1", OcppError("NotSupported", "x"), OCPP16))
    assert (parsed.message_type, parsed.error_code) == (CALLERROR, "NotSupported")


# ---- schema validation ---------------------------------------------------------------------

VALID_BOOT = {
    OCPP16: {"chargePointVendor": "Ampflow", "chargePointModel": "Sim"},
    OCPP201: {"chargingStation": {"vendorName": "Ampflow", "model": "Sim"}, "reason": "PowerUp"},
}


def _boot(version: str, **changes) -> dict:
    payload = orjson.loads(orjson.dumps(VALID_BOOT[version]))
    target = payload if version == OCPP16 else payload["chargingStation"]
    for key, value in changes.items():
        if value is _DROP:
            target.pop(key)
        else:
            target[key] = value
    return payload


_DROP = object()
VENDOR = {OCPP16: "chargePointVendor", OCPP201: "vendorName"}
VENDOR_MAX = {OCPP16: 20, OCPP201: 50}


def _validation_error(version, action, payload, *, response=False) -> OcppError:
    with pytest.raises(OcppError) as caught:
        validate(version, action, payload, response=response)
    return caught.value


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_valid_boot_notification_passes(version):
    validate(version, "BootNotification", VALID_BOOT[version])
    validate(
        version, "BootNotification", _boot(version, **{VENDOR[version]: "v" * VENDOR_MAX[version]})
    )


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_wrong_type_is_a_type_constraint_violation(version):
    err = _validation_error(version, "BootNotification", _boot(version, **{VENDOR[version]: 5}))
    assert err.code == "TypeConstraintViolation"
    assert error_code(err.code, version) == "TypeConstraintViolation"


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_missing_field_is_an_occurrence_constraint_violation(version):
    err = _validation_error(version, "BootNotification", _boot(version, **{VENDOR[version]: _DROP}))
    assert err.code == "OccurrenceConstraintViolation"
    spelled = {OCPP16: "OccurenceConstraintViolation", OCPP201: "OccurrenceConstraintViolation"}
    assert error_code(err.code, version) == spelled[version]


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_too_long_is_a_property_constraint_violation(version):
    long_vendor = "v" * (VENDOR_MAX[version] + 1)
    err = _validation_error(
        version, "BootNotification", _boot(version, **{VENDOR[version]: long_vendor})
    )
    assert err.code == "PropertyConstraintViolation"
    assert "BootNotification" in err.description


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        (
            OCPP16,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Bogus"},
        ),
        (
            OCPP16,
            "StopTransaction",
            {
                "meterStop": 1,
                "timestamp": "2026-01-01T00:00:00Z",
                "transactionId": 1,
                "reason": "Bored",
            },
        ),
        (
            OCPP201,
            "BootNotification",
            {"chargingStation": {"vendorName": "v", "model": "m"}, "reason": "Nope"},
        ),
        (
            OCPP201,
            "StatusNotification",
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "connectorStatus": "Bogus",
                "evseId": 1,
                "connectorId": 1,
            },
        ),
    ],
)
def test_bad_enum_value_is_a_property_constraint_violation(version, action, payload):
    assert _validation_error(version, action, payload).code == "PropertyConstraintViolation"


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_unknown_property_is_a_format_violation(version):
    payload = {**VALID_BOOT[version], "surprise": True}
    err = _validation_error(version, "BootNotification", payload)
    assert err.code == "FormatViolation"
    spelled = {OCPP16: "FormationViolation", OCPP201: "FormatViolation"}
    assert error_code(err.code, version) == spelled[version]


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (OCPP16, "FooBar"),
        (OCPP201, "FooBar"),
        (OCPP16, "TransactionEvent"),  # a 2.0.1 action is unknown in 1.6
        (OCPP201, "StartTransaction"),  # and a 1.6 action in 2.0.1
        (OCPP16, "heartbeat"),  # action names are case-sensitive
    ],
)
def test_unknown_action_is_not_implemented(version, action):
    err = _validation_error(version, action, {})
    assert err.code == "NotImplemented"
    assert error_code(err.code, version) == "NotImplemented"


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_known_actions_cover_the_core_messages(version):
    actions = known_actions(version)
    assert {"BootNotification", "Heartbeat", "StatusNotification", "Authorize"} <= actions
    assert ("StartTransaction" in actions) == (version == OCPP16)
    assert ("TransactionEvent" in actions) == (version == OCPP201)


def test_bad_timestamp_is_a_property_constraint_violation():
    payload = {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
        "timestamp": "yesterday",
    }
    assert _validation_error(OCPP16, "StatusNotification", payload).code == (
        "PropertyConstraintViolation"
    )


def test_integer_fields_reject_floats_and_booleans():
    for bad in (1.5, True, "1"):
        payload = {"connectorId": bad, "errorCode": "NoError", "status": "Available"}
        err = _validation_error(OCPP16, "StatusNotification", payload)
        assert err.code == "TypeConstraintViolation", bad


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_responses_are_validated_with_the_response_schema(version):
    good = {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300}
    validate(version, "BootNotification", good, response=True)
    # The request schema does not apply to the response ...
    with pytest.raises(OcppError):
        validate(version, "BootNotification", good)
    # ... and a response missing its interval is refused.
    missing = {k: v for k, v in good.items() if k != "interval"}
    assert _validation_error(version, "BootNotification", missing, response=True).code == (
        "OccurrenceConstraintViolation"
    )
