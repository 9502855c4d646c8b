"""The site's charging profiles, translated for each OCPP version, pass the official schemas
(the gateway validates every outgoing CALL with them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.site_load import schedule_periods
from domain.site_load_profiles import clear_params, profile_params
from gateway.protocol import OCPP16, OCPP201
from gateway.schemas import validate
from gateway.versions import TRANSLATORS

START = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
PERIODS = schedule_periods([(0, 12.3), (3600, 6.0), (18000, 16.0)], 24)


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
@pytest.mark.parametrize(
    "params",
    [
        profile_params("tx", 2, PERIODS, START, 3, transaction_id="42"),
        profile_params("default", 0, [(0, 0.0)], START, 3),
        profile_params("default", 1, PERIODS[:1], START, 1),
    ],
)
def test_profiles_pass_the_schemas(version, params):
    action, payload = TRANSLATORS[version]["set_charging_profile"](params)
    assert action == "SetChargingProfile"
    validate(version, action, payload)


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
def test_tx_profiles_name_the_transaction_and_the_rest(version):
    params = profile_params("tx", 2, PERIODS, START, 3, transaction_id="42")
    _, payload = TRANSLATORS[version]["set_charging_profile"](params)
    if version == OCPP16:
        raw = payload["csChargingProfiles"]
        assert payload["connectorId"] == 2 and raw["transactionId"] == 42
        schedule = raw["chargingSchedule"]
    else:
        raw = payload["chargingProfile"]
        assert payload["evseId"] == 2 and raw["transactionId"] == "42"
        schedule = raw["chargingSchedule"][0]
    assert raw["chargingProfilePurpose"] == "TxProfile" and raw["stackLevel"] == 1
    assert schedule["startSchedule"] == "2026-12-05T16:00:00Z"
    assert [p["limit"] for p in schedule["chargingSchedulePeriod"]] == [12.3, 6.0, 16.0]
    assert all(p["numberPhases"] == 3 for p in schedule["chargingSchedulePeriod"])


@pytest.mark.parametrize("version", [OCPP16, OCPP201])
@pytest.mark.parametrize("purpose", ["tx", "default"])
def test_clear_and_composite_schedule_pass_the_schemas(version, purpose):
    action, payload = TRANSLATORS[version]["clear_charging_profile"](clear_params(purpose))
    validate(version, action, payload)
    action, payload = TRANSLATORS[version]["clear_charging_profile"]({"id": 81001})
    validate(version, action, payload)
    params = {"connector_id": 1, "duration_s": 3600, "unit": "A"}
    action, payload = TRANSLATORS[version]["get_composite_schedule"](params)
    validate(version, action, payload)
