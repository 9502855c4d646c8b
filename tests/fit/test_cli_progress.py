"""Long CLI runs show progress with rich, and stay line-oriented in a pipe (CI logs): no carriage
returns, no escape codes, every message one line, the bar printed once at the end, then the
final table or report (and, for chaos, the replay line)."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from chaos import cli as chaos_cli
from chaos import run as chaos_run
from chaos.run import ChaosOptions, ChaosReport

AMPFLOW = Path(sys.executable).parent / "ampflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain(text: str) -> None:
    assert "\r" not in text and "\x1b" not in text, repr(text)


def test_simulate_stations_progress_in_a_pipe(tmp_path: Path) -> None:
    port = _free_port()
    stub = subprocess.Popen(
        [sys.executable, "-m", "chargers.stub_csms", str(port), "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stub.stdout is not None and stub.stdout.readline().strip() == "ready"
        done = subprocess.run(
            [
                str(AMPFLOW),
                "simulate",
                "--stations",
                "3",
                "--url",
                f"ws://127.0.0.1:{port}/ocpp",
                "--arrival",
                "0.2",
                "--dwell",
                "0.5",
                "--duration",
                "20",
                "--seed",
                "3",
            ],
            capture_output=True,  # bytes: text mode would turn carriage returns into newlines
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        stub.kill()
        stub.wait()
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr
    _plain(stderr)
    _plain(stdout)
    err = [line for line in stderr.splitlines() if line.strip()]
    assert err[0] == "3 stations, seed 3"
    assert re.fullmatch(r"booted\s+━+\s+3/3\s+\d+ messages  3 sessions\s+\d:\d\d:\d\d", err[-1]), (
        err
    )
    assert "p99 ms" in stdout and "sessions 3" in stdout


async def _fake_run_chaos(options: ChaosOptions, say=print, tick=None) -> ChaosReport:
    from chaos.run import ChaosProgress

    say(f"chaos run, seed {options.seed}, {options.minutes} min, in {options.run_dir}")
    for second in range(13):
        tick(ChaosProgress("faults", second, 12, second // 4, second // 6))
    say("[   12s] sessions started 3, faults 2 (SIGKILLs 1) [bold]not markup[/bold] :smile:")
    tick(ChaosProgress("settling", 12, 12, 3, 2))
    say("settling: processes up True, queued 0, open sessions 0, open holds 0")
    return ChaosReport(
        options.seed,
        options.run_dir,
        sessions=3,
        faults={"kill-api": 1, "pause": 1},
        settled_in_s=5,
    )


def test_chaos_output_in_a_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(chaos_run, "run_chaos", _fake_run_chaos)
    args = Namespace(
        minutes=0.2, seed=1, copies=1, settle=240.0, fault_gap=6.0, dir=str(tmp_path), code=None
    )
    assert chaos_cli.run(args) == 0
    out, err = capfd.readouterr()
    _plain(out)
    lines = out.splitlines()
    assert lines[0] == f"chaos run, seed 1, 0.2 min, in {tmp_path}"
    assert (
        lines[1]
        == "[   12s] sessions started 3, faults 2 (SIGKILLs 1) [bold]not markup[/bold] :smile:"
    )
    assert lines[2] == "settling: processes up True, queued 0, open sessions 0, open holds 0"
    assert re.fullmatch(r"settling\s+━+\s+12/12s\s+sessions 3\s+faults 2\s+\d:\d\d:\d\d", lines[3])
    assert lines[4:7] == [
        "seed: 1",
        f"run directory: {tmp_path}",
        "sessions run (completed charger transactions): 3",
    ]
    assert "invariant violations: 0" in lines
    assert err.splitlines()[-1] == "replay with: ampflow chaos --minutes 0.2 --seed 1"


class _Client:
    def __init__(self) -> None:
        self.sessions = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sessions += 1
            await asyncio.sleep(0.5)


class _Nemesis:
    counts = {"kill-gateway": 1}

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def heal(self) -> None:
        return None


async def test_the_runner_reports_progress_every_second_of_the_fault_phase(tmp_path: Path):
    options = ChaosOptions(minutes=2.5 / 60, seed=1, run_dir=tmp_path, progress_s=1.0)
    said: list[str] = []
    ticks: list = []
    clients = [_Client(), _Client()]
    await chaos_run._drive(options, clients, _Nemesis(), said.append, ticks.append)
    assert [t.phase for t in ticks] == ["faults"] * len(ticks) and len(ticks) >= 2
    assert ticks[0].elapsed_s < 0.5 and ticks[-1].elapsed_s <= ticks[-1].total_s == 2.5
    assert ticks[-1].faults == 1 and 0 < ticks[-1].sessions <= sum(c.sessions for c in clients)
    assert len(said) == 3  # the runner's own lines, every progress_s, unchanged
