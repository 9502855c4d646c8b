"""A short seeded chaos run (docs/chaos.md): real processes, SIGKILLs, cut links, Stripe faults.

Two gateways, two workers, the API, the Temporal dev server (with its database file), PostgreSQL
and the fake Stripe, each its own OS process; twelve virtual chargers of both OCPP versions run
sessions while the nemesis kills and cuts on a schedule drawn from the seed. The checker reads
only the chargers' journals and the fake Stripe's records. The seed is printed: replay a failure
with `ampflow chaos --minutes 1.5 --seed <seed> --fault-gap 5` (or AMPFLOW_CHAOS_SEED=<seed>).
"""

from __future__ import annotations

import os

from chaos.run import ChaosOptions, run_chaos

SEED = int(os.environ.get("AMPFLOW_CHAOS_SEED", "20261205"))


async def test_a_short_chaos_run_keeps_every_invariant(tmp_path, capsys):
    print(f"chaos seed: {SEED}")
    options = ChaosOptions(
        minutes=1.5, seed=SEED, run_dir=tmp_path / "chaos", settle_s=120, mean_gap_s=5
    )
    report = await run_chaos(options)
    print(report.text())
    assert report.sigkills > 0 and report.sessions > 0, report.text()
    assert report.settled_in_s is not None, report.text()
    assert report.verdict.violations == [], report.text()
