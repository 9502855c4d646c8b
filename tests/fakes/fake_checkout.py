"""Stripe Checkout for the fake Stripe: Checkout Sessions (``mode=payment``) over the API, and the
hosted payment page a payer is sent to, served locally by the fake (``/checkout/pay/{id}``).

API: ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
``POST /v1/checkout/sessions/{id}/expire``. As on Stripe: ``line_items`` with ``price_data`` (or a
price id), ``payment_intent_data`` (``capture_method``, ``metadata`` ...) given to the
PaymentIntent made when the payer pays; ``expires_at`` 30 min to 24 h ahead; ``payment_intent``
stays null until then; only an open session can be expired; a session past ``expires_at``
expires (``checkout.session.expired``).

The page: the line items and total, an e-mail field and a test card (Visa 4242 succeeds, 0002
is declined). Paying creates and confirms the PaymentIntent: on success the session completes
(``checkout.session.completed``; ``payment_status`` ``unpaid`` for a manual-capture hold, as on
Stripe) and the payer is redirected (303) to ``success_url`` with ``{CHECKOUT_SESSION_ID}``
filled in; a decline shows the error and the payer may try another card. "Back" goes to
``cancel_url``. :meth:`CheckoutSessions.pay_checkout` is the same as a test helper.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from tests.fakes.fake_stripe import FakeStripe

Json = dict[str, Any]
PAGE_PREFIX = "/checkout/pay/"
# Request options of the SDK are not parameters; these are SessionCreateParams' own keys.
P_CS_CREATE = frozenset(
    "adaptive_pricing after_expiration allow_promotion_codes allowed_payment_method_types "
    "automatic_tax billing_address_collection branding_settings cancel_url client_reference_id "
    "consent_collection currency custom_fields custom_text customer customer_account "
    "customer_creation customer_email customer_update discounts excluded_payment_method_types "
    "expand expires_at integration_identifier invoice_creation line_items locale "
    "managed_payments metadata mode name_collection optional_items origin_context "
    "payment_intent_data payment_method_collection payment_method_configuration "
    "payment_method_data payment_method_options permissions phone_number_collection "
    "redirect_on_completion return_url saved_payment_method_options setup_intent_data "
    "shipping_address_collection shipping_options submit_type subscription_data success_url "
    "tax_id_collection ui_mode wallet_options".split()
)
P_PI_DATA = frozenset(
    "application_fee_amount capture_method description metadata on_behalf_of receipt_email "
    "setup_future_usage shipping statement_descriptor statement_descriptor_suffix "
    "transfer_data transfer_group".split()
)
MIN_OPEN_S, MAX_OPEN_S, DEFAULT_OPEN_S = 30 * 60, 24 * 3600, 24 * 3600
PAGE_CARDS = {
    "visa": "Visa •••• 4242 (succeeds)",
    "visa_googlepay": "Google Pay, Visa •••• 4242 (succeeds)",
    "chargeDeclined": "Visa •••• 0002 (declined)",
}


class CheckoutSessions:
    """Mixed into `FakeStripe`: the Checkout Session endpoints and the hosted page."""

    # ------------------------------------------------------------------ API

    def _cs_create(self: FakeStripe, params: Json) -> Json:
        from tests.fakes.fake_stripe import _check_amount, _get_int, _get_str, _invalid

        mode = _get_str(params, "mode", required=True)
        if mode != "payment":
            raise _invalid(f"FakeStripe supports mode=payment only, not {mode!r}", param="mode")
        success_url = _get_str(params, "success_url")
        if not success_url and params.get("ui_mode", "hosted") == "hosted":
            raise _invalid("Missing required param: success_url.", param="success_url")
        items, currency, total = self._cs_line_items(params.get("line_items"))
        _check_amount(total, currency, "line_items")
        intent_data = params.get("payment_intent_data") or {}
        if not isinstance(intent_data, dict):
            raise _invalid("Invalid payment_intent_data", param="payment_intent_data")
        unknown = sorted(set(intent_data) - P_PI_DATA)
        if unknown:
            name = f"payment_intent_data[{unknown[0]}]"
            raise _invalid(f"Received unknown parameter: {name}", param=name)
        if intent_data.get("capture_method", "automatic") not in ("automatic", "manual"):
            raise _invalid("Invalid capture_method", param="payment_intent_data[capture_method]")
        now = self._now()
        expires_at = _get_int(params, "expires_at") or now + DEFAULT_OPEN_S
        if not now + MIN_OPEN_S <= expires_at <= now + MAX_OPEN_S:
            raise _invalid(
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                "Checkout Session creation.",
                param="expires_at",
            )
        session = self._base("cs_test_", "checkout.session", params)
        session.update(
            {
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": _get_str(params, "cancel_url"),
                "client_reference_id": _get_str(params, "client_reference_id"),
                "currency": currency,
                "customer": None,
                "customer_details": None,
                "customer_email": _get_str(params, "customer_email"),
                "expires_at": expires_at,
                "mode": mode,
                "payment_intent": None,
                "payment_method_types": ["card"],
                "payment_status": "unpaid",
                "status": "open",
                "success_url": success_url,
                "ui_mode": "hosted",
                "url": None,
                "_items": items,
                "_intent_data": intent_data,
                "_pi": None,
            }
        )
        session["url"] = f"{self.url}{PAGE_PREFIX}{session['id']}"
        self._insert("checkout_sessions", session)
        from tests.fakes.fake_stripe import _public

        return _public(session)

    def _cs_line_items(self: FakeStripe, raw: Any) -> tuple[list[Json], str, int]:
        from tests.fakes.fake_stripe import _invalid

        if not isinstance(raw, list) or not raw:
            raise _invalid("Missing required param: line_items.", param="line_items")
        items, currencies, total = [], set(), 0
        for index, item in enumerate(raw):
            where = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise _invalid(f"Invalid {where}", param=where)
            try:
                quantity = int(item.get("quantity", ""))
            except ValueError:
                raise _invalid(f"Missing required param: {where}[quantity].", param=where) from None
            if quantity < 1:
                raise _invalid(f"Invalid {where}[quantity]", param=f"{where}[quantity]")
            if "price" in item:
                price = self._get("prices", str(item["price"]), f"{where}[price]")
                name, currency, unit = price["product"], price["currency"], price["unit_amount"]
            else:
                data = item.get("price_data")
                if not isinstance(data, dict):
                    raise _invalid(f"Missing required param: {where}[price_data].", param=where)
                currency = str(data.get("currency", "")).lower()
                product = data.get("product_data") or {}
                name = product.get("name") if isinstance(product, dict) else None
                try:
                    unit = int(data.get("unit_amount", ""))
                except ValueError:
                    raise _invalid(
                        f"Invalid {where}[price_data][unit_amount]", param=where
                    ) from None
                if not name or len(currency) != 3 or unit < 0:
                    raise _invalid(f"Invalid {where}[price_data]", param=f"{where}[price_data]")
            currencies.add(currency)
            items.append({"name": name, "quantity": quantity, "unit_amount": unit})
            total += unit * quantity
        if len(currencies) != 1:
            raise _invalid("All line items must have the same currency.", param="line_items")
        return items, currencies.pop(), total

    def _cs_retrieve(self: FakeStripe, params: Json, cs_id: str) -> Json:
        from tests.fakes.fake_stripe import _public

        return _public(self._cs_current(cs_id))

    def _cs_expire(self: FakeStripe, params: Json, cs_id: str) -> Json:
        from tests.fakes.fake_stripe import _invalid, _public

        session = self._cs_current(cs_id)
        if session["status"] != "open":
            raise _invalid(
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                store=True,
            )
        self._cs_end(session, "expired")
        return _public(session)

    def _cs_current(self: FakeStripe, cs_id: str, param: str = "session") -> Json:
        """The session, expired first if its time is up."""
        session = self._get("checkout_sessions", cs_id, param)
        if session["status"] == "open" and self._now() >= session["expires_at"]:
            self._cs_end(session, "expired")
        return session

    def _cs_end(self: FakeStripe, session: Json, status: str) -> None:
        session["status"], session["url"] = status, None
        self._emit(f"checkout.session.{'completed' if status == 'complete' else status}", session)

    # ------------------------------------------------------------------ the payer

    def pay_checkout(self: FakeStripe, cs_id: str, card: str = "visa", email: str = "") -> Json:
        """The payer pays an open Checkout Session with a test card; the session (complete if
        the card was accepted). A declined card raises `StripeApiError` (402)."""
        from tests.fakes.fake_stripe import _public

        with self._lock:
            self._ctx = {"request_id": None, "idempotency_key": None}
            session = self._cs_current(cs_id)
            if session["status"] != "open":
                raise ValueError(f"{cs_id} is {session['status']}")
            data = session["_intent_data"]
            if session["_pi"] is None:  # one PaymentIntent per session, reused after a decline
                pi = self._pi_create(
                    {
                        "amount": str(session["amount_total"]),
                        "currency": session["currency"],
                        "capture_method": data.get("capture_method", "automatic"),
                        "payment_method_types": session["payment_method_types"],
                        "metadata": data.get("metadata") or {},
                        "description": data.get("description") or "",
                        "receipt_email": data.get("receipt_email")
                        or email
                        or session["customer_email"]
                        or "",
                    }
                )
                session["_pi"] = pi["id"]
            pi = self._db["payment_intents"][session["_pi"]]
            self._pi_do_confirm(pi, {"payment_method": f"pm_card_{card}"})
            if pi["status"] in ("requires_capture", "succeeded"):
                session["payment_intent"] = pi["id"]
                session["payment_status"] = "paid" if pi["status"] == "succeeded" else "unpaid"
                session["customer_details"] = {"email": email or session["customer_email"]}
                self._cs_end(session, "complete")
            return _public(session)

    def _checkout_page(self: FakeStripe, method: str, raw_path: str, body: bytes):
        """`GET|POST /checkout/pay/{id}`: the hosted payment page (no API key: it is the
        payer's browser). Returns (status, headers, body)."""
        from tests.fakes.fake_stripe import StripeApiError

        cs_id = urlsplit(raw_path).path[len(PAGE_PREFIX) :].strip("/")
        with self._lock:
            session = self._db["checkout_sessions"].get(cs_id)
            if session is None:
                return _html(404, "Not found", "<p>This checkout page does not exist.</p>")
            self._cs_current(cs_id)
        error = ""
        if method == "POST":
            form = dict(parse_qsl(body.decode("utf-8", "replace")))
            card = form.get("card", "visa")
            if card not in PAGE_CARDS:
                card = "visa"
            try:
                done = self.pay_checkout(cs_id, card, form.get("email", ""))
            except StripeApiError as err:
                error = err.body()["error"].get("message") or "Your card was declined."
            except ValueError:
                done = session
            else:
                if done["status"] == "complete":
                    target = (done["success_url"] or "").replace("{CHECKOUT_SESSION_ID}", cs_id)
                    return 303, {"Location": target, "Content-Type": "text/plain"}, b""
        return self._checkout_form(session, error)

    def _checkout_form(self: FakeStripe, session: Json, error: str):
        from tests.fakes.fake_stripe import _money

        total = _money(session["amount_total"], session["currency"])
        back = html.escape(session["cancel_url"] or "", quote=True)
        if session["status"] != "open":
            text = {"complete": "This payment is complete.", "expired": "This page has expired."}
            inner = f"<p role='status'>{text.get(session['status'], session['status'])}</p>"
            if back:
                inner += f'<p><a href="{back}">Back</a></p>'
            return _html(200, "Checkout", inner)
        lines = "".join(
            f"<li>{html.escape(str(i['name']))} × {i['quantity']}: "
            f"{_money(i['unit_amount'] * i['quantity'], session['currency'])}</li>"
            for i in session["_items"]
        )
        options = "".join(f'<option value="{v}">{t}</option>' for v, t in PAGE_CARDS.items())
        email = html.escape(session["customer_email"] or "", quote=True)
        alert = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
        inner = f"""<p class="test">Test mode · local fake Stripe</p>
<h1>Pay {total}</h1><ul>{lines}</ul>{alert}
<form method="post">
<label for="email">E-mail</label><input id="email" name="email" type="email" value="{email}">
<label for="card">Card</label><select id="card" name="card">{options}</select>
<button type="submit">Pay {total}</button></form>
{f'<p><a href="{back}">Back</a></p>' if back else ""}"""
        return _html(200, f"Pay {total}", inner)


def _html(status: int, title: str, inner: str) -> tuple[int, dict[str, str], bytes]:
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font:16px system-ui,sans-serif;margin:0;background:#f6f9fc}}
main{{max-width:420px;margin:24px auto;padding:16px;background:#fff;border-radius:8px}}
label{{display:block;margin-top:12px}}input,select,button{{font:inherit;width:100%;padding:8px;
box-sizing:border-box}}button{{margin-top:16px;background:#635bff;color:#fff;border:0;
border-radius:6px}}.test{{color:#a15c00}}.error{{color:#c21f32}}</style></head>
<body><main>{inner}</main></body></html>"""
    return status, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
