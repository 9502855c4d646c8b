"""`ampflow chaos --minutes N --seed S`: one bounded chaos run, shown as it goes (rich)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
from pathlib import Path


def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--minutes", type=float, default=5.0, help="how long faults are injected")
    command.add_argument("--seed", type=int, help="random seed (printed; same seed, same faults)")
    command.add_argument("--copies", type=int, default=1, help="stations per kind (12 kinds)")
    command.add_argument("--fault-gap", type=float, default=6.0, help="mean seconds between faults")
    command.add_argument("--settle", type=float, default=240.0, help="most seconds to settle")
    command.add_argument("--dir", help="run directory (logs, journals; default: a temp dir)")
    command.add_argument(
        "--code", help="run gateways, workers and the API from this source tree (mutation checks)"
    )


def run(args: argparse.Namespace) -> int:
    """Run, print the report; the exit status is 1 when an invariant was violated."""
    from ampflow.progress import console, progress_bar
    from chaos.run import ChaosOptions, ChaosProgress, run_chaos

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    run_dir = Path(args.dir or tempfile.mkdtemp(prefix=f"ampflow-chaos-{seed}-"))
    options = ChaosOptions(
        minutes=args.minutes,
        seed=seed,
        run_dir=run_dir,
        copies=args.copies,
        settle_s=args.settle,
        mean_gap_s=args.fault_gap,
        code_dir=Path(args.code).resolve() if args.code else None,
    )
    for noisy in ("stripe", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    out = console()
    with progress_bar(
        out,
        "{task.completed:.0f}/{task.total:.0f}s",
        "sessions {task.fields[sessions]}",
        "faults {task.fields[faults]}",
    ) as bar:
        task = bar.add_task("starting", total=options.minutes * 60, sessions=0, faults=0)

        def tick(p: ChaosProgress) -> None:
            bar.update(
                task,
                description=p.phase,
                completed=p.elapsed_s,
                sessions=p.sessions,
                faults=p.faults,
            )

        report = asyncio.run(run_chaos(options, say=out.print, tick=tick))
    print(report.text(), flush=True)
    failed = bool(report.verdict.violations) or report.settled_in_s is None
    print(f"replay with: ampflow chaos --minutes {args.minutes} --seed {seed}", file=sys.stderr)
    return 1 if failed else 0
