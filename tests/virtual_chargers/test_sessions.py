"""Sessions of virtual chargers through the real gateway, worker and API, on both versions."""

from __future__ import annotations

import asyncio

import pytest

from ampflow.seed import DEMO_STATION, DEMO_TAG
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import command, register

FAST_16 = {"MeterValueSampleInterval": "1"}
FAST_201 = {"SampledDataCtrlr/TxUpdatedInterval": "1"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_local_session_meters_in_real_time(seeded, worker, make_charger, version):
    fast = FAST_201 if version == "2.0.1" else FAST_16
    charger = await make_charger(version=version, max_power_w=50_000, configuration=fast)
    assert charger.boot_status == "Accepted"
    tx = await charger.sessions.start_local(DEMO_TAG, connector=1)
    assert tx is not None and tx.transaction_id is not None
    meters = "TransactionEvent" if version == "2.0.1" else "MeterValues"
    await eventually(lambda: len(charger.journal.find("result", action=meters)) >= 2)
    stopped = await charger.sessions.stop(1, "Local")
    assert stopped is tx and tx.meter_stop_wh > tx.meter_start_wh
    stop = charger.journal.find("tx_stop")[0]
    assert stop["energyWh"] == tx.meter_stop_wh - tx.meter_start_wh
    assert not charger.journal.find("bug")
    await asyncio.sleep(0)
    assert charger.station_id == DEMO_STATION


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_and_stop_bill_what_the_charger_metered(
    seeded, worker, live_api, make_charger, version
):
    """The API starts and stops a session; the bill's energy is the charger's own meter."""
    station_id = "VC-1" if version == "1.6" else "VC-2"
    await register(live_api, station_id, "vc-secret-0123456789")
    fast = FAST_201 if version == "2.0.1" else FAST_16
    charger = await make_charger(
        station_id,
        password="vc-secret-0123456789",
        version=version,
        max_power_w=50_000,
        configuration=fast,
    )
    started = await live_api.post(
        "/sessions", json={"station_id": station_id, "id_token": DEMO_TAG}
    )
    assert started.status_code == 202, started.text
    session_id = started.json()["session_id"]

    await eventually(lambda: charger.journal.find("tx_start"), timeout=30)
    meters = "TransactionEvent" if version == "2.0.1" else "MeterValues"
    await eventually(lambda: len(charger.journal.find("result", action=meters)) >= 3, timeout=30)
    stopped = await live_api.post(f"/sessions/{session_id}/stop")
    assert stopped.status_code == 202, stopped.text

    async def completed():
        body = (await live_api.get(f"/sessions/{session_id}")).json()
        return body if body["state"] == "Completed" else None

    body = await eventually(completed, timeout=60)
    stop = charger.journal.find("tx_stop")[0]
    assert stop["reason"] == "Remote"
    assert body["meter_start_wh"] == stop["meterStart"]
    assert body["meter_stop_wh"] == stop["meterStop"]
    assert body["energy_wh"] == stop["energyWh"] > 0
    assert body["payment"]["status"] == "succeeded"
    if version == "2.0.1":
        assert stop["transactionId"] == charger.sessions.history[0].local_id


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_stop_requested_right_after_the_start_reaches_the_charger(
    seeded, worker, live_api, make_charger, version
):
    station_id = "VC-1" if version == "1.6" else "VC-2"
    await register(live_api, station_id, "vc-secret-0123456789")
    charger = await make_charger(station_id, password="vc-secret-0123456789", version=version)
    started = await live_api.post(
        "/sessions", json={"station_id": station_id, "id_token": DEMO_TAG}
    )
    session_id = started.json()["session_id"]
    await eventually(lambda: charger.journal.find("tx_start"), timeout=30)
    stopped = await live_api.post(f"/sessions/{session_id}/stop")
    assert stopped.status_code == 202, stopped.text
    # Asked for while the session may still be Pending: sent as soon as the charger starts.
    await eventually(lambda: charger.journal.find("tx_stop"), timeout=30)
    assert charger.journal.find("tx_stop")[0]["reason"] == "Remote"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_authorizes_first_when_configured(
    seeded, worker, live_api, make_charger, version
):
    key = "AuthCtrlr/AuthorizeRemoteStart" if version == "2.0.1" else "AuthorizeRemoteTxRequests"
    charger = await make_charger(version=version, configuration={key: "true"})
    refused = await command(
        live_api, DEMO_STATION, "remote_start", id_token="NOT-A-CARD", connector_id=1
    )
    assert refused["status"] == "Accepted"  # the charger asks the CSMS about the card next
    await eventually(lambda: charger.journal.find("authorize", idTag="NOT-A-CARD"))
    assert charger.journal.find("authorize", idTag="NOT-A-CARD")[0]["status"] != "Accepted"
    assert not charger.journal.find("tx_start")

    accepted = await command(
        live_api, DEMO_STATION, "remote_start", id_token=DEMO_TAG, connector_id=1
    )
    assert accepted["status"] == "Accepted"
    await eventually(lambda: charger.journal.find("tx_start"))
    kinds = [e["ev"] for e in charger.journal.events if e["ev"] in ("authorize", "tx_start")]
    assert kinds[-2:] == ["authorize", "tx_start"]
