"""OCPP 1.6J scenarios modelled on the OCA 1.6 compliance test catalogue (OCTT, Central System).

Each test is named after the `_CSMS` case it mirrors; the charger is a virtual charger
(`chargers/`), which validates every frame the CSMS sends against the 1.6 schemas.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import Script16, scripted
from domain.session import SessionState
from store.tables import Connector
from tests.conftest import DEMO_PASSWORD
from tests.e2e.test_demo_session import hand_rated_total
from tests.helpers import eventually, session_result
from tests.records import payments_for, sessions


@contextlib.asynccontextmanager
async def charger(url: str) -> AsyncIterator[Script16]:
    """DEMO-1 as a virtual 1.6 charger (2 connectors) answering every command with its own
    behaviour; the test spells out its transactions (`chargers.script`)."""
    async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as cp:
        yield cp


async def command(api, name: str, **params) -> dict:
    reply = await api.post(
        f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def status_of(db, connector_id: int) -> str | None:
    with db.session() as s:
        row = s.get(Connector, (DEMO_STATION, connector_id))
    return row.status if row else None


async def test_TC_001_CSMS_cold_boot_charge_point(seeded, gateway_url, settings):
    async with charger(gateway_url) as cp:
        boot = await cp.boot()
        assert boot["status"] == "Accepted" and boot["interval"] == settings.heartbeat_interval_s
        for connector_id in (0, 1, 2):
            await cp.status("Available", connector_id)
        assert (await cp.call("Heartbeat", {}))["currentTime"]
    assert [status_of(seeded, c) for c in (0, 1, 2)] == ["Available"] * 3


async def test_TC_004_1_CSMS_regular_charging_session_identification_first(
    seeded, worker, gateway_url, temporal_client
):
    async with charger(gateway_url) as cp:
        assert (await cp.authorize(DEMO_TAG))["status"] == "Accepted"
        start = await cp.start_transaction(DEMO_TAG)
        assert start["idTagInfo"]["status"] == "Accepted"
        await cp.status("Charging")
        await cp.meter(1500)
        await cp.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1500
    assert view.total == hand_rated_total(1500, 2 * 60)


async def test_TC_023_1_CSMS_start_charging_session_authorize_invalid(seeded, worker, gateway_url):
    async with charger(gateway_url) as cp:
        assert (await cp.authorize("NOT-KNOWN"))["status"] == "Invalid"


async def test_TC_039_CSMS_offline_transaction(seeded, worker, gateway_url, temporal_client):
    async with charger(gateway_url) as cp:
        cp.clock -= timedelta(hours=2)  # both happened while the link was down
        start = await cp.start_transaction(DEMO_TAG)
        assert start["idTagInfo"]["status"] == "Accepted"
        cp.meter_wh += 2000
        await cp.stop_transaction("Local", minutes=30)
    view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    assert [s.id for s in sessions(seeded)] == [view.session_id]
    assert len(payments_for(seeded, view.session_id)) == 1


async def test_TC_011_1_CSMS_remote_start_charging_session_remote_start_first(
    seeded, worker, gateway_url, api
):
    async with charger(gateway_url) as cp:
        record = await command(api, "remote_start", id_token=DEMO_TAG, connector_id=1)
        assert record["status"] == "Accepted"
        await eventually(lambda: cp.transaction_id is not None)
        await eventually(lambda: [s.state for s in sessions(seeded)] == ["Charging"])
    assert "RemoteStartTransaction" in cp.actions_received()


async def test_TC_012_CSMS_remote_stop_charging_session(
    seeded, worker, gateway_url, api, temporal_client
):
    async with charger(gateway_url) as cp:
        await cp.start_transaction(DEMO_TAG)
        await cp.meter(900)
        record = await command(api, "remote_stop", transaction_id=cp.transaction_id)
        assert record["status"] == "Accepted"
        view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Remote"


async def test_TC_013_CSMS_hard_reset_without_transaction(seeded, worker, gateway_url, api):
    async with charger(gateway_url) as cp:
        assert (await command(api, "change_availability", connector_id=1, operative=False))[
            "status"
        ] == "Accepted"
        await eventually(lambda: status_of(seeded, 1) == "Unavailable")
        assert (await command(api, "reset", type="Hard"))["status"] == "Accepted"
    async with charger(gateway_url) as cp:  # rebooted
        await cp.status("Unavailable", 1)
        assert (await command(api, "change_availability", connector_id=1, operative=True))[
            "status"
        ] == "Accepted"
        await eventually(lambda: status_of(seeded, 1) == "Available")
    assert cp.received == [("ChangeAvailability", {"connectorId": 1, "type": "Operative"})]


async def test_TC_017_1_CSMS_unlock_connector_no_charging_session(seeded, worker, gateway_url, api):
    async with charger(gateway_url) as cp:
        assert (await command(api, "unlock_connector", connector_id=2))["status"] == "Unlocked"
    assert cp.received == [("UnlockConnector", {"connectorId": 2})]


async def test_TC_019_1_CSMS_retrieve_all_configuration_keys(seeded, worker, gateway_url, api):
    async with charger(gateway_url) as cp:
        record = await command(api, "get_configuration")
    assert cp.received == [("GetConfiguration", {})]
    keys = {item["key"] for item in record["response"]["configurationKey"]}
    # Every key the charger has, except the write-only AuthorizationKey (1.6 security whitepaper)
    assert keys == set(cp.charger.settings.table) - {"AuthorizationKey"}


async def test_TC_021_CSMS_change_set_configuration(seeded, worker, gateway_url, api):
    async with charger(gateway_url) as cp:
        record = await command(
            api, "change_configuration", key="MeterValueSampleInterval", value=60
        )
        assert record["status"] == "Accepted"
        check = await command(api, "get_configuration", keys=["MeterValueSampleInterval"])
    assert cp.received[0] == (
        "ChangeConfiguration",
        {"key": "MeterValueSampleInterval", "value": "60"},
    )
    assert check["response"]["configurationKey"][0]["value"] == "60"


async def test_TC_040_1_CSMS_configuration_keys_not_supported(seeded, worker, gateway_url, api):
    async with charger(gateway_url):
        record = await command(api, "change_configuration", key="NoSuchKey", value="1")
    assert (record["outcome"], record["status"]) == ("ok", "NotSupported")
