"""Stripe: saved cards (SetupIntents), manual-capture holds, capture/cancel, the rest, refunds.

Exactly once: every mutating call carries an idempotency key built from business identity
(`{session_id}:hold`, `:capture`, `:cancel`, `:rest`, `:release`, `refund:{key}:{intent}`),
and the PaymentIntent's state is read before acting on it, so a retry after a lost response
replays or skips — it never moves money twice. Network failures raise `StripeUnavailable`
(retry the activity); card refusals come back as `declined` outcomes.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlmodel import Session

from activities.payments import records
from activities.payments.ledger import LedgerProvider
from domain.payments import (
    CardInfo,
    HoldOutcome,
    HoldRequest,
    RefundOutcome,
    RefundRequest,
    SettleRequest,
)
from domain.payments import PaymentOutcome as SettledOutcome
from store.billing_tables import DriverAccount
from store.tables import Driver, Payment

log = logging.getLogger(__name__)

# Smallest chargeable amounts (Stripe's minimums); below them the amount goes to the ledger.
MINIMUM = {"usd": 50, "eur": 50, "gbp": 30, "chf": 50, "cad": 50, "aud": 50, "sek": 300}
_REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}


class StripeUnavailable(Exception):
    """Stripe could not be reached or failed on its side; retrying is safe."""


def minimum(currency: str) -> int:
    return MINIMUM.get(currency.lower(), 1)


def make_client(api_key: str, api_base: str | None, retries: int = 2) -> stripe.StripeClient:
    """A Stripe client; `api_base` points it elsewhere (e.g. the test fake)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,  # type: ignore[typeddict-item]
        max_network_retries=retries,
    )


def card_from_intent(intent: dict[str, Any]) -> CardInfo | None:
    """Brand, last 4 and wallet from a PaymentIntent with `latest_charge` expanded."""
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):
        return None
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    if not card:
        return None
    wallet = (card.get("wallet") or {}).get("type")
    return CardInfo(brand=card.get("brand"), last4=card.get("last4"), wallet=wallet)


def card_from_method(method: dict[str, Any]) -> CardInfo | None:
    card = method.get("card") or {}
    if not card:
        return None
    wallet = (card.get("wallet") or {}).get("type")
    return CardInfo(brand=card.get("brand"), last4=card.get("last4"), wallet=wallet)


class StripeProvider:
    """Payments through Stripe; amounts not chargeable to a card fall back to the ledger."""

    name = "stripe"

    def __init__(self, client: stripe.StripeClient, ledger: LedgerProvider) -> None:
        self.client = client
        self.ledger = ledger

    # ---- low level ------------------------------------------------------------------------

    def call(self, method: Any, *args: Any, key: str | None = None, **params: Any) -> dict:
        """Call a `client.v1...` method; returns the object as a plain dict."""
        options = {"idempotency_key": key} if key else {}
        try:
            result = method(*args, params=params, options=options)
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as err:
            raise StripeUnavailable(str(err)) from err
        return result.to_dict()

    def intent(self, intent_id: str) -> dict:
        return self.call(
            self.client.v1.payment_intents.retrieve, intent_id, expand=["latest_charge"]
        )

    # ---- customers and cards ---------------------------------------------------------------

    def ensure_customer(self, db: Session, driver_id: int) -> str:
        """The driver's Stripe customer id, created once."""
        account = _account(db, driver_id)
        if account.stripe_customer_id:
            return account.stripe_customer_id
        driver = db.get(Driver, driver_id)
        params: dict[str, Any] = {"metadata": {"driver_id": str(driver_id)}}
        if driver is not None:
            params.update(email=driver.email, name=driver.name)
        customer = self.call(
            self.client.v1.customers.create, key=f"driver-{driver_id}:customer", **params
        )
        account.stripe_customer_id = customer["id"]
        db.add(account)
        db.flush()
        return customer["id"]

    def start_card_setup(
        self, db: Session, driver_id: int, payment_method: str | None = None
    ) -> dict:
        """A SetupIntent to save a card for off-session use; confirmed now if a method is given
        (terminals, tests), else confirmed by the app with the returned client secret."""
        customer = self.ensure_customer(db, driver_id)
        params: dict[str, Any] = {
            "customer": customer,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": {"driver_id": str(driver_id)},
        }
        if payment_method:
            params.update(payment_method=payment_method, confirm=True)
        try:
            setup = self.call(self.client.v1.setup_intents.create, **params)
        except stripe.CardError as err:
            return {"status": "declined", "failure_code": _decline_code(err), "message": str(err)}
        if setup["status"] == "succeeded" and setup.get("payment_method"):
            self.save_card(db, driver_id, setup["payment_method"])
        return setup

    def save_card(self, db: Session, driver_id: int, payment_method_id: str) -> CardInfo | None:
        """Make the card the driver's default for off-session charges."""
        account = _account(db, driver_id)
        method = self.call(self.client.v1.payment_methods.retrieve, payment_method_id)
        if account.stripe_customer_id:
            self.call(
                self.client.v1.customers.update,
                account.stripe_customer_id,
                invoice_settings={"default_payment_method": payment_method_id},
            )
        card = card_from_method(method)
        account.default_payment_method = payment_method_id
        if card is not None:
            account.card_brand, account.card_last4, account.wallet = (
                card.brand,
                card.last4,
                card.wallet,
            )
        db.add(account)
        db.flush()
        return card

    # ---- holds ----------------------------------------------------------------------------

    def place_hold(
        self, db: Session, request: HoldRequest, amount: int, currency: str
    ) -> HoldOutcome:
        """An off-session manual-capture PaymentIntent on the driver's saved card."""
        existing = records.find(db, request.session_id, records.HOLD)
        if existing is not None and existing.status in ("held", "declined"):
            return records.hold_outcome(existing)
        account = db.get(DriverAccount, request.driver_id) if request.driver_id else None
        if account is None or not account.default_payment_method:
            return declined_hold(
                db, request, self.name, amount, currency, "no_payment_method", "no saved card"
            )
        amount = max(amount, minimum(currency))
        try:
            intent = self.call(
                self.client.v1.payment_intents.create,
                key=f"{request.session_id}:hold",
                amount=amount,
                currency=currency.lower(),
                customer=account.stripe_customer_id,
                payment_method=account.default_payment_method,
                capture_method="manual",
                confirm=True,
                off_session=True,
                metadata=_metadata(request.session_id, "hold", request.driver_id),
                expand=["latest_charge"],
            )
        except stripe.CardError as err:
            return declined_hold(
                db,
                request,
                self.name,
                amount,
                currency,
                _decline_code(err),
                str(err.user_message or err),
                external_id=_error_intent(err),
            )
        return self.record_hold(db, request.session_id, request.driver_id, intent)

    def record_hold(
        self, db: Session, session_id: str, driver_id: int | None, intent: dict
    ) -> HoldOutcome:
        """Store an authorised PaymentIntent as the session's hold."""
        card = card_from_intent(intent)
        held = intent["status"] == "requires_capture"
        row = records.put(
            db,
            session_id,
            records.HOLD,
            driver_id=driver_id,
            provider=self.name,
            amount=intent["amount"],
            currency=intent["currency"].upper(),
            status="held" if held else "declined",
            external_id=intent["id"],
            payment_method_id=_id(intent.get("payment_method")),
            failure_reason=None if held else f"payment intent is {intent['status']}",
            details={"failure_code": None if held else intent["status"]},
            **records.card_columns(card),
        )
        return records.hold_outcome(row)

    def release(self, db: Session, hold: Payment, reason: str) -> SettledOutcome:
        """Cancel the authorisation (a session that never started)."""
        status = "released"
        if hold.external_id:
            intent = self.intent(hold.external_id)
            if intent["status"] == "requires_capture":
                intent = self.cancel(intent["id"], f"{hold.session_id}:release")
            if intent["status"] == "succeeded":
                status = "failed"  # captured already: refund instead
        row = records.put(
            db,
            hold.session_id,
            records.HOLD,
            driver_id=hold.driver_id,
            provider=hold.provider,
            amount=hold.amount,
            currency=hold.currency,
            status="released" if status == "released" else hold.status,
            failure_reason=reason,
        )
        return SettledOutcome(
            payment_id=row.id or 0,
            status=status,
            provider=self.name,
            amount=0,
            currency=row.currency,
            failure_reason=None if status == "released" else "hold already captured",
            external_ids=[hold.external_id] if hold.external_id else [],
        )

    def cancel(self, intent_id: str, key: str) -> dict:
        """Cancel an uncaptured PaymentIntent (a no-op if its state moved on); re-read it."""
        try:
            self.call(
                self.client.v1.payment_intents.cancel,
                intent_id,
                key=key,
                cancellation_reason="abandoned",
            )
        except stripe.InvalidRequestError as err:
            if err.code != "payment_intent_unexpected_state":
                raise
        return self.intent(intent_id)

    # ---- settlement -------------------------------------------------------------------------

    def settle(self, db: Session, request: SettleRequest, hold: Payment | None) -> SettledOutcome:
        """Capture ≤ the hold (cancel when nothing to take), then charge what is left over."""
        captured, card, ids = 0, records.card_of(hold), []
        if hold is not None and hold.external_id:
            captured = self._settle_hold(db, request, hold)
            ids.append(hold.external_id)
        rest = request.amount - captured
        charged, owed, failure = 0, 0, None
        if rest > 0:
            charged, owed, failure, rest_id = self._charge_rest(db, request, rest)
            ids += [rest_id] if rest_id else []
        if request.amount == 0:
            status = "not_required"
        elif failure is not None:
            status = "failed"
        else:
            status = "succeeded"
        row = records.put(
            db,
            request.session_id,
            records.CHARGE,
            driver_id=request.driver_id,
            provider=self.name,
            amount=request.amount,
            currency=request.currency,
            status=status,
            external_id=hold.external_id if hold is not None else (ids[0] if ids else None),
            amount_captured=captured + charged,
            failure_reason=failure,
            details={"captured": captured, "rest": charged, "ledger": owed, "intents": ids},
            **records.card_columns(card),
        )
        return SettledOutcome(
            payment_id=row.id or 0,
            status=status,
            provider=self.name,
            amount=request.amount,
            currency=request.currency,
            captured=captured,
            charged_rest=charged,
            ledger_amount=owed,
            external_ids=ids,
            failure_reason=failure,
            card=card,
        )

    def _settle_hold(self, db: Session, request: SettleRequest, hold: Payment) -> int:
        """Take up to the rated amount from the hold; returns what was captured."""
        intent = self.intent(hold.external_id or "")
        if intent["status"] == "requires_capture":
            take = min(request.amount, intent["amount_capturable"])
            if take >= minimum(intent["currency"]):
                intent = self._capture(intent["id"], take, f"{request.session_id}:capture")
            else:  # nothing (or too little for a card) to take: release the hold
                intent = self.cancel(intent["id"], f"{request.session_id}:cancel")
        captured = intent["amount_received"] if intent["status"] == "succeeded" else 0
        state = {"succeeded": "captured", "canceled": "canceled"}.get(intent["status"], hold.status)
        if intent["status"] == "canceled" and intent.get("cancellation_reason") == "automatic":
            state = "expired"
        records.put(
            db,
            hold.session_id,
            records.HOLD,
            driver_id=hold.driver_id,
            provider=hold.provider,
            amount=hold.amount,
            currency=hold.currency,
            status=state,
            amount_captured=captured,
        )
        return captured

    def _capture(self, intent_id: str, amount: int, key: str) -> dict:
        try:
            self.call(
                self.client.v1.payment_intents.capture, intent_id, key=key, amount_to_capture=amount
            )
        except stripe.InvalidRequestError as err:  # captured or canceled meanwhile: re-read
            if err.code != "payment_intent_unexpected_state":
                raise
        return self.intent(intent_id)

    def _charge_rest(
        self, db: Session, request: SettleRequest, rest: int
    ) -> tuple[int, int, str | None, str | None]:
        """Charge `rest` beyond the hold to the saved card, else to the ledger.

        Returns (charged to card, owed on ledger, failure, intent id).
        """
        account = db.get(DriverAccount, request.driver_id) if request.driver_id else None
        failure = None
        intent_id = None
        if (
            account is not None
            and account.default_payment_method
            and account.stripe_customer_id
            and rest >= minimum(request.currency)
        ):
            intent = self._rest_intent(db, request, rest, account)
            intent_id = intent.get("id")
            if intent.get("status") == "succeeded":
                return intent["amount_received"], 0, None, intent_id
            failure = intent.get("failure") or f"payment intent is {intent.get('status')}"
        if request.driver_id is not None:
            self.ledger._owe(db, request.session_id, request.driver_id, rest, request.currency)
            return 0, rest, None, intent_id
        return 0, 0, failure or f"{rest} could not be charged (no card and no account)", intent_id

    def _rest_intent(
        self, db: Session, request: SettleRequest, rest: int, account: DriverAccount
    ) -> dict:
        """The off-session charge of the rest, created at most once (row + key + lookup)."""
        row = records.find(db, request.session_id, records.REST)
        if row is not None and row.external_id:
            return self.intent(row.external_id)
        intent = self._find_rest_intent(account.stripe_customer_id or "", request.session_id)
        if intent is None:
            try:
                intent = self.call(
                    self.client.v1.payment_intents.create,
                    key=f"{request.session_id}:rest",
                    amount=rest,
                    currency=request.currency.lower(),
                    customer=account.stripe_customer_id,
                    payment_method=account.default_payment_method,
                    confirm=True,
                    off_session=True,
                    metadata=_metadata(request.session_id, "rest", request.driver_id),
                    expand=["latest_charge"],
                )
            except stripe.CardError as err:
                intent = {"id": _error_intent(err), "status": "declined", "failure": str(err)}
        succeeded = intent.get("status") == "succeeded"
        records.put(
            db,
            request.session_id,
            records.REST,
            driver_id=request.driver_id,
            provider=self.name,
            amount=rest,
            currency=request.currency,
            status="succeeded" if succeeded else "declined",
            external_id=intent.get("id"),
            amount_captured=intent.get("amount_received", 0) if succeeded else 0,
            failure_reason=None if succeeded else intent.get("failure"),
            **records.card_columns(card_from_intent(intent)),
        )
        return intent

    def _find_rest_intent(self, customer: str, session_id: str) -> dict | None:
        """State check before charging: a rest charge made by an earlier, lost attempt."""
        listed = self.call(self.client.v1.payment_intents.list, customer=customer, limit=100)
        for intent in listed.get("data", []):
            meta = intent.get("metadata") or {}
            if meta.get("session_id") == session_id and meta.get("kind") == "rest":
                return self.intent(intent["id"])
        return None

    # ---- refunds ----------------------------------------------------------------------------

    def refund(self, db: Session, request: RefundRequest, charge: Payment) -> RefundOutcome:
        """Refund from the ledger part first, then the rest charge, then the captured hold."""
        amount = request.amount or (charge.amount - charge.amount_refunded)
        left = amount
        details = charge.details or {}
        ids: list[str] = []
        owed_left = int(details.get("ledger", 0)) - int(details.get("ledger_refunded", 0))
        if owed_left > 0 and left > 0:
            part = min(owed_left, left)
            self.ledger.refund(db, request.model_copy(update={"amount": part}), charge)
            details = {**details, "ledger_refunded": int(details.get("ledger_refunded", 0)) + part}
            left -= part
        for kind in (records.REST, records.HOLD):
            row = records.find(db, request.session_id, kind)
            if left <= 0 or row is None or not row.external_id:
                continue
            part = min(row.amount_captured - row.amount_refunded, left)
            if part <= 0:
                continue
            params: dict[str, Any] = {
                "payment_intent": row.external_id,
                "amount": part,
                "metadata": {"session_id": request.session_id, "reason": request.reason[:450]},
            }
            if request.reason in _REFUND_REASONS:
                params["reason"] = request.reason
            try:
                refund = self.call(
                    self.client.v1.refunds.create,
                    key=f"refund:{request.refund_key}:{row.external_id}",
                    **params,
                )
            except stripe.InvalidRequestError as err:
                return _refund_failed(request, charge, amount - left, ids, str(err))
            ids.append(refund["id"])
            row.amount_refunded += part
            db.add(row)
            left -= part
        charge.details = details
        db.add(charge)
        if left > 0:
            return _refund_failed(request, charge, amount - left, ids, f"{left} not refundable")
        return RefundOutcome(
            session_id=request.session_id,
            refund_key=request.refund_key,
            status="succeeded",
            amount=amount,
            currency=charge.currency,
            provider=self.name,
            external_ids=ids,
        )


def _refund_failed(
    request: RefundRequest, charge: Payment, done: int, ids: list[str], reason: str
) -> RefundOutcome:
    return RefundOutcome(
        session_id=request.session_id,
        refund_key=request.refund_key,
        status="failed",
        amount=done,
        currency=charge.currency,
        provider="stripe",
        external_ids=ids,
        failure_reason=reason,
    )


def _account(db: Session, driver_id: int) -> DriverAccount:
    account = db.get(DriverAccount, driver_id, with_for_update=True)
    if account is None:
        account = DriverAccount(driver_id=driver_id)
        db.add(account)
        db.flush()
    return account


def _metadata(session_id: str, kind: str, driver_id: int | None) -> dict[str, str]:
    meta = {"session_id": session_id, "kind": kind}
    if driver_id is not None:
        meta["driver_id"] = str(driver_id)
    return meta


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value


def _decline_code(err: stripe.StripeError) -> str:
    error = (err.json_body or {}).get("error") or {}
    return error.get("decline_code") or error.get("code") or "card_declined"


def _error_intent(err: stripe.StripeError) -> str | None:
    error = (err.json_body or {}).get("error") or {}
    return _id(error.get("payment_intent"))


def declined_hold(
    db: Session,
    request: HoldRequest,
    provider: str,
    amount: int,
    currency: str,
    code: str,
    reason: str,
    external_id: str | None = None,
) -> HoldOutcome:
    row = records.put(
        db,
        request.session_id,
        records.HOLD,
        driver_id=request.driver_id,
        provider=provider,
        amount=amount,
        currency=currency,
        status="declined",
        external_id=external_id,
        failure_reason=reason,
        details={"failure_code": code},
    )
    return records.hold_outcome(row)
