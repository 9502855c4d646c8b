"""OCPP 2.0.1 scenarios modelled on the OCA compliance test catalogue (Part 6, OCTT test cases).

Each test is named after the catalogue case it mirrors. `_CSMS` cases are the CSMS-side cases;
`_CS` ids are station-side cases whose CSMS half is exercised here (a virtual charger plays the
OCTT's part, its transactions scripted by the test: `chargers.script`), so every frame the CSMS
sends is validated against the official 2.0.1 schemas before it is answered.
"""

from __future__ import annotations

from datetime import timedelta

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import iso
from domain.session import SessionState, SessionView
from store.tables import ChargingSession, Connector, Station
from tests.e2e.test_demo_session import hand_rated_total
from tests.helpers import charger_session_id, charger_session_result, eventually
from tests.records import payments_for, sessions, station_events
from tests.stations import demo_201
from workflows.contract import QUERY_STATE

TAG = {"idToken": DEMO_TAG, "type": "ISO14443"}


async def command(api, name: str, **params) -> dict:
    reply = await api.post(
        f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def connector(db, evse_id: int) -> Connector | None:
    with db.session() as s:
        return s.get(Connector, (DEMO_STATION, evse_id))


# ---- B. Provisioning ---------------------------------------------------------------------


async def test_TC_B_01_CSMS_cold_boot_charging_station_accepted(seeded, gateway_url, settings):
    async with demo_201(gateway_url, model="Simulator-2") as station:
        boot = await station.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == settings.heartbeat_interval_s
        assert boot["currentTime"].endswith("Z")
        for evse_id in (1, 2):
            await station.status(evse_id, "Available")
        heartbeat = await station.call("Heartbeat", {})
        assert heartbeat["currentTime"]
    assert [connector(seeded, e).status for e in (1, 2)] == ["Available", "Available"]
    with seeded.session() as s:
        assert s.get(Station, DEMO_STATION).model == "Simulator-2"


async def test_TC_B_06_CS_get_variables_single_value(seeded, worker, gateway_url, api):
    async with demo_201(gateway_url):
        record = await command(
            api, "get_configuration", variables=["OCPPCommCtrlr.HeartbeatInterval"]
        )
    [result] = record["response"]["getVariableResult"]
    assert (result["attributeStatus"], result["attributeValue"]) == ("Accepted", "300")


async def test_TC_B_09_CS_set_variables_single_value(seeded, worker, gateway_url, api):
    async with demo_201(gateway_url) as station:
        record = await command(
            api, "change_configuration", key="OCPPCommCtrlr.HeartbeatInterval", value=60
        )
        assert record["response"]["setVariableResult"][0]["attributeStatus"] == "Accepted"
        check = await command(
            api, "get_configuration", variables=["OCPPCommCtrlr.HeartbeatInterval"]
        )
    assert check["response"]["getVariableResult"][0]["attributeValue"] == "60"
    assert station.received[0][1]["setVariableData"][0]["attributeValue"] == "60"


async def test_TC_B_33_CS_get_variables_unknown_variable(seeded, worker, gateway_url, api):
    async with demo_201(gateway_url):
        record = await command(
            api, "get_configuration", variables=["OCPPCommCtrlr.UnknownVariable"]
        )
    [result] = record["response"]["getVariableResult"]
    assert result["attributeStatus"] == "UnknownVariable"
    assert (result["component"]["name"], result["variable"]["name"]) == (
        "OCPPCommCtrlr",
        "UnknownVariable",
    )


async def test_TC_B_20_CSMS_reset_without_ongoing_transaction_on_idle(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        record = await command(api, "reset", type="OnIdle")
        assert record["status"] == "Accepted"
        await station.charger.wait_booted(2)  # rebooted at once: nothing was charging
        assert station.charger.journal.find("boot")[-1]["reason"] == "RemoteReset"
        await station.status(1, "Available")
    assert station.received == [("Reset", {"type": "OnIdle"})]
    assert connector(seeded, 1).status == "Available"


async def test_TC_B_22_CSMS_reset_with_ongoing_transaction_immediate(
    seeded, worker, gateway_url, api, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        ended: list[dict] = []

        def reset(request: dict):
            """Ends the transaction, then reboots (as the charger does after Immediate)."""

            async def reboot() -> None:
                ended.append(await station.event(tx.ended("ImmediateReset", "ResetCommand")))
                await station.charger.reboot("RemoteReset", hard=True)

            return {"status": "Accepted"}, reboot()

        station.charger.answer_with("Reset", reset)
        await station.event(tx.started())
        await station.event(tx.updated(800))
        assert (await command(api, "reset", type="Immediate"))["status"] == "Accepted"
        await station.charger.wait_booted(2)
        assert station.charger.journal.find("boot")[-1]["reason"] == "RemoteReset"
    assert ended[0].get("idTokenInfo") is None  # no idToken sent, none answered
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert (view.stop_reason, view.energy_wh) == ("ImmediateReset", 800)


# ---- C. Authorization -----------------------------------------------------------------------


async def test_TC_C_02_CSMS_local_start_authorization_invalid_unknown(seeded, worker, gateway_url):
    async with demo_201(gateway_url) as station:
        assert (await station.authorize("UNKNOWN-42"))["status"] in ("Invalid", "Unknown")
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
    assert sessions(seeded) == []  # a decision alone is no session


# ---- E. Transactions ------------------------------------------------------------------------


async def test_TC_E_04_CSMS_local_start_authorization_first_success(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
        tx = station.transaction(1, DEMO_TAG)
        started = await station.event(tx.started("Authorized"))
        assert started["idTokenInfo"]["status"] == "Accepted"
        for _ in range(2):
            await station.event(tx.updated(1000))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    assert view.total == hand_rated_total(2000, 3 * 60)


async def test_TC_E_09_CSMS_start_transaction_options_ev_connected(seeded, worker, gateway_url):
    async with demo_201(gateway_url) as station:
        await station.status(1, "Occupied")
        await station.call(
            "NotifyEvent",
            {
                "generatedAt": iso(station.clock),
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": iso(station.clock),
                        "trigger": "Delta",
                        "actualValue": "Occupied",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                        "variable": {"name": "AvailabilityState"},
                    }
                ],
            },
        )
        tx = station.transaction(1, None)
        started = await station.event(tx.started("CablePluggedIn", with_token=False))
        assert started.get("idTokenInfo") is None
        await eventually(lambda: [s.state for s in sessions(seeded)] == ["Pending"])
    assert connector(seeded, 1).status == "Occupied"
    [notified] = station_events(seeded, "NotifyEvent")
    assert notified.detail["events"][0]["actualValue"] == "Occupied"


async def test_TC_E_03_CSMS_local_start_cable_plugin_first_success(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        tx.meter_wh = 52_000
        await station.event(tx.started("CablePluggedIn", with_token=False))
        # Reusable state Authorized (local): Authorize, then the idToken in a TransactionEvent.
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
        authorized = await station.event(tx.updated(0, "Authorized", id_token=TAG))
        assert authorized["idTokenInfo"]["status"] == "Accepted"
        await station.event(tx.updated(1200, "ChargingStateChanged"))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert (view.meter_start_wh, view.energy_wh) == (52_000, 1200)
    assert len(payments_for(seeded, view.session_id)) == 1


async def test_TC_E_03_variant_cable_plugin_first_never_authorized_is_not_billed(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        await station.event(tx.started("CablePluggedIn", with_token=False))
        await station.event(tx.updated(700))
        await station.event(tx.ended("EVDisconnected", "EVCommunicationLost"))
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.REJECTED
    assert payments_for(seeded, view.session_id) == []


async def test_TC_E_38_CSMS_local_start_transaction_ev_not_ready(
    seeded, worker, gateway_url, temporal_client
):
    """chargingState SuspendedEV (EV not ready) counts as idle time in the session."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        ten = timedelta(minutes=10)
        for state in ("SuspendedEV", "Charging"):
            trigger = "ChargingStateChanged"
            await station.event(tx.updated(0, trigger, charging_state=state, after=ten))
        handle = temporal_client.get_workflow_handle(
            charger_session_id(seeded, DEMO_STATION, tx.transaction_id)
        )
        # Status changes reach the session through the outbox, after the answer (ADR-005).
        live = await eventually(
            lambda: _query_when(handle, lambda v: v.connector_status == "Charging" and v.idle_s > 0)
        )
        await station.event(tx.ended())
    assert live.idle_s == 600


async def _query_when(handle, predicate):
    view = await handle.query(QUERY_STATE, result_type=SessionView)
    return view if predicate(view) else None


async def test_TC_E_43_CS_offline_behaviour_transaction_during_offline_period(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(2, DEMO_TAG, at=station.clock - timedelta(hours=1))
    queue = [tx.started(offline=True), tx.updated(900, offline=True), tx.ended(offline=True)]
    async with demo_201(gateway_url, station) as station:
        answers = [await station.event(event) for event in queue]
    assert answers[0]["idTokenInfo"]["status"] == "Accepted"
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 900
    with seeded.session() as s:
        row = s.get(ChargingSession, view.session_id)
    assert row.started_at == tx.at - 2 * tx.spacing and row.connector_id == 2


async def test_TC_E_21_CSMS_stop_transaction_options_stop_authorized_remote(
    seeded, worker, gateway_url, api, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(400))
        record = await command(api, "remote_stop", transaction_id=tx.transaction_id)
        assert record["status"] == "Accepted"
        view = await charger_session_result(
            temporal_client, seeded, DEMO_STATION, tx.transaction_id
        )
    assert (
        "RequestStopTransaction",
        {"transactionId": tx.transaction_id},
    ) in station.received
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Remote"


# ---- F. Remote control ----------------------------------------------------------------------


async def test_TC_F_01_CSMS_remote_start_transaction_cable_plugin_first(
    seeded, worker, gateway_url, api, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        await station.event(tx.started("CablePluggedIn", with_token=False))
        record = await command(
            api, "remote_start", id_token=DEMO_TAG, connector_id=1, remote_start_id=5
        )
        assert record["status"] == "Accepted"
        assert record["response"]["transactionId"] == tx.transaction_id
        await eventually(lambda: [s.state for s in sessions(seeded)] == ["Charging"])
        await station.event(tx.updated(600))
        await station.event(tx.ended())
    _, request = station.received[0]
    assert request["idToken"]["idToken"] == DEMO_TAG and request["remoteStartId"] == 5
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 600


async def test_TC_F_06_CSMS_remote_unlock_connector_without_transaction(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        record = await command(api, "unlock_connector", evse_id=1, connector_id=1)
    assert record["status"] == "Unlocked"
    assert station.received == [("UnlockConnector", {"evseId": 1, "connectorId": 1})]


# ---- G. Availability ------------------------------------------------------------------------


async def test_TC_G_05_CSMS_change_availability_station_operative_to_inoperative(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        record = await command(api, "change_availability", operative=False)
        assert record["status"] == "Accepted"
        await eventually(
            lambda: all((c := connector(seeded, e)) and c.status == "Unavailable" for e in (1, 2))
        )
    assert station.received == [("ChangeAvailability", {"operationalStatus": "Inoperative"})]


async def test_TC_G_04_CSMS_change_availability_evse_inoperative_to_operative(
    seeded, worker, gateway_url, api
):
    async with demo_201(gateway_url) as station:
        evse = station.charger.connectors[1]
        evse.inoperative = True  # the EVSE starts out inoperative
        await station.charger.status(evse, "Unavailable")
        record = await command(api, "change_availability", connector_id=1, operative=True)
        assert record["status"] == "Accepted"
        await eventually(lambda: connector(seeded, 1).status == "Available")
    assert station.received[-1][1] == {"operationalStatus": "Operative", "evse": {"id": 1}}
