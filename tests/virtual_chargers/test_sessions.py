"""Sessions of virtual chargers through the real gateway, worker and API, on both versions."""

from __future__ import annotations

import asyncio

import pytest

from ampflow.seed import DEMO_STATION, DEMO_TAG
from tests.helpers import eventually

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
