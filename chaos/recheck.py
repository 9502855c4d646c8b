"""Run the checker again over a finished run's directory: `python -m chaos.recheck RUN_DIR`.

Reads the journals and the evidence the run kept (`evidence.json`); no process is started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chaos import fleet
from chaos.checker import Evidence, Verdict, check
from chaos.history import read_all


def recheck(run_dir: Path) -> Verdict:
    saved = json.loads((run_dir / "evidence.json").read_text())
    drivers = saved.pop("drivers")
    plans = fleet.plan(saved.pop("copies", 1))
    saved["balances"] = {int(k): v for k, v in saved["balances"].items()}
    return check(plans, drivers, read_all(run_dir / "journals"), Evidence(**saved))


if __name__ == "__main__":
    verdict = recheck(Path(sys.argv[1]))
    print(f"completed transactions: {verdict.completed}")
    print(f"invariant violations: {len(verdict.violations)}")
    for line in verdict.violations:
        print(f"  VIOLATION {line}")
    sys.exit(1 if verdict.violations else 0)
