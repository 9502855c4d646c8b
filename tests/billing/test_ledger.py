"""The ledger provider: credit limits and prepaid balances at authorize, settlement, statements."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.payments import ledger, records
from activities.payments.service import Payments
from activities.payments.statements import monthly_statement
from domain.payments import HoldRequest, HoldStatus, RefundRequest, ReleaseRequest, SettleRequest
from domain.session import ChargeRequest
from store.billing_tables import DriverAccount
from tests.billing.conftest import demo_driver_id


def _hold(payments: Payments, session_id: str, driver_id: int | None, amount: int | None = None):
    return payments.place_hold(
        HoldRequest(session_id=session_id, station_id="DEMO-1", driver_id=driver_id, amount=amount)
    )


def _limit(payments: Payments, driver_id: int, limit: int | None) -> None:
    with payments.db.session() as s:
        s.merge(DriverAccount(driver_id=driver_id, credit_limit=limit))


def test_unlimited_by_default_and_settled_on_the_ledger(ledger_payments: Payments) -> None:
    driver = demo_driver_id(ledger_payments.db)
    hold = _hold(ledger_payments, "l-1", driver)
    assert (hold.status, hold.provider, hold.amount) == (HoldStatus.HELD, "ledger", 2736)
    settled = ledger_payments.settle(
        SettleRequest(session_id="l-1", driver_id=driver, amount=388, currency="EUR")
    )
    assert (settled.status, settled.provider, settled.ledger_amount) == ("succeeded", "ledger", 388)
    again = ledger_payments.settle(
        SettleRequest(session_id="l-1", driver_id=driver, amount=388, currency="EUR")
    )
    assert again.payment_id == settled.payment_id
    with ledger_payments.db.session() as s:
        assert ledger.balance(s, driver) == 388
        assert ledger.reserved(s, driver) == 0
        assert records.find(s, "l-1", records.HOLD).status == "captured"


def test_credit_limit_refuses_a_hold_and_counts_open_reservations(
    ledger_payments: Payments,
) -> None:
    driver = demo_driver_id(ledger_payments.db)
    _limit(ledger_payments, driver, 5000)
    assert _hold(ledger_payments, "l-a", driver, amount=3000).status == HoldStatus.HELD
    refused = _hold(ledger_payments, "l-b", driver, amount=3000)  # 3000 reserved + 3000 > 5000
    assert (refused.status, refused.failure_code) == (HoldStatus.DECLINED, "credit_limit")
    assert "available 2000" in (refused.failure_reason or "")
    assert ledger_payments.release(ReleaseRequest(session_id="l-a")).status == "released"
    assert _hold(ledger_payments, "l-c", driver, amount=3000).status == HoldStatus.HELD


def test_prepaid_balance(ledger_payments: Payments) -> None:
    driver = demo_driver_id(ledger_payments.db)
    _limit(ledger_payments, driver, 0)
    assert _hold(ledger_payments, "p-1", driver, amount=1000).status == HoldStatus.DECLINED
    with ledger_payments.db.session() as s:
        records.add_ledger_entry(
            s, "top-up:1", driver_id=driver, kind="top_up", amount=-2500, currency="EUR"
        )
    assert _hold(ledger_payments, "p-2", driver, amount=2000).status == HoldStatus.HELD
    ledger_payments.settle(
        SettleRequest(session_id="p-2", driver_id=driver, amount=1800, currency="EUR")
    )
    with ledger_payments.db.session() as s:
        assert ledger.balance(s, driver) == -700


def test_no_account_no_hold_and_free_tariff_not_required(ledger_payments: Payments) -> None:
    assert _hold(ledger_payments, "anon", None, amount=500).status == HoldStatus.DECLINED
    assert _hold(ledger_payments, "free", 1, amount=0).status == HoldStatus.NOT_REQUIRED
    settled = ledger_payments.settle(
        SettleRequest(session_id="free", driver_id=1, amount=0, currency="EUR")
    )
    assert settled.status == "not_required"


def test_refund_credits_the_ledger_and_statement(ledger_payments: Payments) -> None:
    driver = demo_driver_id(ledger_payments.db)
    _hold(ledger_payments, "r-1", driver)
    ledger_payments.settle(
        SettleRequest(session_id="r-1", driver_id=driver, amount=1000, currency="EUR")
    )
    refund = ledger_payments.refund(
        RefundRequest(session_id="r-1", refund_key="k", amount=400, reason="slow charging")
    )
    assert (refund.status, refund.amount, refund.provider) == ("succeeded", 400, "ledger")
    now = datetime.now(UTC)
    with ledger_payments.db.session() as s:
        statement = monthly_statement(s, driver, now.year, now.month)
    assert [(line.kind, line.amount) for line in statement.lines] == [
        ("session", 1000),
        ("refund", -400),
    ]
    assert (statement.charges, statement.credits, statement.closing_balance) == (1000, 400, 600)


def test_legacy_charge_path_still_works_and_writes_the_ledger(ledger_payments: Payments) -> None:
    driver = demo_driver_id(ledger_payments.db)
    with ledger_payments.db.session() as s:
        outcome = ledger_payments.ledger.charge(
            s, ChargeRequest(session_id="old", driver_id=driver, amount=388, currency="EUR")
        )
        again = ledger_payments.ledger.charge(
            s, ChargeRequest(session_id="old", driver_id=driver, amount=388, currency="EUR")
        )
        assert outcome.status == again.status == "succeeded"
        assert ledger.balance(s, driver) == 388
