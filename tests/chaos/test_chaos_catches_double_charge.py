"""The chaos checker can fail: a copy of the code that charges every card session twice is caught.

No hook in production code: the test copies the source tree, changes one line of the copy
(the rest beyond the captured hold becomes the whole amount, so the card is charged again), and
runs the gateways, workers and API from the copy (`ChaosOptions.code_dir`) for a short run
without faults. The checker, reading only journals and the fake Stripe, must see the double
charges.
"""

from __future__ import annotations

import shutil

import pytest

from chaos.cluster import REPO_ROOT
from chaos.run import ChaosOptions, run_chaos

PACKAGES = ("activities", "ampflow", "api", "domain", "gateway", "store", "workers", "workflows")
TARGET = "activities/payments/stripe_provider.py"
ORIGINAL = "        rest = request.amount - captured\n"
MUTANT = "        rest = request.amount  # mutant: charges twice\n"


def _mutant_tree(tmp_path):
    tree = tmp_path / "mutant"
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tree / package, ignore=shutil.ignore_patterns("*.pyc"))
    source = (tree / TARGET).read_text()
    if source.count(ORIGINAL) != 1:
        pytest.fail(f"the line this mutation changes moved: update {__name__}")
    (tree / TARGET).write_text(source.replace(ORIGINAL, MUTANT))
    return tree


async def test_a_build_that_charges_twice_is_caught(tmp_path):
    options = ChaosOptions(
        minutes=0.75,
        seed=1,
        run_dir=tmp_path / "chaos",
        settle_s=60,
        mean_gap_s=10_000,  # no faults: the defect alone
        code_dir=_mutant_tree(tmp_path),
    )
    report = await run_chaos(options)
    print(report.text())
    doubled = [v for v in report.verdict.violations if "card captured" in v]
    assert report.sessions > 0 and doubled, report.text()
