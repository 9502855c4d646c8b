"""A stop answered to the charger survives a SIGKILL of the gateway that took it (ADR-005 §3).

The gateway runs as a real `ampflow gateway` process that reaches Temporal through a TCP proxy.
The link is cut, the charger stops its transaction and is answered, the gateway is SIGKILLed
before it could deliver the stop. A second gateway process adopts the stored stop once Temporal is
reachable again: the session completes with the charger's energy and is charged exactly once.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from ampflow.devstack import free_port
from ampflow.seed import DEMO_STATION, DEMO_TAG
from chaos.processes import RoleProcess
from chaos.tcp_proxy import TcpProxy
from chargers.script import scripted
from domain.session import SessionState
from store.billing_tables import LedgerEntry
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result


def _gateway(settings, database_url: str, temporal: str, tmp_path: Path, name: str) -> RoleProcess:
    port = free_port()
    env = {
        "AMPFLOW_DATABASE_URL": database_url,
        "AMPFLOW_TEMPORAL_ADDRESS": temporal,
        "AMPFLOW_TASK_QUEUE": settings.task_queue,
        "AMPFLOW_GATEWAY_PORT": str(port),
        "AMPFLOW_GATEWAY_METRICS_PORT": "0",
        "AMPFLOW_ALERT_SWEEP_INTERVAL_S": "0",
        "AMPFLOW_HEALING_ENABLED": "false",
        "AMPFLOW_DEMO_STATION_PASSWORD": DEMO_PASSWORD,
        "AMPFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    return RoleProcess("gateway", env, tmp_path / f"{name}.log", port=port)


def _charges(db, session_id: str) -> list[LedgerEntry]:
    with db.session() as s:
        rows = s.exec(select(LedgerEntry).where(LedgerEntry.session_id == session_id)).all()
    return [r for r in rows if r.amount > 0]


async def test_a_stop_answered_then_sigkilled_is_delivered_by_another_gateway(
    settings, seeded, worker, temporal_client, temporal_address, database_url, tmp_path
):
    host, port = temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    first = _gateway(settings, database_url, proxy.address, tmp_path, "gateway-1")
    second = _gateway(settings, database_url, proxy.address, tmp_path, "gateway-2")
    try:
        first.start()
        await first.ready()
        url = f"ws://127.0.0.1:{first.port}/ocpp"
        async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as charger:
            started = await charger.start_transaction(DEMO_TAG)
            assert started["idTagInfo"]["status"] == "Accepted"
            await charger.meter(1_500)
            proxy.cut()  # the gateway loses Temporal
            await charger.stop_transaction()  # answered: stored before the answer
            first.kill()  # SIGKILL before the stop could be delivered
        session_id = f"session-{DEMO_STATION}-{started['transactionId']}"
        handle = temporal_client.get_workflow_handle(session_id)
        assert (await handle.describe()).status.name == "RUNNING"  # the stop is not there yet
        proxy.restore()
        second.start()
        await second.ready()
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 120)
    finally:
        first.kill()
        second.kill()
        await proxy.stop()
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1_500
    charges = await eventually(lambda: _charges(seeded, session_id))
    assert [c.amount for c in charges] == [view.total]  # charged once, the rated amount
