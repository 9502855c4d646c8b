"""The cluster under test, started as operators would: every service its own OS process.

Embedded PostgreSQL (on TCP), the Temporal dev server with its database file, the fake Stripe,
two gateways, two workers and the API (`ampflow <role>` each). Gateways and workers reach
Temporal, and workers reach PostgreSQL, through their own `TcpProxy`, so the nemesis can cut or
slow one link. A supervisor starts again whatever is down (a crashed role, or one the nemesis
killed once its downtime is over), as systemd or Kubernetes would. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ampflow.devstack import free_port, start_temporal_dev_server, wait_for_port
from chaos.postgres import ChaosPostgres
from chaos.processes import RoleProcess
from chaos.tcp_proxy import TcpProxy

log = logging.getLogger(__name__)

STRIPE_KEY = "sk_test_ampflow_chaos"
WEBHOOK_SECRET = "whsec_ampflow_chaos"
ADMIN_KEY = "chaos-admin-key-0123456789"
STATION_PASSWORD = "chaos-station-secret"
REPO_ROOT = Path(__file__).resolve().parent.parent
ROLES = ("gateway", "worker", "api", "temporal", "postgres")


@dataclass
class Cluster:
    """Every process of one chaos run and the links between them."""

    run_dir: Path
    code_dir: Path | None = None  # run the roles from another source tree (mutation checks)
    task_queue: str = "ampflow-sessions"
    pg: ChaosPostgres = field(init=False)
    temporal_port: int = field(default_factory=free_port)
    stripe_port: int = field(default_factory=free_port)
    temporal: subprocess.Popen | None = None
    stripe: subprocess.Popen | None = None
    roles: dict[str, RoleProcess] = field(default_factory=dict)
    temporal_links: dict[str, TcpProxy] = field(default_factory=dict)  # per gateway/worker
    db_links: dict[str, TcpProxy] = field(default_factory=dict)  # per worker
    down_until: dict[str, float] = field(default_factory=dict)  # held down by the nemesis
    restarts: dict[str, int] = field(default_factory=dict)
    _supervisor: asyncio.Task | None = None

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pg = ChaosPostgres(self.run_dir / "pgdata", free_port(), self.run_dir / "pg.log")

    # ---- addresses -----------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return self.pg.url()

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.roles['api'].port}"

    @property
    def gateway_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{self.roles[n].port}/ocpp" for n in ("gateway-1", "gateway-2")]

    # ---- start and stop ------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything and migrate the schema; returns once every role is ready."""
        await asyncio.to_thread(self._start_postgres, True)
        from store.migrate import upgrade

        await asyncio.to_thread(upgrade, self.database_url)
        await asyncio.to_thread(self._start_temporal)
        self._start_stripe()
        for name in ("gateway-1", "gateway-2", "worker-1", "worker-2"):
            self.temporal_links[name] = await TcpProxy("127.0.0.1", self.temporal_port).start()
        for name in ("worker-1", "worker-2"):
            self.db_links[name] = await TcpProxy("127.0.0.1", self.pg.port).start()
        self._make_roles()
        for role in self.roles.values():
            role.start()
        for role in self.roles.values():
            await role.ready(120)

    def start_supervisor(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        """Tear down (SIGKILL: nothing of a run is kept but its logs and journals)."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for role in self.roles.values():
            role.kill()
        for proxy in [*self.temporal_links.values(), *self.db_links.values()]:
            await proxy.stop()
        for process in (self.temporal, self.stripe):
            _killpg(process)
        self.pg.kill()

    def _start_postgres(self, first: bool = False) -> None:
        if first:
            self.pg.init()
        self.pg.start()
        if first:
            self.pg.ensure_database()

    def _start_temporal(self) -> None:
        self.temporal = start_temporal_dev_server(
            self.temporal_port, None, self.run_dir / "temporal.db", self.run_dir / "temporal.log"
        )

    def _start_stripe(self) -> None:
        with (self.run_dir / "stripe.log").open("ab") as out:
            self.stripe = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.fake_stripe", "--port", str(self.stripe_port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO_ROOT,  # the fake lives in tests/, beside the packages
            )
        wait_for_port("127.0.0.1", self.stripe_port, 30)

    def _env(self) -> dict[str, str]:
        return {
            "AMPFLOW_DATA_DIR": str(self.run_dir / "data"),
            "AMPFLOW_DATABASE_URL": self.database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": self.temporal_address,
            "AMPFLOW_TASK_QUEUE": self.task_queue,
            "AMPFLOW_ADMIN_API_KEY": ADMIN_KEY,
            "AMPFLOW_STRIPE_API_KEY": STRIPE_KEY,
            "AMPFLOW_STRIPE_API_BASE": self.stripe_url,
            "AMPFLOW_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "AMPFLOW_DEMO_STATION_PASSWORD": STATION_PASSWORD,
            "AMPFLOW_AUTHORIZATION_TIMEOUT_S": "30",
            # The sweep releases guest payments no session took up (every hold ends within a
            # bound): shortened so that it happens within a run's settle time.
            "AMPFLOW_ALERT_SWEEP_INTERVAL_S": "10",
            "AMPFLOW_GUEST_HOLD_RELEASE_AFTER_S": "120",
            "AMPFLOW_HEALING_ENABLED": "false",
            "AMPFLOW_COST_UPDATE_INTERVAL_S": "0",
            "AMPFLOW_GATEWAY_METRICS_PORT": "0",
            "AMPFLOW_WORKER_METRICS_PORT": "0",
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_API_HOST": "127.0.0.1",
        }

    def _make_roles(self) -> None:
        base = self._env()
        if self.code_dir is not None:
            base["PYTHONPATH"] = str(self.code_dir)
        for n in (1, 2):
            name = f"gateway-{n}"
            port = free_port()
            env = {
                **base,
                "AMPFLOW_GATEWAY_PORT": str(port),
                "AMPFLOW_GATEWAY_TLS_PORT": str(free_port()),
                "AMPFLOW_TEMPORAL_ADDRESS": self.temporal_links[name].address,
            }
            self.roles[name] = RoleProcess(
                "gateway", env, self._log(name), port=port, cwd=self.code_dir
            )
        for n in (1, 2):
            name = f"worker-{n}"
            env = {
                **base,
                "AMPFLOW_TEMPORAL_ADDRESS": self.temporal_links[name].address,
                "AMPFLOW_DATABASE_URL": self.pg.url(self.db_links[name].port),
            }
            self.roles[name] = RoleProcess(
                "worker",
                env,
                self._log(name),
                ready_text="worker polling task queue",
                cwd=self.code_dir,
            )
        port = free_port()
        env = {
            **base,
            "AMPFLOW_API_PORT": str(port),
            "AMPFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        self.roles["api"] = RoleProcess("api", env, self._log("api"), port=port, cwd=self.code_dir)

    def _log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    # ---- faults (called by the nemesis) --------------------------------------------------

    def targets(self, role: str) -> list[str]:
        """The process names of a role kind (`gateway` -> gateway-1, gateway-2)."""
        if role in ("temporal", "postgres"):
            return [role]
        return [name for name in self.roles if name.startswith(role)]

    def kill(self, name: str, down_s: float) -> None:
        """SIGKILL `name`; the supervisor starts it again after `down_s`."""
        self.down_until[name] = time.monotonic() + down_s
        if name == "temporal":
            _killpg(self.temporal)
            self.temporal = None
        elif name == "postgres":
            self.pg.kill()
        else:
            self.roles[name].kill()

    def alive(self, name: str) -> bool:
        if name == "temporal":
            return self.temporal is not None and self.temporal.poll() is None
        if name == "postgres":
            return self.pg.alive
        return self.roles[name].alive

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for name in ["postgres", "temporal", *self.roles]:
                if self.alive(name) or time.monotonic() < self.down_until.get(name, 0):
                    continue
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.down_until[name] = time.monotonic() + 3.0  # no faster than a restart policy
                try:
                    await self._restart(name)
                except Exception as err:  # a start that fails is tried again next round
                    log.warning("restart of %s failed: %r", name, err)

    async def _restart(self, name: str) -> None:
        if name == "postgres":
            await asyncio.to_thread(self._start_postgres)
        elif name == "temporal":
            await asyncio.to_thread(self._start_temporal)
        else:
            self.roles[name].start()


def _killpg(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
