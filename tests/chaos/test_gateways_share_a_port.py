"""Two `ampflow gateway` processes on one port (`AMPFLOW_GATEWAY_REUSE_PORT`): the kernel
spreads the chargers over both, each process is a gateway of its own (its command queue on the
stations it holds), and when one is SIGKILLed its chargers reconnect to the same address and
are served by the other."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import orjson
import websockets
from sqlmodel import select

from ampflow.devstack import free_port
from chaos.processes import RoleProcess
from chargers import basic_auth_header
from domain.credentials import hash_password
from store.tables import Station
from tests.helpers import eventually

STATIONS = 16
PASSWORD = "shared-port-secret"
READY = "OCPP gateway listening on ws://"


def _two_gateways_on_one_port(
    settings, db, ids: list[str], temporal: str, tmp_path: Path
) -> tuple[int, list[RoleProcess]]:
    """The stations registered, and two gateway processes (not started) sharing a free port."""
    with db.session() as session:
        for station_id in ids:
            session.add(Station(id=station_id, password_hash=hash_password(PASSWORD)))
    port = free_port()
    logs = [tmp_path / f"gateway-{n}.log" for n in (1, 2)]
    return port, [_gateway(settings, settings.database_url, temporal, port, log) for log in logs]


def _gateway(settings, database_url: str, temporal: str, port: int, log: Path) -> RoleProcess:
    env = {
        "AMPFLOW_DATABASE_URL": database_url,
        "AMPFLOW_TEMPORAL_ADDRESS": temporal,
        "AMPFLOW_TASK_QUEUE": settings.task_queue,
        "AMPFLOW_GATEWAY_PORT": str(port),
        "AMPFLOW_GATEWAY_REUSE_PORT": "true",
        "AMPFLOW_GATEWAY_METRICS_PORT": "0",
        "AMPFLOW_ALERT_SWEEP_INTERVAL_S": "0",
        "AMPFLOW_HEALING_ENABLED": "false",
        "AMPFLOW_DATA_DIR": str(log.parent / "data"),
        "AMPFLOW_LOG_LEVEL": "INFO",
    }
    return RoleProcess("gateway", env, log, ready_text=READY)


class Charger:
    """Heartbeats every 0.2 s; reconnects (to the same address) whenever its socket drops."""

    def __init__(self, url: str, station_id: str) -> None:
        self.url, self.station_id = url, station_id
        self.answered_at = 0.0  # monotonic time of the last answered Heartbeat
        self.connections = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError, websockets.ConnectionClosed, TimeoutError):
                async with websockets.connect(
                    f"{self.url}/{self.station_id}",
                    subprotocols=["ocpp1.6"],
                    additional_headers=basic_auth_header(self.station_id, PASSWORD),
                    open_timeout=5,
                ) as ws:
                    self.connections += 1
                    while True:
                        unique_id = uuid.uuid4().hex[:20]
                        await ws.send(orjson.dumps([2, unique_id, "Heartbeat", {}]).decode())
                        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                        if answer[:2] == [3, unique_id]:
                            self.answered_at = time.monotonic()
                        await asyncio.sleep(0.2)
            await asyncio.sleep(0.2)


def _queues(db, ids: list[str]) -> dict[str, str | None]:
    with db.session() as session:
        rows = session.exec(select(Station).where(Station.id.in_(ids))).all()
        return {row.id: row.gateway_queue if row.connected else None for row in rows}


async def test_two_gateway_processes_share_a_port_and_take_over(
    settings, seeded, temporal_address, tmp_path
):
    ids = [f"SHARED-{i:02d}" for i in range(STATIONS)]
    port, gateways = _two_gateways_on_one_port(settings, seeded, ids, temporal_address, tmp_path)
    chargers = [Charger(f"ws://127.0.0.1:{port}/ocpp", station_id) for station_id in ids]
    tasks: list[asyncio.Task] = []
    try:
        for gateway in gateways:
            gateway.start()
            await gateway.ready()  # the second one binds the same port
        tasks = [asyncio.create_task(charger.run()) for charger in chargers]

        def spread() -> set[str] | None:
            queues = _queues(seeded, ids)
            held = set(queues.values())
            return held if None not in held and len(held) == 2 else None

        held = await eventually(spread, timeout=30)  # both processes hold some chargers
        pids = {str(gateway.process.pid) for gateway in gateways if gateway.process}
        assert {next(p for p in pids if f"-{p}-" in queue) for queue in held} == pids

        killed, survivor = gateways
        survivor_pid = str(survivor.process.pid if survivor.process else "")
        before = _queues(seeded, ids)
        moved = [c for c in chargers if f"-{survivor_pid}-" not in (before[c.station_id] or "")]
        assert moved  # the chargers of the process about to die
        killed.kill()  # SIGKILL: its sockets drop with it
        after_kill = time.monotonic()

        def all_on_survivor() -> bool:
            queues = _queues(seeded, ids)
            return all(q is not None and f"-{survivor_pid}-" in q for q in queues.values())

        await eventually(all_on_survivor, timeout=30)
        await eventually(lambda: all(c.answered_at > after_kill for c in chargers), timeout=30)
        assert all(c.connections >= 2 for c in moved)  # they reconnected, to the same address
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for gateway in gateways:
            gateway.kill()


async def test_a_silent_socket_on_the_other_process_hands_the_route_back(
    settings, seeded, temporal_address, tmp_path
):
    ids = [f"SHARED-{i:02d}" for i in range(4)]
    port, gateways = _two_gateways_on_one_port(settings, seeded, ids, temporal_address, tmp_path)
    url = f"ws://127.0.0.1:{port}/ocpp"
    charger = Charger(url, ids[0])
    task: asyncio.Task | None = None
    try:
        for gateway in gateways:
            gateway.start()
            await gateway.ready()
        pids = [str(gateway.process.pid) for gateway in gateways if gateway.process]
        task = asyncio.create_task(charger.run())
        queue = await eventually(lambda: _queues(seeded, ids[:1])[ids[0]], timeout=30)
        holder = next(pid for pid in pids if f"-{pid}-" in queue)
        other = next(pid for pid in pids if pid != holder)

        async def silent_socket_on_the_other_process() -> bool:
            async with websockets.connect(
                f"{url}/{ids[0]}",
                subprotocols=["ocpp1.6"],
                additional_headers=basic_auth_header(ids[0], PASSWORD),
            ):
                with contextlib.suppress(AssertionError):
                    await eventually(
                        lambda: f"-{other}-" in (_queues(seeded, ids[:1])[ids[0]] or ""),
                        timeout=1,
                    )
                    return True  # the route moved there; now close without a frame
            return False

        for _ in range(40):  # the kernel picks the process; 40 tries miss it with p < 1e-12
            if await silent_socket_on_the_other_process():
                break
        else:
            raise AssertionError("no socket landed on the other process")
        closed_at = time.monotonic()
        await eventually(
            lambda: f"-{holder}-" in (_queues(seeded, ids[:1])[ids[0]] or ""), timeout=10
        )
        await eventually(lambda: charger.answered_at > closed_at + 1, timeout=10)
        assert f"-{holder}-" in (_queues(seeded, ids[:1])[ids[0]] or "")  # still online there
        assert charger.connections == 1  # its socket carried on all along
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for gateway in gateways:
            gateway.kill()
