"""`ampflow dev`'s roles, each in a process of its own, kept running.

The gateway, the session worker and the API are the commands an operator runs apart (`ampflow
gateway|worker|api`), given the dev stack's settings in their environment. Apart, the gateway's
event loop answers chargers while the worker runs workflows beside it, not between its answers;
and the worker runs at `session_path_nice` (as does the Temporal dev server), so when both want
the same core, the charger's answer goes first. A role that exits is started again; one that
keeps exiting right after its start (a port taken, a bad setting) stops the stack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from ampflow.devstack import PortInUse, lower_own_priority, port_in_use, wait_for_port
from runtime.settings import Settings

log = logging.getLogger("ampflow.dev")

RESTART_DELAY_S = 1.0
QUICK_EXIT_S = 10.0  # an exit this soon after its start counts as a failed start
MAX_QUICK_EXITS = 3  # failed starts in a row before the stack gives up
STOP_TIMEOUT_S = 10.0  # after SIGTERM, then SIGKILL


class RoleFailed(RuntimeError):
    """A role kept exiting right after its start."""


def role_environment(settings: Settings, database_url: str) -> dict[str, str]:
    """The environment that gives a role process exactly these settings (`AMPFLOW_*`)."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"AMPFLOW_{name.upper()}"] = str(value)
    env["AMPFLOW_DATABASE_URL"] = database_url
    return env


@dataclass
class Role:
    """One `ampflow <name>` process, started again when it exits."""

    name: str
    niceness: int = 0
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    quick_exits: int = 0

    def start(self, env: dict[str, str]) -> None:
        # Its own session: a Ctrl-C in the terminal reaches `ampflow dev`, which stops it.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ampflow.cli", self.name],
            env=env,
            start_new_session=True,
            preexec_fn=lower_own_priority(self.niceness),  # noqa: PLW1509 (before any thread)
        )
        self.started_at = time.monotonic()
        log.debug("%s started (pid %d, niceness %d)", self.name, self.process.pid, self.niceness)

    def exit_code(self) -> int | None:
        """None while it runs (or before its start)."""
        return None if self.process is None else self.process.poll()


class Roles:
    """The gateway, the API and the worker of one dev stack."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.settings = settings
        self.env = role_environment(settings, database_url)
        self.gateway = Role("gateway")
        self.api = Role("api")
        self.worker = Role("worker", niceness=settings.session_path_nice)
        self.all = [self.gateway, self.api, self.worker]  # also the order they stop in

    def start(self) -> None:
        """Start every role; return once the gateway and the API accept connections."""
        listening = [
            (self.gateway, _reachable(self.settings.gateway_host), self.settings.gateway_port),
            (self.api, _reachable(self.settings.api_host), self.settings.api_port),
        ]
        for _, host, port in listening:
            if port_in_use(host, port):  # else the other server would pass for ours
                raise PortInUse(f"port {port} is in use: is another Ampflow running?")
        for role in self.all:
            role.start(self.env)
        for role, host, port in listening:
            wait_for_port(host, port, timeout_s=60, process=role.process)

    async def keep_running(self) -> None:
        """Start again every role that exits; raise `RoleFailed` if one keeps exiting at once."""
        while True:
            await asyncio.sleep(0.5)
            for role in self.all:
                code = role.exit_code()
                if code is None:
                    continue
                quick = time.monotonic() - role.started_at < QUICK_EXIT_S
                role.quick_exits = role.quick_exits + 1 if quick else 0
                if role.quick_exits >= MAX_QUICK_EXITS:
                    raise RoleFailed(f"the {role.name} keeps exiting (last code {code})")
                log.warning("the %s exited (code %s); starting it again", role.name, code)
                await asyncio.sleep(RESTART_DELAY_S)
                role.start(self.env)

    def stop(self) -> None:
        """SIGTERM to each (the gateway first: its chargers are told it goes away), then wait;
        SIGKILL to any still running after `STOP_TIMEOUT_S`."""
        running = [r.process for r in self.all if r.process is not None and r.exit_code() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _reachable(host: str) -> str:
    """Where to reach a server bound to `host` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
