"""OCPP 2.0.1 function blocks answered by reports (OCTT N, O, K, L): the CSMS sends the request,
the charger (a scripted virtual charger playing the OCTT's part) accepts it and reports in parts,
the CSMS answers every part and shows the assembled report to the operator.

Every frame the CSMS sends is validated against the official schemas by the charger before it
is answered, and every answer the CSMS gives is validated by the charger too.
"""

from __future__ import annotations

import asyncio

import pytest

from ampflow.seed import DEMO_STATION
from chargers.script import iso
from tests.access.helpers import api_key
from tests.helpers import eventually
from tests.stations import demo_201

GENERATED = "2026-12-05T00:00:00Z"
PROFILE = {
    "id": 11,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        }
    ],
}
VARIABLE = {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}


async def command(api, name: str, **params) -> dict:
    reply = await api.post(
        f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def reports_later(station, action: str, parts: list[dict]):
    """Answer `action` Accepted, then send `parts` (each completed with the request id)."""

    def answer(payload: dict):
        async def send() -> None:
            for seq, part in enumerate(parts):
                body = {"requestId": payload["requestId"], **part}
                if action != "GetDisplayMessages":  # NotifyDisplayMessages has no seqNo
                    body["seqNo"] = seq
                body["tbc"] = seq < len(parts) - 1
                assert await station.call(report_action[action], body) == {}

        return {"status": "Accepted"}, send()

    station.charger.answer_with(action, answer)


report_action = {
    "GetMonitoringReport": "NotifyMonitoringReport",
    "GetDisplayMessages": "NotifyDisplayMessages",
    "CustomerInformation": "NotifyCustomerInformation",
}


async def report(api, path: str) -> dict:
    async def complete() -> dict | None:
        got = await api.get(f"/stations/{DEMO_STATION}/{path}")
        return got.json() if got.status_code == 200 and got.json()["complete"] else None

    return await eventually(complete, timeout=15)


# ---- N. Diagnostics: monitoring --------------------------------------------------------------


async def test_TC_N_02_CSMS_get_monitoring_report(seeded, worker, gateway_url, api):
    async with demo_201(gateway_url) as station:
        monitor = {**VARIABLE, "variableMonitoring": []}
        parts = [
            {"generatedAt": iso(station.clock), "monitor": [_monitor(1, 22000.0)]},
            {"generatedAt": iso(station.clock), "monitor": [_monitor(2, 0.0, "Delta")]},
        ]
        assert monitor  # the shape the parts carry
        reports_later(station, "GetMonitoringReport", parts)
        record = await command(api, "get_monitoring_report", criteria=["ThresholdMonitoring"])
        assert record["status"] == "Accepted"
        request_id = record["params"]["request_id"]
        got = await report(api, f"reports/NotifyMonitoringReport/{request_id}")
    assert got["parts"] == 2
    assert [m["variableMonitoring"][0]["id"] for m in got["items"]] == [1, 2]
    sent = dict(station.received)["GetMonitoringReport"]
    assert sent == {"requestId": request_id, "monitoringCriteria": ["ThresholdMonitoring"]}


def _monitor(monitor_id: int, value: float, kind: str = "UpperThreshold") -> dict:
    return {
        **VARIABLE,
        "variableMonitoring": [
            {"id": monitor_id, "transaction": False, "value": value, "type": kind, "severity": 4}
        ],
    }


async def test_TC_N_04_to_06_CSMS_set_base_level_and_clear_monitors(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        station.charger.answer_with(
            "SetVariableMonitoring",
            lambda p: {
                "setMonitoringResult": [
                    {
                        "id": 7,
                        "status": "Accepted",
                        "type": d["type"],
                        "severity": d["severity"],
                        "component": d["component"],
                        "variable": d["variable"],
                    }
                    for d in p["setMonitoringData"]
                ]
            },
        )
        station.charger.answer_with("SetMonitoringBase", lambda p: {"status": "Accepted"})
        station.charger.answer_with("SetMonitoringLevel", lambda p: {"status": "Accepted"})
        station.charger.answer_with(
            "ClearVariableMonitoring",
            lambda p: {"clearMonitoringResult": [{"id": i, "status": "Accepted"} for i in p["id"]]},
        )
        monitors = [{"name": "EVSE.Power", "evse_id": 1, "type": "UpperThreshold", "value": 22000}]
        record = await command(api, "set_variable_monitoring", monitors=monitors)
        assert record["response"]["setMonitoringResult"][0]["status"] == "Accepted"
        assert (await command(api, "set_monitoring_base", base="FactoryDefault"))["status"] == (
            "Accepted"
        )
        assert (await command(api, "set_monitoring_level", severity=4))["status"] == "Accepted"
        cleared = await command(api, "clear_variable_monitoring", ids=[7])
        assert cleared["response"]["clearMonitoringResult"] == [{"id": 7, "status": "Accepted"}]
    received = dict(station.received)
    assert received["SetVariableMonitoring"]["setMonitoringData"][0]["component"] == {
        "name": "EVSE",
        "evse": {"id": 1},
    }
    assert received["SetMonitoringBase"] == {"monitoringBase": "FactoryDefault"}
    assert received["SetMonitoringLevel"] == {"severity": 4}
    assert received["ClearVariableMonitoring"] == {"id": [7]}


# ---- N. Customer information ---------------------------------------------------------------


async def test_TC_N_09_CSMS_customer_information_report_is_personal_data(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        parts = [
            {"generatedAt": iso(station.clock), "data": "Token 0A1B: sessions 2026-12-01, "},
            {"generatedAt": iso(station.clock), "data": "2026-12-03; name Zoë Łukasiewicz"},
        ]
        reports_later(station, "CustomerInformation", parts)
        record = await command(api, "customer_information", id_token="0A1B", clear=True)
        assert record["status"] == "Accepted"
        request_id = record["params"]["request_id"]
        got = await report(api, f"customer-information/{request_id}")
    assert got["text"] == "Token 0A1B: sessions 2026-12-01, 2026-12-03; name Zoë Łukasiewicz"
    sent = dict(station.received)["CustomerInformation"]
    assert sent["idToken"] == {"idToken": "0A1B", "type": "ISO14443"} and sent["clear"] is True
    text = await api.get(f"/stations/{DEMO_STATION}/customer-information/{request_id}/text")
    assert text.status_code == 200 and text.text == got["text"]
    assert "attachment" in text.headers["content-disposition"]
    generic = await api.get(
        f"/stations/{DEMO_STATION}/reports/NotifyCustomerInformation/{request_id}"
    )
    assert generic.status_code == 404  # personal data only through its own, narrower routes
    for role in ("analyst", "technician"):
        key = await api_key(api, role)
        denied = await api.get(
            f"/stations/{DEMO_STATION}/customer-information/{request_id}", headers=key
        )
        assert denied.status_code == 403, (role, denied.text)
    audit = (await api.get("/audit?limit=100")).text
    assert "station.customer_information.read" in audit


# ---- O. Display messages -------------------------------------------------------------------


async def test_TC_O_01_to_05_CSMS_set_get_clear_display_messages(seeded, worker, gateway_url, api):
    async with demo_201(gateway_url) as station:
        shown: dict[int, dict] = {}

        def set_message(p: dict) -> dict:
            shown[p["message"]["id"]] = p["message"]
            return {"status": "Accepted"}

        station.charger.answer_with("SetDisplayMessage", set_message)
        record = await command(
            api, "set_display_message", id=3, content="0,35 €/kWh · 0,10 €/min", language="de"
        )
        assert record["status"] == "Accepted"
        reports_later(station, "GetDisplayMessages", [{"messageInfo": list(shown.values())}])
        record = await command(api, "get_display_messages")
        got = await report(api, f"reports/NotifyDisplayMessages/{record['params']['request_id']}")
        assert got["items"][0]["message"]["content"] == "0,35 €/kWh · 0,10 €/min"
        station.charger.answer_with("ClearDisplayMessage", lambda p: {"status": "Accepted"})
        assert (await command(api, "clear_display_message", id=3))["status"] == "Accepted"
    received = dict(station.received)
    assert received["SetDisplayMessage"]["message"] == {
        "id": 3,
        "priority": "NormalCycle",
        "message": {"format": "UTF8", "content": "0,35 €/kWh · 0,10 €/min", "language": "de"},
    }
    assert received["ClearDisplayMessage"] == {"id": 3}


# ---- K. Charging profiles the charger holds ------------------------------------------------


async def test_TC_K_29_CSMS_get_charging_profiles_report_is_stored(
    seeded, worker, gateway_url, api
):
    profile = PROFILE
    async with demo_201(gateway_url) as station:

        def answer(payload: dict):
            async def send() -> None:
                body = {
                    "requestId": payload["requestId"],
                    "chargingLimitSource": "CSO",
                    "evseId": 1,
                    "chargingProfile": [profile],
                }
                assert await station.call("ReportChargingProfiles", body) == {}

            return {"status": "Accepted"}, send()

        station.charger.answer_with("GetChargingProfiles", answer)
        record = await command(api, "get_charging_profiles", evse_id=1, purpose="TxDefaultProfile")
        assert record["status"] == "Accepted"
        request_id = record["params"]["request_id"]
        got = await report(api, f"reports/ReportChargingProfiles/{request_id}")
    assert got["items"] == [profile]
    assert dict(station.received)["GetChargingProfiles"] == {
        "requestId": request_id,
        "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"},
        "evseId": 1,
    }


# ---- L. Firmware published by a local controller --------------------------------------------


async def test_TC_L_03_CSMS_publish_firmware_statuses_are_kept(seeded, worker, gateway_url, api):
    statuses = ["Downloading", "Downloaded", "ChecksumVerified", "Published"]
    async with demo_201(gateway_url) as station:

        def answer(payload: dict):
            async def send() -> None:
                for status in statuses:
                    body = {"status": status, "requestId": payload["requestId"]}
                    if status == "Published":
                        body["location"] = ["http://lc.local/fw.bin"]
                    assert await station.call("PublishFirmwareStatusNotification", body) == {}

            return {"status": "Accepted"}, send()

        station.charger.answer_with("PublishFirmware", answer)
        checksum = "0" * 32
        record = await command(
            api, "publish_firmware", location="http://127.0.0.1:1/fw.bin", checksum=checksum
        )
        request_id = record["params"]["request_id"]

        async def published() -> dict | None:
            got = await api.get(
                f"/stations/{DEMO_STATION}/reports/PublishFirmwareStatusNotification/{request_id}"
            )
            return (
                got.json() if got.status_code == 200 and len(got.json()["statuses"]) == 4 else None
            )

        got = await eventually(published, timeout=15)
        station.charger.answer_with("UnpublishFirmware", lambda p: {"status": "Unpublished"})
        assert (await command(api, "unpublish_firmware", checksum=checksum))["status"] == (
            "Unpublished"
        )
    assert got["statuses"] == statuses


# ---- every charger-initiated report is answered, asked for or not --------------------------


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        (
            "NotifyMonitoringReport",
            {"requestId": 1, "seqNo": 0, "generatedAt": "2026-12-05T00:00:00Z"},
        ),
        ("NotifyDisplayMessages", {"requestId": 1}),
        (
            "NotifyCustomerInformation",
            {"requestId": 1, "seqNo": 0, "generatedAt": GENERATED, "data": ""},
        ),
        (
            "ReportChargingProfiles",
            {
                "requestId": 1,
                "chargingLimitSource": "EMS",
                "evseId": 0,
                "chargingProfile": [PROFILE],
            },
        ),
        ("PublishFirmwareStatusNotification", {"status": "Idle"}),
    ],
)
async def test_unrequested_reports_are_answered_not_refused(
    seeded, gateway_url, api, action, payload
):
    async with demo_201(gateway_url) as station:
        assert await station.call(action, payload) == {}
    listed = (await api.get(f"/stations/{DEMO_STATION}/reports")).json()
    assert [r["kind"] for r in listed] == [action]
    await asyncio.sleep(0)
