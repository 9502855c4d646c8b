"""Editing a tariff (PATCH /tariffs/{id}): the fields sent change, the others stay, the preview
prices with the new values, the change is audited with what it was before; bad input is a 422,
an unknown tariff a 404, and the default tariff stays the default until another one is."""

from __future__ import annotations

import pytest
from sqlmodel import select

from store.access_tables import AuditEntry
from tests.access.helpers import api_key

TOO_BIG = [2**31, 2**63, 10**30]


async def _tariff(api, **values) -> dict:
    answer = await api.post("/tariffs", json={"name": "Edit me", **values})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _preview_total(api, tariff_id: int) -> int:
    answer = await api.get(f"/tariffs/{tariff_id}/preview?energy_wh=10000&duration_s=3600")
    assert answer.status_code == 200, answer.text
    return answer.json()["rating"]["total"]


async def test_an_edit_changes_the_fields_sent_and_is_audited_with_the_old_values(api, db):
    tariff = await _tariff(api, energy_price_per_kwh=30, session_fee=50, max_price=5000)
    assert await _preview_total(api, tariff["id"]) == 10 * 30 + 50

    answer = await api.patch(
        f"/tariffs/{tariff['id']}", json={"energy_price_per_kwh": 45, "max_price": None}
    )
    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["energy_price_per_kwh"] == 45 and edited["max_price"] is None
    assert edited["session_fee"] == 50 and edited["name"] == "Edit me"  # not sent: unchanged
    assert (await api.get(f"/tariffs/{tariff['id']}")).json() == edited
    assert await _preview_total(api, tariff["id"]) == 10 * 45 + 50

    with db.session() as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "tariff.edit")).one()
    assert entry.actor == "admin" and entry.target == f"tariff:{tariff['id']}"
    assert entry.detail["changed"] == {
        "energy_price_per_kwh": {"from": 30, "to": 45},
        "max_price": {"from": 5000, "to": None},
    }


async def test_making_a_tariff_the_default_unsets_the_other(api):
    first = await _tariff(api, is_default=True)
    second = await _tariff(api)
    answer = await api.patch(f"/tariffs/{second['id']}", json={"is_default": True})
    assert answer.status_code == 200, answer.text
    assert (await api.get(f"/tariffs/{first['id']}")).json()["is_default"] is False
    refused = await api.patch(f"/tariffs/{second['id']}", json={"is_default": False})
    assert refused.status_code == 409
    assert "another tariff the default" in refused.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": None},
        {"currency": "eur"},
        {"currency": None},
        {"energy_price_per_kwh": -1},
        {"energy_price_per_kwh": None},
        {"vat_rate_bp": 10_001},
        {"time_basis": "sometimes"},
        {"min_price": 500, "max_price": 100},
        {"time_zone": "Mars/Olympus"},
        {"elements": "not a list"},
        {"name": "N\x00L"},
        *({"session_fee": number} for number in TOO_BIG),
    ],
    ids=repr,
)
async def test_bad_input_is_422_and_changes_nothing(api, body):
    tariff = await _tariff(api, energy_price_per_kwh=30, max_price=5000)
    answer = await api.patch(f"/tariffs/{tariff['id']}", json=body)
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert answer.json()["detail"]
    assert (await api.get(f"/tariffs/{tariff['id']}")).json() == tariff


@pytest.mark.parametrize("tariff_id", ["999", "0", "-1", "x", str(2**31), str(2**63)])
async def test_unknown_or_impossible_ids_are_404_or_422(api, tariff_id):
    answer = await api.patch(f"/tariffs/{tariff_id}", json={"session_fee": 1})
    assert answer.status_code == (404 if tariff_id == "999" else 422), answer.text


async def test_only_an_admin_may_edit(api):
    tariff = await _tariff(api)
    for role in ("technician", "support", "analyst"):
        key = await api_key(api, role)
        answer = await api.patch(f"/tariffs/{tariff['id']}", json={"session_fee": 1}, headers=key)
        assert answer.status_code == 403, (role, answer.text)
    anonymous = await api.patch(
        f"/tariffs/{tariff['id']}", json={"session_fee": 1}, headers={"X-API-Key": ""}
    )
    assert anonymous.status_code in (401, 403)


async def test_an_unknown_time_zone_is_422_on_create_too(api):
    """It was a 500: the zone lookup's KeyError escaped the validation."""
    answer = await api.post("/tariffs", json={"name": "Z", "time_zone": "Mars/Olympus"})
    assert answer.status_code == 422, answer.text
    assert "unknown time zone" in answer.text
