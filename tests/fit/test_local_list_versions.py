"""Local-list version numbers are never reused: every list sent to a station has a new number,
also the full list that follows a refused differential (issue #16)."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.local_list_activities import LocalListActivities
from ampflow.seed import DEMO_STATION
from domain.access import LocalListNext, LocalListOutcome, LocalListPlanRequest
from store.access_tables import LocalList
from store.tables import IdToken


def test_every_list_sent_has_a_new_version_number(seeded):
    acts = LocalListActivities(seeded)
    env = ActivityEnvironment()
    with seeded.session() as db:
        db.add(LocalList(station_id=DEMO_STATION, enabled=True))
        db.commit()

    def send(*, full: bool = False, outcome: str = "ok", status: str = "Accepted"):
        plan = env.run(
            acts.plan_local_list, LocalListPlanRequest(station_id=DEMO_STATION, full=full)
        )
        assert plan.version_id is not None
        step = env.run(
            acts.record_local_list,
            LocalListOutcome(version_id=plan.version_id, outcome=outcome, status=status),
        )
        return plan, step

    first, step = send()
    assert (first.version, first.update_type, step) == (1, "Full", LocalListNext.DONE)

    with seeded.session() as db:
        db.add(IdToken(token="STOCK-1"))
        db.commit()
    refused, step = send(status="VersionMismatch")
    assert (refused.update_type, step) == ("Differential", LocalListNext.RETRY_FULL)
    assert refused.version == 2

    retry, step = send(full=True)
    assert retry.update_type == "Full" and step == LocalListNext.DONE
    assert retry.version == 3  # never 2 again: the station refused a list numbered 2
    assert retry.params["version"] == 3

    with seeded.session() as db:
        db.add(IdToken(token="STOCK-2"))
        db.commit()
    offline, step = send(outcome="offline", status=None)
    assert (offline.version, step) == (4, LocalListNext.RETRY_LATER)
    again, step = send()
    assert (again.version, again.update_type, step) == (5, "Differential", LocalListNext.DONE)
    with seeded.session() as db:
        assert db.get(LocalList, DEMO_STATION).version == 5
