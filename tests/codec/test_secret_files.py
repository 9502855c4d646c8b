"""Secrets created in the data dir once: processes starting together all read the same one."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from runtime.secret_files import read_or_create

_RACER = """
import sys, time
from pathlib import Path
from runtime.secret_files import read_or_create
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together
print(read_or_create(Path(sys.argv[1]), sys.argv[2]))
"""


def test_the_first_secret_written_stays(tmp_path: Path):
    path = tmp_path / "data" / "station_password_pepper"
    assert read_or_create(path, "first") == "first"
    assert read_or_create(path, "second") == "first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_processes_racing_on_a_fresh_data_dir_agree(tmp_path: Path):
    import time

    path = tmp_path / "data" / "station_password_pepper"
    root = Path(__file__).resolve().parents[2]
    start = f"{time.time() + 1.5}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), f"secret-{n}", start],
            cwd=root,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    seen = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert seen == {path.read_text().strip()}
