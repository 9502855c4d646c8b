"""Every kind of remote command, through the API's StationCommand workflow and the real gateway,
answered by virtual chargers of both versions with the behaviour hardware shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers import Charger, ChargerConfig
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import command

VERSIONS = ["1.6", "2.0.1"]


def heartbeat_key(version: str) -> str:
    return "OCPPCommCtrlr.HeartbeatInterval" if version == "2.0.1" else "HeartbeatInterval"


@pytest.mark.parametrize(
    "version, kind", [("1.6", "Soft"), ("1.6", "Hard"), ("2.0.1", "Immediate")]
)
async def test_reset_reboots_and_boots_again(seeded, worker, live_api, make_charger, version, kind):
    charger = await make_charger(version=version)
    record = await command(live_api, DEMO_STATION, "reset", type=kind)
    assert (record["outcome"], record["status"]) == ("ok", "Accepted")
    await charger.wait_booted(2)
    assert charger.journal.find("reboot")[0]["hard"] is (kind == "Hard")
    assert charger.journal.find("boot", status="Accepted")[-1]["reason"] == "RemoteReset"


async def test_hard_reset_sends_the_cut_transactions_stop_after_booting(
    seeded, worker, live_api, make_charger
):
    charger = await make_charger()
    tx = await charger.sessions.start_local(DEMO_TAG)
    assert tx is not None
    record = await command(live_api, DEMO_STATION, "reset", type="Hard")
    assert record["status"] == "Accepted"
    await charger.wait_booted(2)
    await eventually(lambda: charger.journal.find("result", action="StopTransaction"))
    stop = charger.journal.find("tx_stop")[0]
    assert stop["reason"] == "HardReset" and stop["transactionId"] == tx.transaction_id
    sent = charger.journal.find("call", action="StopTransaction")[0]["payload"]
    assert sent["transactionId"] == tx.transaction_id and sent["reason"] == "HardReset"


async def test_on_idle_reset_waits_for_the_transaction(seeded, worker, live_api, make_charger):
    charger = await make_charger(version="2.0.1")
    await charger.sessions.start_local(DEMO_TAG)
    record = await command(live_api, DEMO_STATION, "reset", type="OnIdle")
    assert record["status"] == "Scheduled"
    assert charger.accepted_boots == 1
    await charger.sessions.stop(1, "Local")
    await charger.wait_booted(2)


@pytest.mark.parametrize("version", VERSIONS)
async def test_inoperative_charger_refuses_starts(seeded, worker, live_api, make_charger, version):
    charger = await make_charger(version=version)
    record = await command(live_api, DEMO_STATION, "change_availability", operative=False)
    assert record["status"] == "Accepted"

    def last_status():
        payload = charger.journal.find("call", action="StatusNotification")[-1]["payload"]
        return payload.get("status", payload.get("connectorStatus"))

    await eventually(lambda: last_status() == "Unavailable")
    start = await command(live_api, DEMO_STATION, "remote_start", id_token=DEMO_TAG, connector_id=1)
    assert start["status"] == "Rejected"
    assert await charger.sessions.start_local(DEMO_TAG) is None
    record = await command(live_api, DEMO_STATION, "change_availability", operative=True)
    assert record["status"] == "Accepted"
    assert await charger.sessions.start_local(DEMO_TAG) is not None


@pytest.mark.parametrize("version", VERSIONS)
async def test_configuration_persists_across_reboots(
    seeded, worker, live_api, make_charger, gateway_url, tmp_path, version
):
    charger = await make_charger(version=version)
    key = heartbeat_key(version)
    changed = await command(live_api, DEMO_STATION, "change_configuration", key=key, value="120")
    if version == "2.0.1":
        assert changed["response"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
    else:
        assert changed["status"] == "Accepted", changed
    assert charger.heartbeat_s == 120
    if version == "1.6":
        read = await command(live_api, DEMO_STATION, "get_configuration", keys=[key, "Nope"])
        assert read["response"]["configurationKey"] == [
            {"key": key, "readonly": False, "value": "120"}
        ]
        assert read["response"]["unknownKey"] == ["Nope"]
        readonly = await command(
            live_api, DEMO_STATION, "change_configuration", key="NumberOfConnectors", value="4"
        )
        assert readonly["status"] == "Rejected"
        unknown = await command(live_api, DEMO_STATION, "change_configuration", key="X", value="1")
        assert unknown["status"] == "NotSupported"
    else:
        read = await command(
            live_api, DEMO_STATION, "get_configuration", variables=[key, "Nope.Nothing"]
        )
        results = read["response"]["getVariableResult"]
        assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
            ("Accepted", "120"),
            ("UnknownComponent", None),
        ]
    await charger.stop()
    again = Charger(
        ChargerConfig(
            DEMO_STATION,
            DEMO_PASSWORD,
            gateway_url,
            version=version,
            state_file=charger.config.state_file,
        )
    )
    assert again.settings.get(key.replace(".", "/")) == "120"


@pytest.mark.parametrize("version", VERSIONS)
async def test_trigger_data_transfer_clear_cache_and_unlock(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(version=version)
    for message in ("Heartbeat", "StatusNotification", "MeterValues"):
        before = len(charger.journal.find("result", action=message))
        record = await command(live_api, DEMO_STATION, "trigger_message", message=message)
        assert record["status"] == "Accepted", record
        await eventually(
            lambda m=message, n=before: len(charger.journal.find("result", action=m)) > n
        )
    echo = await command(
        live_api, DEMO_STATION, "data_transfer", vendor_id="Ampflow", message_id="echo", data="hi"
    )
    assert echo["response"] == {"status": "Accepted", "data": "hi"}
    other = await command(live_api, DEMO_STATION, "data_transfer", vendor_id="Else")
    assert other["status"] == "UnknownVendorId"
    assert (await command(live_api, DEMO_STATION, "clear_cache"))["status"] == "Accepted"
    unlock = await command(live_api, DEMO_STATION, "unlock_connector", connector_id=1)
    assert unlock["status"] == "Unlocked"
    assert not charger.journal.find("bug")


async def test_unlock_during_a_201_transaction_is_refused(seeded, worker, live_api, make_charger):
    charger = await make_charger(version="2.0.1")
    await charger.sessions.start_local(DEMO_TAG)
    record = await command(live_api, DEMO_STATION, "unlock_connector", connector_id=1)
    assert record["status"] == "OngoingAuthorizedTransaction"


@pytest.mark.parametrize("version", VERSIONS)
async def test_local_list_is_honoured_offline_and_replayed(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(version=version)
    entries = [{"id_token": DEMO_TAG, "status": "Accepted"}]
    sent = await command(
        live_api, DEMO_STATION, "send_local_list", version=3, update_type="Full", entries=entries
    )
    assert sent["status"] == "Accepted", sent
    got = await command(live_api, DEMO_STATION, "get_local_list_version")
    assert got["response"] == ({"versionNumber": 3} if version == "2.0.1" else {"listVersion": 3})

    await charger.go_offline()
    tx = await charger.sessions.start_local(DEMO_TAG)
    assert tx is not None and tx.started_offline
    assert charger.journal.find("authorize")[-1]["source"] == "local_list"
    await charger.sessions.stop(1, "Local")
    assert len(charger.outbox) == 2
    charger.go_online()
    await charger.wait_booted(2)
    await eventually(lambda: len(charger.outbox) == 0, timeout=30)
    if version == "2.0.1":
        events = [e["payload"] for e in charger.journal.find("call", action="TransactionEvent")]
        assert [(e["eventType"], e.get("offline")) for e in events] == [
            ("Started", True),
            ("Ended", True),
        ]
    else:
        stop = charger.journal.find("call", action="StopTransaction")[0]["payload"]
        assert tx.transaction_id is not None
        assert stop["transactionId"] == tx.transaction_id
    assert not charger.journal.find("given_up")


def tx_profile(version: str, tx_id, limit_w: float) -> tuple[str, dict]:
    schedule = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_w}],
    }
    profile = {
        "transactionId": tx_id,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
    }
    if version == "1.6":
        profile |= {"chargingProfileId": 7, "chargingSchedule": schedule}
        return "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}
    profile |= {"id": 7, "chargingSchedule": [{"id": 1, **schedule}]}
    return "SetChargingProfile", {"evseId": 1, "chargingProfile": profile}


@pytest.mark.parametrize("version", VERSIONS)
async def test_delivered_power_follows_the_charging_profile(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(version=version, max_power_w=22_000)
    tx = await charger.sessions.start_local(DEMO_TAG)
    assert charger.connectors[1].meter.power_w == 22_000
    action, payload = tx_profile(version, tx.transaction_id, 7_000)
    record = await command(live_api, DEMO_STATION, "raw", action=action, payload=payload)
    assert record["status"] == "Accepted", record
    assert charger.connectors[1].meter.power_w == 7_000
    if version == "2.0.1":  # the new rate is reported at once

        def rate_changed():
            events = charger.journal.find("call", action="TransactionEvent")
            return [e for e in events if e["payload"]["triggerReason"] == "ChargingRateChanged"]

        event = (await eventually(rate_changed))[0]["payload"]
        values = event["meterValue"][0]["sampledValue"]
        assert {"Power.Active.Import": 7000.0}.items() <= {
            v["measurand"]: v["value"] for v in values
        }.items()

    composite = {"duration": 600, "chargingRateUnit": "W"}
    composite |= {"evseId": 1} if version == "2.0.1" else {"connectorId": 1}
    record = await command(
        live_api, DEMO_STATION, "raw", action="GetCompositeSchedule", payload=composite
    )
    response = record["response"]
    schedule = response["schedule"] if version == "2.0.1" else response["chargingSchedule"]
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7000.0}]

    trigger = await command(live_api, DEMO_STATION, "trigger_message", message="MeterValues")
    assert trigger["status"] == "Accepted"

    def power_sent():
        calls = charger.journal.find("call", action="MeterValues")
        if not calls:
            return None
        values = calls[-1]["payload"]["meterValue"][0]["sampledValue"]
        return [float(v["value"]) for v in values if v.get("measurand") == "Power.Active.Import"]

    assert await eventually(power_sent) == [7000.0]
    clear = {"id": 7} if version == "1.6" else {"chargingProfileId": 7}
    record = await command(
        live_api, DEMO_STATION, "raw", action="ClearChargingProfile", payload=clear
    )
    assert record["status"] == "Accepted"
    assert charger.connectors[1].meter.power_w == 22_000
    again = await command(
        live_api, DEMO_STATION, "raw", action="ClearChargingProfile", payload=clear
    )
    assert again["status"] == "Unknown"


@pytest.mark.parametrize(
    "version, action, payload",
    [
        ("1.6", "Heartbeat", {}),
        ("2.0.1", "UnpublishFirmware", {"checksum": "0" * 32}),
    ],
)
async def test_unsupported_calls_get_a_callerror(
    seeded, worker, live_api, make_charger, version, action, payload
):
    charger = await make_charger(version=version)
    record = await command(live_api, DEMO_STATION, "raw", action=action, payload=payload)
    assert record["outcome"] != "ok"
    error = charger.journal.find("command_error")[-1]
    assert (error["action"], error["code"]) == (action, "NotSupported")
    assert not charger.journal.find("bug")


async def test_cost_updated_is_recorded(seeded, worker, live_api, make_charger):
    charger = await make_charger(version="2.0.1")
    tx = await charger.sessions.start_local(DEMO_TAG)
    payload = {"totalCost": 4.56, "transactionId": tx.transaction_id}
    record = await command(live_api, DEMO_STATION, "raw", action="CostUpdated", payload=payload)
    assert record["outcome"] == "ok", record
    assert charger.journal.find("cost", source="CostUpdated")[-1]["totalCost"] == 4.56
    assert tx.total_cost == 4.56


@pytest.mark.parametrize("version", VERSIONS)
async def test_reservation_holds_the_connector_for_its_card(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(version=version)
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    if version == "1.6":
        action = "ReserveNow"
        payload = {"connectorId": 1, "expiryDate": expiry, "idTag": DEMO_TAG, "reservationId": 5}
    else:
        action = "ReserveNow"
        token = {"idToken": DEMO_TAG, "type": "ISO14443"}
        payload = {"id": 5, "expiryDateTime": expiry, "idToken": token, "evseId": 1}
    record = await command(live_api, DEMO_STATION, "raw", action=action, payload=payload)
    assert record["status"] == "Accepted", record
    assert not charger.sessions.usable(charger.connectors[1], "SOMEONE-ELSE")
    assert charger.sessions.usable(charger.connectors[1], DEMO_TAG)
    cancel = await command(
        live_api, DEMO_STATION, "raw", action="CancelReservation", payload={"reservationId": 5}
    )
    assert cancel["status"] == "Accepted"
    assert charger.sessions.usable(charger.connectors[1], "SOMEONE-ELSE")


async def test_201_reports_device_model_and_charging_profiles(
    seeded, worker, live_api, make_charger
):
    charger = await make_charger(version="2.0.1")
    record = await command(live_api, DEMO_STATION, "get_base_report", request_id=11)
    assert record["status"] == "Accepted", record
    await eventually(lambda: charger.journal.find("result", action="NotifyReport"))
    reported = charger.journal.find("call", action="NotifyReport")[0]["payload"]["reportData"]
    assert {"name": "HeartbeatInterval"} in [item["variable"] for item in reported]

    profile = {
        "id": 3,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": datetime.now(UTC).isoformat(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            }
        ],
    }
    record = await command(
        live_api,
        DEMO_STATION,
        "raw",
        action="SetChargingProfile",
        payload={"evseId": 0, "chargingProfile": profile},
    )
    assert record["status"] == "Accepted", record
    record = await command(
        live_api,
        DEMO_STATION,
        "raw",
        action="GetChargingProfiles",
        payload={
            "requestId": 12,
            "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"},
        },
    )
    assert record["status"] == "Accepted", record
    # The CSMS answers ReportChargingProfiles and keeps it (`/stations/{id}/reports`).
    await eventually(lambda: charger.journal.find("result", action="ReportChargingProfiles"))
    sent = charger.journal.find("call", action="ReportChargingProfiles")[0]["payload"]
    assert sent["chargingProfile"][0]["id"] == 3 and sent["evseId"] == 0
    tx = await charger.sessions.start_local(DEMO_TAG)
    assert tx is not None and charger.connectors[1].meter.power_w == 10 * 230 * 3
