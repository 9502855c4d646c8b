"""A remote-started (Pending) session is joined by one charger start only.

Found by the chaos suite: a charger replaying its queued transactions sent two Starts with the
same idTag while the remote session was still Pending; both joined it and two transactions were
billed as one. Here every start is answered past a tiny deadline, so the session row is still
Pending when the second Start arrives.
"""

from __future__ import annotations

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


async def test_two_queued_starts_do_not_share_one_remote_session(
    seeded, worker, settings, gateway_url, api
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        charger.start_after_remote_start = False  # its starts come from the queue below
        created = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
        )
        assert created.status_code in (200, 201, 202), created.text
        await eventually(lambda: "RemoteStartTransaction" in charger.actions_received(), timeout=30)
        settings.charger_answer_deadline_s = 0.001  # every start answered from the fallback
        first = await charger.start_transaction(DEMO_TAG)
        charger.meter_wh += 500
        second = await charger.start_transaction(DEMO_TAG)
    assert first["transactionId"] != second["transactionId"]
