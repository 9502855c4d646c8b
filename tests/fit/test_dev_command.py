"""`ampflow dev`, the README's first command, run as a user runs it (a process of its own, in a
fresh data directory, on embedded PostgreSQL and the Temporal dev server).

Its roles run as processes of their own: the gateway, the API, and the worker at the session
path's lower CPU priority (with the Temporal dev server). A role killed with SIGKILL is started
again; Ctrl-C stops every process the command started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from ampflow.devstack import free_port
from runtime.settings import Settings

BANNER = "Ampflow is running."
ROLES = ("gateway", "api", "worker")


@dataclass
class DevStack:
    process: subprocess.Popen
    env: dict[str, str]
    output: Path
    api_url: str
    data_dir: Path

    def roles(self) -> dict[str, psutil.Process]:
        """The running role processes by role, and the Temporal dev server as "temporal"."""
        found: dict[str, psutil.Process] = {}
        for child in psutil.Process(self.process.pid).children():
            try:
                command = child.cmdline()
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
            except psutil.NoSuchProcess:
                continue
            if "start-dev" in command:
                found["temporal"] = child
            elif command[-2:-1] == ["ampflow.cli"] and command[-1] in ROLES:
                found[command[-1]] = child
        return found

    def simulate(self) -> str:
        """One session with the demo charger (`ampflow simulate`); its output."""
        done = subprocess.run(
            [sys.executable, "-m", "ampflow.cli", "simulate", "--meter-values", "2"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    home = tmp_path_factory.mktemp("dev")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AMPFLOW_")}
    api_port = free_port()
    env |= {
        "AMPFLOW_DATA_DIR": str(home / "data"),
        "AMPFLOW_GATEWAY_PORT": str(free_port()),
        "AMPFLOW_API_PORT": str(api_port),
        "AMPFLOW_TEMPORAL_PORT": str(free_port()),
        "AMPFLOW_TEMPORAL_UI_PORT": str(free_port()),
    }
    output = home / "dev.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ampflow.cli", "dev"],
            env=env,
            cwd=home,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = DevStack(process, env, output, f"http://127.0.0.1:{api_port}", home / "data")
    try:
        _wait_for(lambda: BANNER in output.read_text() or process.poll() is not None, 180)
        assert process.poll() is None, output.read_text()
        yield stack
    finally:
        started = psutil.Process(process.pid).children(recursive=True) if _alive(process) else []
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        for leftover in started:  # never leave a stray server behind a failed test
            if leftover.is_running():
                leftover.kill()


def test_each_role_runs_in_its_own_process_the_session_path_behind_the_gateway(dev: DevStack):
    roles = dev.roles()
    assert set(roles) == {*ROLES, "temporal"}, dev.output.read_text()
    assert len({process.pid for process in roles.values()}) == 4
    niceness = Settings.model_fields["session_path_nice"].default
    assert niceness > 0
    assert {role: process.nice() for role, process in roles.items()} == {
        "gateway": 0,
        "api": 0,
        "worker": niceness,
        "temporal": niceness,
    }


def test_a_session_runs_end_to_end_and_is_completed(dev: DevStack):
    printed = dev.simulate()
    assert "start: Accepted" in printed, printed
    session_id = printed.split("session id: ")[1].split()[0]
    key = (dev.data_dir / "admin_api_key").read_text().strip()

    def completed() -> bool:
        answer = httpx.get(f"{dev.api_url}/sessions/{session_id}", headers={"X-API-Key": key})
        return answer.status_code == 200 and answer.json()["state"] == "Completed"

    _wait_for(completed, 60)


def test_a_role_killed_with_sigkill_is_started_again(dev: DevStack):
    for role in ROLES:
        killed = dev.roles()[role]
        killed.send_signal(signal.SIGKILL)

        def restarted(role: str = role, killed: psutil.Process = killed) -> bool:
            now = dev.roles().get(role)
            return now is not None and now.pid != killed.pid

        _wait_for(restarted, 60)
    assert "the gateway exited (code -9); starting it again" in dev.output.read_text()
    time.sleep(2)  # the new gateway listens a moment after its start
    printed = _retry(dev.simulate, 30)
    assert "start: Accepted" in printed, printed


def test_ctrl_c_stops_every_process_it_started(dev: DevStack):
    started = psutil.Process(dev.process.pid).children(recursive=True)
    assert len(started) >= 4
    dev.process.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends it
    assert dev.process.wait(60) == 0
    assert "stopped" in dev.output.read_text()
    left = []
    for process in started:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                left.append(process.cmdline())
        except psutil.NoSuchProcess:
            pass
    assert left == []


def _alive(process: subprocess.Popen) -> bool:
    return process.poll() is None


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(0.5)


def _retry(action, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
