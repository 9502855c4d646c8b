"""A local fake of Stripe's v1 HTTP API for tests (stdlib only, no network).

Point the real ``stripe`` SDK at it::

    with FakeStripe() as fake:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake.url})
        pi = client.v1.payment_intents.create(params={...})

Implemented resources: customers, payment_methods (+attach/detach, customer list),
setup_intents, payment_intents (create/update/confirm/capture/cancel/
increment_authorization/list), charges, refunds, products, prices, subscriptions, events and
Checkout Sessions (``mode=payment``; with the hosted payment page a payer is sent to, served
locally by the fake: ``tests/fakes/fake_checkout.py``).  ``send_webhooks(url, secret)`` POSTs
every later event to a webhook endpoint, signed (``tests/fakes/fake_webhooks.py``).
Objects carry Stripe's ``id`` prefixes, ``object``, ``created``,
``livemode: false`` and ``metadata``; ``expand[]`` works for id fields
(``latest_charge``, ``customer``, ``payment_method``, ``data.latest_charge`` ...).

Behaviour that mirrors real Stripe (so the app cannot get away with things Stripe refuses):

* Unknown top-level parameters -> 400 ``parameter_unknown``.
* Minimum amounts (e.g. 50 for usd/eur, 30 for gbp) on create and capture -> 400
  ``amount_too_small``.
* Idempotency: a POST with a seen ``Idempotency-Key`` and identical method/path/params
  replays the stored status+body with ``Idempotent-Replayed: true``; different params ->
  400 ``idempotency_error``.  Validation errors (400 before the endpoint "ran") are not
  stored; successes, card errors and state errors are.
* A failed payment sets the PaymentIntent to ``requires_payment_method``, clears its
  ``payment_method`` and fills ``last_payment_error``; the 402 error carries
  ``payment_intent``, ``charge`` and ``payment_method``.
* Partial capture releases the remainder, which Stripe reports as refunded:
  ``charge.amount_refunded == amount - amount_captured``.  Cancelling an uncaptured
  PaymentIntent marks its charge fully refunded.  Refunds are limited to
  ``charge.amount - charge.amount_refunded``.
* ``increment_authorization`` needs status ``requires_capture`` AND the PaymentIntent must
  have been created with
  ``payment_method_options[card][request_incremental_authorization]=if_available``.
* A PaymentMethod used once without being attached to a customer, or detached, cannot be
  used/attached again.  Attaching does not run a card check (SetupIntents do).
* Subscriptions need a payment method (``default_payment_method`` or the customer's
  ``invoice_settings.default_payment_method``) unless trialing or
  ``payment_behavior=default_incomplete``.  No invoices are modelled (``latest_invoice``
  is null).

Test payment methods (use ``pm_card_<name>`` anywhere a PaymentMethod id is accepted -- each
use materialises a fresh ``pm_...``, as on Stripe -- or ``tok_<name>`` as ``card[token]``):

==================================  =====  ==========================================
name                                last4  behaviour
==================================  =====  ==========================================
visa / mastercard / amex            4242   succeeds (mastercard 4444, amex 8431)
visa_debit                          5556   succeeds, funding=debit
visa_applepay  (fake-only name)     4242   succeeds, ``card.wallet.type == "apple_pay"``
visa_googlepay (fake-only name)     4242   succeeds, ``card.wallet.type == "google_pay"``
chargeDeclined                      0002   402 card_declined / generic_decline
insufficientFunds, chargeDeclined-  9995   402 card_declined / insufficient_funds
InsufficientFunds
chargeDeclinedExpiredCard           0069   402 expired_card
chargeDeclinedIncorrectCvc          0127   402 incorrect_cvc
chargeDeclinedFraudulent            0019   402 card_declined / fraudulent
chargeCustomerFail                  0341   setup/attach ok, every charge declines
authenticationRequired              3184   every payment needs 3DS: off_session (or
                                           error_on_requires_action) -> 402
                                           authentication_required; on-session ->
                                           requires_action
authenticationRequiredOnSetup       3155   needs 3DS until set up for off_session use
incrementDeclined (fake-only name)  4242   authorises, but increment_authorization
                                           declines (402, PaymentIntent unchanged)
==================================  =====  ==========================================

``card[number]`` with the matching Stripe test numbers (4242424242424242, 4000000000000002,
...) is accepted too.  Use :meth:`FakeStripe.complete_action` to play the customer's
part of 3DS for an intent in ``requires_action``.

Test helpers: :meth:`FakeStripe.fail_next` (failure injection), :attr:`FakeStripe.requests`,
:attr:`FakeStripe.request_log`, the per-resource snapshot properties
(:attr:`FakeStripe.payment_intents` ...), :meth:`FakeStripe.charges_captured_total`,
:meth:`FakeStripe.refunded_total`, :meth:`FakeStripe.events_of_type`,
:meth:`FakeStripe.signed_event` / :meth:`FakeStripe.sign_event` (webhooks),
:meth:`FakeStripe.expire_authorization` and :meth:`FakeStripe.reset`.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.fake_checkout import P_CS_CREATE, PAGE_PREFIX, CheckoutSessions
from tests.fakes.fake_webhooks import WebhookSender

Json = dict[str, Any]

DEFAULT_API_VERSION = "2025-01-27.acacia"
_ID_ALPHABET = string.ascii_letters + string.digits
_DOC = "https://stripe.com/docs/error-codes/"

# Minimum charge amounts (smallest currency unit) for common currencies.
_MIN_AMOUNT = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "chf": 50,
    "cad": 50,
    "aud": 50,
    "nzd": 50,
    "sek": 300,
    "nok": 300,
    "dkk": 250,
    "pln": 200,
    "czk": 1500,
    "jpy": 50,
}
_CURRENCY_SYMBOL = {"usd": "$", "eur": "€", "gbp": "£"}
_MAX_AMOUNT = 99_999_999
# Run as its own process (`python -m tests.fakes.fake_stripe`), the fake is driven over HTTP
# under this prefix: fault rules in, records out (see `FakeStripe._control`).
CONTROL_PREFIX = "/_fake/"

_PI_PRE_CONFIRM = ("requires_payment_method", "requires_confirmation", "requires_action")
_PI_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


def _params(spec: str) -> frozenset[str]:
    return frozenset(spec.split()) | {"expand"}


# Allowed top-level parameters per endpoint (from the stripe SDK's *Params TypedDicts).
_P_CUSTOMER_CREATE = _params(
    "address balance business_name cash_balance description email individual_name "
    "invoice_prefix invoice_settings metadata name next_invoice_sequence payment_method "
    "phone preferred_locales shipping source tax tax_exempt tax_id_data test_clock validate"
)
_P_CUSTOMER_UPDATE = _params(
    "address balance business_name cash_balance default_source description email "
    "individual_name invoice_prefix invoice_settings metadata name next_invoice_sequence "
    "phone preferred_locales shipping source tax tax_exempt validate"
)
_P_LIST = "created ending_before limit starting_after"
_P_CUSTOMER_LIST = _params(f"{_P_LIST} email test_clock")
_P_NONE = _params("")
_P_PM_CREATE = _params(
    "allow_redisplay billing_details card customer metadata payment_method radar_options type"
)
_P_PM_UPDATE = _params("allow_redisplay billing_details card metadata")
_P_PM_ATTACH = _params("customer customer_account")
_P_PM_LIST = _params(f"{_P_LIST} allow_redisplay customer customer_account type")
_P_CUS_PM_LIST = _params(f"{_P_LIST} allow_redisplay type")
_P_SI_CREATE = _params(
    "allowed_payment_method_types attach_to_self automatic_payment_methods confirm "
    "confirmation_token customer customer_account description excluded_payment_method_types "
    "flow_directions mandate_data metadata on_behalf_of payment_method "
    "payment_method_configuration payment_method_data payment_method_options "
    "payment_method_types return_url single_use usage use_stripe_sdk"
)
_P_SI_CONFIRM = _params(
    "allowed_payment_method_types confirmation_token mandate_data payment_method "
    "payment_method_data payment_method_options return_url use_stripe_sdk"
)
_P_SI_RETRIEVE = _params("client_secret")
_P_SI_CANCEL = _params("cancellation_reason")
_P_SI_LIST = _params(f"{_P_LIST} attach_to_self customer customer_account payment_method")
_P_PI_CREATE = _params(
    "allowed_payment_method_types amount amount_details application_fee_amount "
    "automatic_payment_methods capture_method confirm confirmation_method confirmation_token "
    "currency customer customer_account description error_on_requires_action "
    "excluded_payment_method_types hooks mandate mandate_data metadata off_session "
    "on_behalf_of payment_details payment_method payment_method_configuration "
    "payment_method_data payment_method_options payment_method_types radar_options "
    "receipt_email return_url setup_future_usage shipping statement_descriptor "
    "statement_descriptor_suffix transfer_data transfer_group use_stripe_sdk"
)
_P_PI_UPDATE = _params(
    "allowed_payment_method_types amount amount_details application_fee_amount capture_method "
    "currency customer customer_account description excluded_payment_method_types hooks "
    "metadata payment_details payment_method payment_method_configuration payment_method_data "
    "payment_method_options payment_method_types receipt_email setup_future_usage shipping "
    "statement_descriptor statement_descriptor_suffix transfer_data transfer_group"
)
_P_PI_CONFIRM = _params(
    "allowed_payment_method_types amount_details amount_to_confirm capture_method "
    "confirmation_token error_on_requires_action excluded_payment_method_types hooks mandate "
    "mandate_data off_session payment_details payment_method payment_method_data "
    "payment_method_options payment_method_types radar_options receipt_email return_url "
    "setup_future_usage shipping use_stripe_sdk"
)
_P_PI_RETRIEVE = _params("client_secret")
_P_PI_CAPTURE = _params(
    "amount_details amount_to_capture application_fee_amount final_capture hooks metadata "
    "payment_details statement_descriptor statement_descriptor_suffix transfer_data"
)
_P_PI_CANCEL = _params("cancellation_reason")
_P_PI_INCREMENT = _params(
    "amount amount_details application_fee_amount description hooks metadata payment_details "
    "statement_descriptor transfer_data"
)
_P_PI_LIST = _params(f"{_P_LIST} customer customer_account")
_P_CHARGE_LIST = _params(f"{_P_LIST} customer payment_intent transfer_group")
_P_REFUND_CREATE = _params(
    "amount charge currency customer instructions_email metadata origin payment_intent reason "
    "refund_application_fee reverse_transfer"
)
_P_REFUND_LIST = _params(f"{_P_LIST} charge payment_intent")
_P_PRODUCT_CREATE = _params(
    "active default_price_data description id images marketing_features metadata name "
    "package_dimensions shippable statement_descriptor tax_code tax_details type unit_label url"
)
_P_PRODUCT_UPDATE = _params(
    "active default_price description images marketing_features metadata name "
    "package_dimensions shippable statement_descriptor tax_code tax_details unit_label url"
)
_P_PRODUCT_LIST = _params(f"{_P_LIST} active ids shippable type url")
_P_PRICE_CREATE = _params(
    "active billing_scheme currency currency_options custom_unit_amount lookup_key metadata "
    "nickname product product_data recurring tax_behavior tiers tiers_mode "
    "transfer_lookup_key transform_quantity unit_amount unit_amount_decimal"
)
_P_PRICE_LIST = _params(f"{_P_LIST} active currency lookup_keys product recurring type")
_P_SUB_CREATE = _params(
    "add_invoice_items application_fee_percent automatic_tax backdate_start_date "
    "billing_cycle_anchor billing_cycle_anchor_config billing_mode billing_schedules "
    "billing_thresholds cancel_at cancel_at_period_end collection_method currency customer "
    "customer_account days_until_due default_payment_method default_source default_tax_rates "
    "description discounts invoice_settings items metadata off_session on_behalf_of "
    "payment_behavior payment_settings pending_invoice_item_interval proration_behavior "
    "transfer_data trial_end trial_from_plan trial_period_days trial_settings"
)
_P_SUB_UPDATE = _params(
    "add_invoice_items application_fee_percent automatic_tax billing_cycle_anchor "
    "billing_schedules billing_thresholds cancel_at cancel_at_period_end cancellation_details "
    "collection_method days_until_due default_payment_method default_source default_tax_rates "
    "description discounts invoice_settings items metadata off_session on_behalf_of "
    "pause_collection payment_behavior payment_settings pending_invoice_item_interval "
    "proration_behavior proration_date transfer_data trial_end trial_from_plan trial_settings"
)
_P_SUB_CANCEL = _params("cancellation_details invoice_now prorate")
_P_SUB_LIST = _params(
    f"{_P_LIST} automatic_tax collection_method current_period_end current_period_start "
    "customer customer_account plan price status test_clock"
)
_P_EVENT_LIST = _params(f"{_P_LIST} delivery_success type types")


@dataclass(frozen=True)
class _Card:
    """A test card: what it looks like and how it behaves."""

    brand: str
    last4: str
    outcome: str = "succeed"  # succeed|decline|decline_on_charge|auth_always|auth_on_setup|...
    funding: str = "credit"
    wallet: str | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


_GENERIC = {
    "code": "card_declined",
    "decline_code": "generic_decline",
    "message": "Your card was declined.",
}
_INSUFFICIENT = {
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "message": "Your card has insufficient funds.",
}
_CARDS: dict[str, _Card] = {
    "visa": _Card("visa", "4242"),
    "visa_debit": _Card("visa", "5556", funding="debit"),
    "mastercard": _Card("mastercard", "4444"),
    "amex": _Card("amex", "8431"),
    "visa_applepay": _Card("visa", "4242", wallet="apple_pay"),
    "visa_googlepay": _Card("visa", "4242", wallet="google_pay"),
    "chargeDeclined": _Card("visa", "0002", "decline", **_GENERIC),
    "insufficientFunds": _Card("visa", "9995", "decline", **_INSUFFICIENT),
    "chargeDeclinedInsufficientFunds": _Card("visa", "9995", "decline", **_INSUFFICIENT),
    "chargeDeclinedExpiredCard": _Card(
        "visa",
        "0069",
        "decline",
        code="expired_card",
        decline_code="expired_card",
        message="Your card has expired.",
    ),
    "chargeDeclinedIncorrectCvc": _Card(
        "visa",
        "0127",
        "decline",
        code="incorrect_cvc",
        decline_code="incorrect_cvc",
        message="Your card's security code is incorrect.",
    ),
    "chargeDeclinedFraudulent": _Card(
        "visa",
        "0019",
        "decline",
        code="card_declined",
        decline_code="fraudulent",
        message="Your card was declined.",
    ),
    "chargeCustomerFail": _Card("visa", "0341", "decline_on_charge", **_GENERIC),
    "authenticationRequired": _Card("visa", "3184", "auth_always"),
    "authenticationRequiredOnSetup": _Card("visa", "3155", "auth_on_setup"),
    "incrementDeclined": _Card("visa", "4242", "increment_decline", **_INSUFFICIENT),
}
_CARD_NUMBERS = {
    "4242424242424242": "visa",
    "4000056655665556": "visa_debit",
    "5555555555554444": "mastercard",
    "378282246310005": "amex",
    "4000000000000002": "chargeDeclined",
    "4000000000009995": "insufficientFunds",
    "4000000000000069": "chargeDeclinedExpiredCard",
    "4000000000000127": "chargeDeclinedIncorrectCvc",
    "4100000000000019": "chargeDeclinedFraudulent",
    "4000000000000341": "chargeCustomerFail",
    "4000002760003184": "authenticationRequired",
    "4000002500003155": "authenticationRequiredOnSetup",
}

# id prefix -> collection name, used for ``expand``.
_PREFIXES = {
    "cus_": "customers",
    "pm_": "payment_methods",
    "seti_": "setup_intents",
    "pi_": "payment_intents",
    "ch_": "charges",
    "re_": "refunds",
    "prod_": "products",
    "price_": "prices",
    "sub_": "subscriptions",
    "evt_": "events",
    "cs_": "checkout_sessions",
}
_COLLECTIONS = tuple(_PREFIXES.values())
_LABELS = {
    "customers": "customer",
    "payment_methods": "PaymentMethod",
    "setup_intents": "setupintent",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "events": "event",
    "checkout_sessions": "checkout session",
}
_INTERVAL_SECONDS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400, "year": 365 * 86_400}


class StripeApiError(Exception):
    """An error response in Stripe's shape (raised inside handlers)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: Json | None = None,
        store: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.store = store
        self.error: Json = {
            "type": type_,
            "code": code,
            "message": message,
            "param": param,
            "decline_code": decline_code,
        }
        if code:
            self.error["doc_url"] = _DOC + code.replace("_", "-")
        self.error.update(extra or {})

    def body(self) -> Json:
        return {"error": self.error}


def _invalid(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    store: bool = False,
    status: int = 400,
    extra: Json | None = None,
) -> StripeApiError:
    return StripeApiError(
        status, "invalid_request_error", message, code=code, param=param, store=store, extra=extra
    )


class RecordedRequest(NamedTuple):
    """One HTTP request the fake received."""

    method: str
    path: str
    idempotency_key: str | None


@dataclass
class _FailRule:
    path_prefix: str
    status: int
    remaining: int
    after_processing: bool
    method: str | None
    delay_s: float = 0.0  # hold the answer this long first (a slow or timed-out provider)


@dataclass
class _Stored:
    fingerprint: tuple[str, str, str]
    status: int
    body: bytes
    request_id: str


_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_form(pairs: list[tuple[str, str]]) -> Json:
    """Turn Stripe-style form pairs (``a[b][0]=x``, ``c[]=y``) into nested dicts/lists."""
    root: Json = {}
    for raw_key, value in pairs:
        head, bracket, rest = raw_key.partition("[")
        parts = [head, *(_KEY_PART.findall(bracket + rest) if bracket else [])]
        node = root
        for i, part in enumerate(parts):
            key = str(len(node)) if part == "" else part
            if i == len(parts) - 1:
                node[key] = value
            else:
                child = node.get(key)
                if not isinstance(child, dict):
                    child = node[key] = {}
                node = child
    return _listify(root, None)  # type: ignore[return-value]


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v, k) for k, v in node.items()}
    if key != "metadata" and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _public(obj: Json) -> Json:
    """A deep copy without the fake's private ``_`` keys."""
    return copy.deepcopy({k: v for k, v in obj.items() if not k.startswith("_")})


def _money(amount: int, currency: str) -> str:
    symbol = _CURRENCY_SYMBOL.get(currency, "")
    return f"{symbol}{amount / 100:.2f} {currency}"


# --------------------------------------------------------------------------- params


def _get_str(params: Json, key: str, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(f"Missing required param: {key}.", param=key, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise _invalid(f"Invalid string: {value!r}", param=key)
    return value


def _get_int(
    params: Json, key: str, *, required: bool = False, default: int | None = None
) -> int | None:
    value = _get_str(params, key, required=required)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value):
        raise _invalid(f"Invalid integer: {value}", param=key, code="parameter_invalid_integer")
    return int(value)


def _get_bool(params: Json, key: str, default: bool = False) -> bool:
    value = _get_str(params, key)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=key)
    return value == "true"


def _get_enum(
    params: Json, key: str, choices: tuple[str, ...], default: str | None = None
) -> str | None:
    value = _get_str(params, key)
    if value is None:
        return default
    if value not in choices:
        raise _invalid(f"Invalid {key}: must be one of {', '.join(choices)}", param=key)
    return value


def _get_dict(params: Json, key: str) -> Json:
    value = params.get(key)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"Invalid object: {key} must be a hash", param=key)
    return value


def _merge_metadata(existing: Mapping[str, str] | None, value: Any) -> dict[str, str]:
    result = dict(existing or {})
    if value is None:
        return result
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise _invalid("Invalid object: metadata must be a hash", param="metadata")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid("Metadata values must be strings.", param=f"metadata[{key}]")
        if len(key) > 40:
            raise _invalid("Metadata keys can have up to 40 characters.", param=f"metadata[{key}]")
        if len(item) > 500:
            raise _invalid(
                "Metadata values can have up to 500 characters.", param=f"metadata[{key}]"
            )
        if item == "":
            result.pop(key, None)
        else:
            result[key] = item
    if len(result) > 50:
        raise _invalid("You can have at most 50 metadata keys.", param="metadata")
    return result


def _check_amount(amount: int, currency: str, param: str) -> None:
    minimum = _MIN_AMOUNT.get(currency, 1)
    if amount < minimum:
        raise _invalid(
            f"Amount must be at least {_money(minimum, currency)}",
            param=param,
            code="amount_too_small",
        )
    if amount > _MAX_AMOUNT:
        raise _invalid(
            f"Amount must be no more than {_money(_MAX_AMOUNT, currency)}",
            param=param,
            code="amount_too_large",
        )


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeStripe) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid 40 ms delayed-ACK stalls on keep-alive
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(CONTROL_PREFIX):
            response = self.server.fake._control(method, self.path, body)
        elif self.path.startswith(PAGE_PREFIX):  # the payer's browser on the checkout page
            response = self.server.fake._checkout_page(method, self.path, body)
        else:
            response = self.server.fake._handle(method, self.path, self.headers, body)
        if response is None:  # injected connection drop
            self.close_connection = True
            return
        status, headers, payload = response
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""


Handler = Callable[..., Json]


class FakeStripe(CheckoutSessions):
    """In-process fake Stripe API server; see the module docstring."""

    def __init__(
        self, port: int = 0, *, api_key: str | None = None, api_version: str = DEFAULT_API_VERSION
    ) -> None:
        self._port = port
        self.api_key = api_key  # if set, only this secret key is accepted
        self.api_version = api_version
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler, frozenset[str]]] = []
        self._register_routes()
        self._webhooks: WebhookSender | None = None
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start serving on 127.0.0.1 (random free port by default); return the base url."""
        with self._lock:
            if self._server is not None:
                return self.url
            server = _Server(("127.0.0.1", self._port), self)
            self._server = server
            self._url = f"http://127.0.0.1:{server.server_address[1]}"
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-stripe",
                daemon=True,
            )
            self._thread.start()
            return self._url

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            webhooks, self._webhooks = self._webhooks, None
        if webhooks is not None:
            webhooks.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeStripe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base url, e.g. ``http://127.0.0.1:54321`` (only valid after :meth:`start`)."""
        if self._url is None:
            raise RuntimeError("FakeStripe is not started")
        return self._url

    def reset(self) -> None:
        """Forget all objects, events, requests, idempotency records, failure rules and the
        webhook endpoint."""
        with self._lock:
            if self._webhooks is not None:
                self._webhooks.stop()
                self._webhooks = None
            self._db: dict[str, dict[str, Json]] = {name: {} for name in _COLLECTIONS}
            self._log: list[Json] = []
            self._idempotency: dict[tuple[str, str], _Stored] = {}
            self._fail_rules: list[_FailRule] = []
            self._internal_errors: list[str] = []
            self._seq = 0
            self._ctx: Json = {"request_id": None, "idempotency_key": None}

    def send_webhooks(self, url: str, secret: str) -> None:
        """POST every event recorded from now on to ``url``, signed with ``secret``."""
        with self._lock:
            if self._webhooks is not None:
                self._webhooks.stop()
            self._webhooks = WebhookSender(url, secret)

    @property
    def webhook_deliveries(self) -> list[Json]:
        """Each delivery attempt: ``event_id``, ``type`` and the endpoint's ``status``."""
        return self._webhooks.deliveries if self._webhooks is not None else []

    # ------------------------------------------------------------------ test helpers

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        count: int = 1,
        after_processing: bool = False,
        *,
        method: str | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Make the next ``count`` requests whose path starts with ``path_prefix`` fail.

        ``status`` >= 500 answers with an ``api_error`` body, 429 with ``rate_limit``; 0 drops
        the connection without answering.  With ``after_processing=True`` the request is
        fully applied (and stored for idempotent replay) and only the response is lost.
        ``delay_s`` holds the failing answer that long first (with ``status=0``: a request that
        times out on the client's side).
        """
        with self._lock:
            self._fail_rules.append(
                _FailRule(
                    path_prefix,
                    status,
                    count,
                    after_processing,
                    method.upper() if method else None,
                    delay_s,
                )
            )

    @property
    def internal_errors(self) -> list[str]:
        """Exceptions raised inside the fake itself (each answered with a 500)."""
        with self._lock:
            return list(self._internal_errors)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, as ``(method, path, idempotency_key)``."""
        with self._lock:
            return [
                RecordedRequest(e["method"], e["path"], e["idempotency_key"]) for e in self._log
            ]

    @property
    def request_log(self) -> list[Json]:
        """Every request with its parsed ``params``, response ``status`` and ``replayed``."""
        with self._lock:
            return copy.deepcopy(self._log)

    def _snapshot(self, collection: str) -> dict[str, Json]:
        with self._lock:
            return {k: _public(v) for k, v in self._db[collection].items()}

    @property
    def customers(self) -> dict[str, Json]:
        """Snapshot of customers by id."""
        return self._snapshot("customers")

    @property
    def payment_methods(self) -> dict[str, Json]:
        """Snapshot of payment methods by id."""
        return self._snapshot("payment_methods")

    @property
    def setup_intents(self) -> dict[str, Json]:
        """Snapshot of setup intents by id."""
        return self._snapshot("setup_intents")

    @property
    def payment_intents(self) -> dict[str, Json]:
        """Snapshot of payment intents by id."""
        return self._snapshot("payment_intents")

    @property
    def charges(self) -> dict[str, Json]:
        """Snapshot of charges by id."""
        return self._snapshot("charges")

    @property
    def refunds(self) -> dict[str, Json]:
        """Snapshot of refunds by id."""
        return self._snapshot("refunds")

    @property
    def products(self) -> dict[str, Json]:
        """Snapshot of products by id."""
        return self._snapshot("products")

    @property
    def prices(self) -> dict[str, Json]:
        """Snapshot of prices by id."""
        return self._snapshot("prices")

    @property
    def subscriptions(self) -> dict[str, Json]:
        """Snapshot of subscriptions by id."""
        return self._snapshot("subscriptions")

    @property
    def checkout_sessions(self) -> dict[str, Json]:
        """Snapshot of Checkout Sessions by id."""
        return self._snapshot("checkout_sessions")

    @property
    def events(self) -> list[Json]:
        """All events, oldest first."""
        with self._lock:
            return [_public(e) for e in self._db["events"].values()]

    def events_of_type(self, event_type: str) -> list[Json]:
        """Events whose type matches ``event_type`` (``*`` wildcards allowed), oldest first."""
        return [e for e in self.events if fnmatch.fnmatchcase(e["type"], event_type)]

    def charges_captured_total(self, payment_intent_id: str) -> int:
        """Sum of ``amount_captured`` over all charges of a PaymentIntent."""
        with self._lock:
            return sum(
                c["amount_captured"]
                for c in self._db["charges"].values()
                if c["payment_intent"] == payment_intent_id
            )

    def refunded_total(self, payment_intent_id: str) -> int:
        """Sum of succeeded Refund objects of a PaymentIntent (excludes released holds)."""
        with self._lock:
            return sum(
                r["amount"]
                for r in self._db["refunds"].values()
                if r["payment_intent"] == payment_intent_id and r["status"] == "succeeded"
            )

    def event_payload(self, event_id: str) -> bytes:
        """The JSON body Stripe would POST to a webhook endpoint for ``event_id``."""
        with self._lock:
            event = self._db["events"].get(event_id)
            if event is None:
                raise KeyError(event_id)
            return json.dumps(_public(event)).encode()

    @staticmethod
    def sign_event(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
        """A ``Stripe-Signature`` header value for ``payload`` (``t=...,v1=...``)."""
        ts = int(time.time()) if timestamp is None else timestamp
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        mac = hmac.new(secret.encode(), f"{ts}.{text}".encode(), hashlib.sha256)
        return f"t={ts},v1={mac.hexdigest()}"

    def signed_event(self, event_id: str, secret: str) -> tuple[bytes, str]:
        """``(payload, Stripe-Signature header)`` for delivering a recorded event."""
        payload = self.event_payload(event_id)
        return payload, self.sign_event(payload, secret)

    def complete_action(self, intent_id: str, success: bool = True) -> Json:
        """Play the customer's part of 3DS for a Payment/SetupIntent in ``requires_action``."""
        with self._lock:
            self._ctx = {"request_id": None, "idempotency_key": None}
            if intent_id.startswith("seti_"):
                seti = self._get("setup_intents", intent_id)
                if seti["status"] != "requires_action":
                    raise ValueError(f"{intent_id} is {seti['status']}, not requires_action")
                pm = self._db["payment_methods"][seti["payment_method"]]
                if success:
                    self._finish_setup(seti, pm)
                else:
                    self._fail_setup(
                        seti,
                        pm,
                        code="setup_intent_authentication_failure",
                        message="The latest attempt to set up the payment "
                        "method has failed because authentication failed.",
                        raise_error=False,
                    )
                return _public(seti)
            pi = self._get("payment_intents", intent_id)
            if pi["status"] != "requires_action":
                raise ValueError(f"{intent_id} is {pi['status']}, not requires_action")
            pm = self._db["payment_methods"][pi["payment_method"]]
            if not success:
                self._fail_payment(
                    pi,
                    pm,
                    code="payment_intent_authentication_failure",
                    decline_code=None,
                    raise_error=False,
                    charge=False,
                    message="The provided PaymentMethod has failed authentication.",
                )
            elif pi["confirmation_method"] == "manual":
                pi["status"] = "requires_confirmation"
                pi["next_action"] = None
                pi["_authenticated"] = True
            else:
                self._authorize(pi, pm, authenticated=True)
            return _public(pi)

    def expire_authorization(self, payment_intent_id: str) -> Json:
        """Simulate an uncaptured authorization expiring (PaymentIntent -> canceled)."""
        with self._lock:
            self._ctx = {"request_id": None, "idempotency_key": None}
            pi = self._get("payment_intents", payment_intent_id)
            if pi["status"] != "requires_capture":
                raise ValueError(f"{payment_intent_id} is {pi['status']}")
            charge = self._db["charges"][pi["latest_charge"]]
            self._release_hold(pi, charge, reason="automatic")
            self._emit("charge.expired", charge)
            self._emit("payment_intent.canceled", pi)
            return _public(pi)

    # ------------------------------------------------------------------ control over HTTP

    def _control(self, method: str, raw_path: str, body: bytes) -> tuple[int, dict, bytes]:
        """`POST /_fake/fail` (the arguments of `fail_next` as JSON), `GET /_fake/records`
        (payment intents, charges, refunds and the request log), `GET /_fake/events/<id>` (the
        webhook payload of an event), `GET /_fake/events?type=...` (events of a type)."""
        split = urlsplit(raw_path)
        path = split.path[len(CONTROL_PREFIX) :].rstrip("/")
        result: Any
        if method == "POST" and path == "fail":
            self.fail_next(**json.loads(body or b"{}"))
            result = {"ok": True}
        elif method == "GET" and path == "records":
            result = {
                "payment_intents": self.payment_intents,
                "charges": self.charges,
                "refunds": self.refunds,
                "requests": [
                    {k: e[k] for k in ("method", "path", "idempotency_key", "status", "replayed")}
                    for e in self.request_log
                ],
                "internal_errors": self.internal_errors,
            }
        elif method == "GET" and path.startswith("events/"):
            try:
                payload = self.event_payload(path.removeprefix("events/"))
            except KeyError:
                return 404, {}, b"{}"
            return 200, {"Content-Type": "application/json"}, payload
        elif method == "GET" and path == "events":
            kind = dict(parse_qsl(split.query)).get("type", "*")
            result = self.events_of_type(kind)
        else:
            return 404, {}, b"{}"
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode()

    # ------------------------------------------------------------------ request handling

    def _handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        delay: list[float] = []
        response = self._handle_locked(method, raw_path, headers, body, delay)
        if delay:
            time.sleep(delay[0])  # outside the lock: other requests go on meanwhile
        return response

    def _handle_locked(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
        delay: list[float],
    ) -> tuple[int, dict[str, str], bytes] | None:
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        idem_key = headers.get("Idempotency-Key") or None
        request_id = _new_id("req_", 14)
        with self._lock:
            entry: Json = {
                "method": method,
                "path": path,
                "idempotency_key": idem_key,
                "params": {},
                "status": None,
                "replayed": False,
                "request_id": request_id,
            }
            self._log.append(entry)
            rule = self._take_fail_rule(method, path)
            if rule is not None and rule.delay_s:
                delay.append(rule.delay_s)
            if rule is not None and not rule.after_processing:
                entry["status"] = rule.status
                return self._injected(rule, request_id)
            try:
                status, payload, extra_headers = self._process(
                    method, path, split.query, headers, body, idem_key, request_id, entry
                )
            except Exception as exc:  # a bug in the fake: answer 500 and remember it
                self._internal_errors.append(f"{method} {path}: {exc!r}")
                error = StripeApiError(500, "api_error", f"FakeStripe internal error: {exc!r}")
                status, payload, extra_headers = 500, json.dumps(error.body()).encode(), {}
            if rule is not None:
                entry["status"] = rule.status
                return self._injected(rule, request_id)
            entry["status"] = status
        response_headers = {
            "Content-Type": "application/json",
            "Request-Id": request_id,
            "Stripe-Version": headers.get("Stripe-Version") or self.api_version,
            **extra_headers,
        }
        if idem_key:
            response_headers["Idempotency-Key"] = idem_key
        return status, response_headers, payload

    def _take_fail_rule(self, method: str, path: str) -> _FailRule | None:
        for rule in self._fail_rules:
            if path.startswith(rule.path_prefix) and rule.method in (None, method):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._fail_rules.remove(rule)
                return rule
        return None

    @staticmethod
    def _injected(rule: _FailRule, request_id: str) -> tuple[int, dict[str, str], bytes] | None:
        if rule.status == 0:
            return None
        if rule.status == 429:
            error: Json = {
                "type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly.",
            }
        else:
            error = {
                "type": "api_error",
                "code": None,
                "message": "An unknown error occurred (injected by FakeStripe).",
            }
        error.setdefault("param", None)
        error["decline_code"] = None
        payload = json.dumps({"error": error}).encode()
        return rule.status, {"Content-Type": "application/json", "Request-Id": request_id}, payload

    def _process(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        idem_key: str | None,
        request_id: str,
        entry: Json,
    ) -> tuple[int, bytes, dict[str, str]]:
        try:
            api_key = self._authenticate(headers)
            raw = query if method in ("GET", "DELETE") else body.decode("utf-8")
            params = parse_form(parse_qsl(raw, keep_blank_values=True))
            entry["params"] = copy.deepcopy(params)
        except StripeApiError as err:
            return err.status, json.dumps(err.body()).encode(), {}
        except UnicodeDecodeError:
            err = _invalid("Request body is not valid UTF-8.")
            return err.status, json.dumps(err.body()).encode(), {}

        fingerprint = (method, path, json.dumps(params, sort_keys=True))
        cache_key = (api_key, idem_key) if method == "POST" and idem_key else None
        if cache_key is not None:
            stored = self._idempotency.get(cache_key)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    err = StripeApiError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{idem_key}' if you meant to execute a different request.",
                        store=False,
                    )
                    return err.status, json.dumps(err.body()).encode(), {}
                entry["replayed"] = True
                return (
                    stored.status,
                    stored.body,
                    {"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
                )

        self._ctx = {"request_id": request_id, "idempotency_key": idem_key}
        store = True
        try:
            handler, allowed, args = self._route(method, path)
            unknown = sorted(set(params) - allowed)
            if unknown:
                raise _invalid(
                    f"Received unknown parameter: {unknown[0]}",
                    param=unknown[0],
                    code="parameter_unknown",
                )
            result = handler(params, *args)
            self._expand(result, params.get("expand"))
            status, payload = 200, json.dumps(result).encode()
        except StripeApiError as err:
            status, payload, store = err.status, json.dumps(err.body()).encode(), err.store
        finally:
            self._ctx = {"request_id": None, "idempotency_key": None}
        if cache_key is not None and store:
            self._idempotency[cache_key] = _Stored(fingerprint, status, payload, request_id)
        return status, payload, {}

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("Authorization") or ""
        key = ""
        if auth.startswith("Bearer "):
            key = auth[len("Bearer ") :].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[len("Basic ") :]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise _invalid(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        valid = key.startswith(("sk_test_", "rk_test_")) and len(key) > len("sk_test_")
        if not valid or (self.api_key is not None and key != self.api_key):
            masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
            raise _invalid(f"Invalid API Key provided: {masked}", status=401)
        return key

    def _route(self, method: str, path: str) -> tuple[Handler, frozenset[str], tuple[str, ...]]:
        for verb, pattern, handler, allowed in self._routes:
            if verb == method:
                match = pattern.fullmatch(path)
                if match:
                    return handler, allowed, match.groups()
        raise _invalid(
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
            status=404,
        )

    def _register_routes(self) -> None:
        id_ = r"([^/]+)"
        table: list[tuple[str, str, Handler, frozenset[str]]] = [
            ("POST", "/v1/customers", self._customer_create, _P_CUSTOMER_CREATE),
            ("GET", "/v1/customers", self._customer_list, _P_CUSTOMER_LIST),
            ("GET", f"/v1/customers/{id_}/payment_methods", self._customer_pm_list, _P_CUS_PM_LIST),
            (
                "GET",
                f"/v1/customers/{id_}/payment_methods/{id_}",
                self._customer_pm_retrieve,
                _P_NONE,
            ),
            ("GET", f"/v1/customers/{id_}", self._customer_retrieve, _P_NONE),
            ("POST", f"/v1/customers/{id_}", self._customer_update, _P_CUSTOMER_UPDATE),
            ("DELETE", f"/v1/customers/{id_}", self._customer_delete, _P_NONE),
            ("POST", "/v1/payment_methods", self._pm_create, _P_PM_CREATE),
            ("GET", "/v1/payment_methods", self._pm_list, _P_PM_LIST),
            ("GET", f"/v1/payment_methods/{id_}", self._pm_retrieve, _P_NONE),
            ("POST", f"/v1/payment_methods/{id_}", self._pm_update, _P_PM_UPDATE),
            ("POST", f"/v1/payment_methods/{id_}/attach", self._pm_attach, _P_PM_ATTACH),
            ("POST", f"/v1/payment_methods/{id_}/detach", self._pm_detach, _P_NONE),
            ("POST", "/v1/setup_intents", self._seti_create, _P_SI_CREATE),
            ("GET", "/v1/setup_intents", self._seti_list, _P_SI_LIST),
            ("GET", f"/v1/setup_intents/{id_}", self._seti_retrieve, _P_SI_RETRIEVE),
            ("POST", f"/v1/setup_intents/{id_}/confirm", self._seti_confirm, _P_SI_CONFIRM),
            ("POST", f"/v1/setup_intents/{id_}/cancel", self._seti_cancel, _P_SI_CANCEL),
            ("POST", "/v1/payment_intents", self._pi_create, _P_PI_CREATE),
            ("GET", "/v1/payment_intents", self._pi_list, _P_PI_LIST),
            ("GET", f"/v1/payment_intents/{id_}", self._pi_retrieve, _P_PI_RETRIEVE),
            ("POST", f"/v1/payment_intents/{id_}", self._pi_update, _P_PI_UPDATE),
            ("POST", f"/v1/payment_intents/{id_}/confirm", self._pi_confirm, _P_PI_CONFIRM),
            ("POST", f"/v1/payment_intents/{id_}/capture", self._pi_capture, _P_PI_CAPTURE),
            ("POST", f"/v1/payment_intents/{id_}/cancel", self._pi_cancel, _P_PI_CANCEL),
            (
                "POST",
                f"/v1/payment_intents/{id_}/increment_authorization",
                self._pi_increment,
                _P_PI_INCREMENT,
            ),
            ("GET", "/v1/charges", self._charge_list, _P_CHARGE_LIST),
            ("GET", f"/v1/charges/{id_}", self._charge_retrieve, _P_NONE),
            ("POST", "/v1/refunds", self._refund_create, _P_REFUND_CREATE),
            ("GET", "/v1/refunds", self._refund_list, _P_REFUND_LIST),
            ("GET", f"/v1/refunds/{id_}", self._refund_retrieve, _P_NONE),
            ("POST", "/v1/products", self._product_create, _P_PRODUCT_CREATE),
            ("GET", "/v1/products", self._product_list, _P_PRODUCT_LIST),
            ("GET", f"/v1/products/{id_}", self._product_retrieve, _P_NONE),
            ("POST", f"/v1/products/{id_}", self._product_update, _P_PRODUCT_UPDATE),
            ("POST", "/v1/prices", self._price_create, _P_PRICE_CREATE),
            ("GET", "/v1/prices", self._price_list, _P_PRICE_LIST),
            ("GET", f"/v1/prices/{id_}", self._price_retrieve, _P_NONE),
            ("POST", "/v1/subscriptions", self._sub_create, _P_SUB_CREATE),
            ("GET", "/v1/subscriptions", self._sub_list, _P_SUB_LIST),
            ("GET", f"/v1/subscriptions/{id_}", self._sub_retrieve, _P_NONE),
            ("POST", f"/v1/subscriptions/{id_}", self._sub_update, _P_SUB_UPDATE),
            ("DELETE", f"/v1/subscriptions/{id_}", self._sub_cancel, _P_SUB_CANCEL),
            ("GET", "/v1/events", self._event_list, _P_EVENT_LIST),
            ("POST", "/v1/checkout/sessions", self._cs_create, P_CS_CREATE),
            ("GET", f"/v1/checkout/sessions/{id_}", self._cs_retrieve, _P_NONE),
            ("POST", f"/v1/checkout/sessions/{id_}/expire", self._cs_expire, _P_NONE),
            ("GET", f"/v1/events/{id_}", self._event_retrieve, _P_NONE),
        ]
        self._routes = [(m, re.compile(p), h, a) for m, p, h, a in table]

    # ------------------------------------------------------------------ store helpers

    def _now(self) -> int:
        return int(time.time())

    def _insert(self, collection: str, obj: Json) -> Json:
        self._seq += 1
        obj["_seq"] = self._seq
        self._db[collection][obj["id"]] = obj
        return obj

    def _base(self, prefix: str, object_name: str, params: Json | None = None) -> Json:
        return {
            "id": _new_id(prefix),
            "object": object_name,
            "created": self._now(),
            "livemode": False,
            "metadata": _merge_metadata(None, (params or {}).get("metadata")),
        }

    def _get(self, collection: str, obj_id: str, param: str | None = "id") -> Json:
        obj = self._db[collection].get(obj_id)
        if obj is None:
            raise _invalid(
                f"No such {_LABELS[collection]}: '{obj_id}'",
                param=param,
                code="resource_missing",
                status=404,
                store=True,
            )
        return obj

    def _get_customer(self, customer_id: str, param: str = "customer") -> Json:
        customer = self._get("customers", customer_id, param)
        if customer.get("deleted"):
            raise _invalid(
                f"No such customer: '{customer_id}'",
                param=param,
                code="resource_missing",
                status=404,
                store=True,
            )
        return customer

    def _emit(self, event_type: str, obj: Json, previous: Json | None = None) -> None:
        data: Json = {"object": _public(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": _new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": self._now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": dict(self._ctx),
            "type": event_type,
        }
        self._insert("events", event)
        if self._webhooks is not None:
            self._webhooks.send(_public(event))

    def _list(
        self,
        collection: str,
        params: Json,
        url: str,
        predicate: Callable[[Json], bool] | None = None,
    ) -> Json:
        limit = _get_int(params, "limit", default=10)
        assert limit is not None
        if not 1 <= limit <= 100:
            raise _invalid("Invalid limit: must be between 1 and 100", param="limit")
        created = params.get("created")
        items = [
            o
            for o in self._db[collection].values()
            if not o.get("deleted")
            and (predicate is None or predicate(o))
            and self._created_matches(o, created)
        ]
        items.sort(key=lambda o: o["_seq"], reverse=True)
        ids = [o["id"] for o in items]
        after = _get_str(params, "starting_after")
        before = _get_str(params, "ending_before")
        for cursor, param in ((after, "starting_after"), (before, "ending_before")):
            if cursor is not None and cursor not in ids:
                raise _invalid(
                    f"No such {_LABELS[collection]}: '{cursor}'",
                    param=param,
                    code="resource_missing",
                    status=404,
                )
        if after is not None:
            window = items[ids.index(after) + 1 :]
            page, has_more = window[:limit], len(window) > limit
        elif before is not None:
            window = items[: ids.index(before)]
            page, has_more = window[-limit:], len(window) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        return {
            "object": "list",
            "data": [_public(o) for o in page],
            "has_more": has_more,
            "url": url,
        }

    @staticmethod
    def _created_matches(obj: Json, created: Any) -> bool:
        if created is None or created == "":
            return True
        if isinstance(created, str):
            return obj["created"] == int(created) if created.isdigit() else True
        ops: dict[str, Callable[[int, int], bool]] = {
            "gt": int.__gt__,
            "gte": int.__ge__,
            "lt": int.__lt__,
            "lte": int.__le__,
        }
        return all(
            ops[op](obj["created"], int(v))
            for op, v in created.items()
            if op in ops and str(v).isdigit()
        )

    def _expand(self, obj: Json, expand: Any) -> None:
        if not expand:
            return
        paths = [expand] if isinstance(expand, str) else list(expand)
        for path in paths:
            if isinstance(path, str):
                self._expand_path(obj, path.split("."))

    def _expand_path(self, node: Any, parts: list[str]) -> None:
        if not parts:
            return
        if isinstance(node, list):
            for item in node:
                self._expand_path(item, parts)
            return
        if not isinstance(node, dict):
            return
        key, rest = parts[0], parts[1:]
        value = node.get(key)
        if isinstance(value, str):
            target = self._lookup(value)
            if target is not None:
                value = node[key] = _public(target)
        if rest and value is not None:
            self._expand_path(value, rest)

    def _lookup(self, obj_id: str) -> Json | None:
        for prefix, collection in _PREFIXES.items():
            if obj_id.startswith(prefix):
                return self._db[collection].get(obj_id)
        return None

    # ------------------------------------------------------------------ customers

    def _customer_create(self, params: Json) -> Json:
        customer = self._base("cus_", "customer", params)
        customer.update(
            {
                "email": _get_str(params, "email"),
                "name": _get_str(params, "name"),
                "description": _get_str(params, "description"),
                "phone": _get_str(params, "phone"),
                "address": params.get("address") or None,
                "balance": 0,
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "discount": None,
                "invoice_prefix": _new_id("", 8).upper(),
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": None,
                    "footer": None,
                    "rendering_options": None,
                },
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
        )
        self._insert("customers", customer)
        pm_ref = _get_str(params, "payment_method")
        if pm_ref:
            self._attach(self._resolve_pm(pm_ref, "payment_method"), customer["id"])
        settings = _get_dict(params, "invoice_settings")
        if settings.get("default_payment_method"):
            self._set_default_pm(customer, settings["default_payment_method"])
        self._emit("customer.created", customer)
        return _public(customer)

    def _customer_retrieve(self, params: Json, customer_id: str) -> Json:
        customer = self._get("customers", customer_id)
        if customer.get("deleted"):
            return {"id": customer_id, "object": "customer", "deleted": True}
        return _public(customer)

    def _customer_update(self, params: Json, customer_id: str) -> Json:
        customer = self._get_customer(customer_id, "id")
        previous: Json = {}
        for field in ("email", "name", "description", "phone"):
            if field in params:
                previous[field] = customer[field]
                customer[field] = _get_str(params, field)
        if "address" in params:
            previous["address"] = customer["address"]
            customer["address"] = params["address"] or None
        if "metadata" in params:
            previous["metadata"] = customer["metadata"]
            customer["metadata"] = _merge_metadata(customer["metadata"], params["metadata"])
        settings = _get_dict(params, "invoice_settings")
        if "default_payment_method" in settings:
            previous["invoice_settings"] = copy.deepcopy(customer["invoice_settings"])
            self._set_default_pm(customer, settings["default_payment_method"] or None)
        self._emit("customer.updated", customer, previous)
        return _public(customer)

    def _set_default_pm(self, customer: Json, pm_id: str | None) -> None:
        if pm_id is not None:
            pm = self._db["payment_methods"].get(pm_id)
            if pm is None or pm["customer"] != customer["id"]:
                raise _invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    param="invoice_settings[default_payment_method]",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id

    def _customer_delete(self, params: Json, customer_id: str) -> Json:
        customer = self._get_customer(customer_id, "id")
        customer["deleted"] = True
        self._emit("customer.deleted", customer)
        return {"id": customer_id, "object": "customer", "deleted": True}

    def _customer_list(self, params: Json) -> Json:
        email = _get_str(params, "email")
        return self._list(
            "customers", params, "/v1/customers", lambda c: email is None or c["email"] == email
        )

    def _customer_pm_list(self, params: Json, customer_id: str) -> Json:
        self._get_customer(customer_id)
        pm_type = _get_str(params, "type")
        return self._list(
            "payment_methods",
            params,
            f"/v1/customers/{customer_id}/payment_methods",
            lambda p: p["customer"] == customer_id and pm_type in (None, p["type"]),
        )

    def _customer_pm_retrieve(self, params: Json, customer_id: str, pm_id: str) -> Json:
        self._get_customer(customer_id)
        pm = self._get("payment_methods", pm_id, "payment_method")
        if pm["customer"] != customer_id:
            raise _invalid(
                f"No such PaymentMethod: '{pm_id}'",
                param="payment_method",
                code="resource_missing",
                status=404,
                store=True,
            )
        return _public(pm)

    # ------------------------------------------------------------------ payment methods

    def _card_from_params(self, card: Json) -> tuple[_Card, int | None, int | None]:
        token = card.get("token")
        if isinstance(token, str) and token:
            name = token[4:] if token.startswith("tok_") else None
            if name not in _CARDS:
                raise _invalid(
                    f"No such token: '{token}'",
                    param="card[token]",
                    code="resource_missing",
                    status=404,
                )
            return _CARDS[name], None, None
        number = str(card.get("number") or "").replace(" ", "")
        if not number:
            raise _invalid("Missing required param: card.", param="card", code="parameter_missing")
        if number not in _CARD_NUMBERS:
            raise StripeApiError(
                402,
                "card_error",
                "Your card number is incorrect.",
                code="incorrect_number",
                param="number",
            )
        exp_month = _get_int(card, "exp_month", required=True)
        exp_year = _get_int(card, "exp_year", required=True)
        return _CARDS[_CARD_NUMBERS[number]], exp_month, exp_year

    def _new_pm(
        self,
        spec: _Card,
        *,
        exp_month: int | None = None,
        exp_year: int | None = None,
        params: Json | None = None,
    ) -> Json:
        params = params or {}
        pm = self._base("pm_", "payment_method", params)
        wallet = None
        if spec.wallet:
            wallet = {"type": spec.wallet, spec.wallet: {}, "dynamic_last4": spec.last4}
        billing = _get_dict(params, "billing_details")
        address = billing.get("address") if isinstance(billing.get("address"), dict) else {}
        pm.update(
            {
                "type": "card",
                "customer": None,
                "allow_redisplay": "unspecified",
                "billing_details": {
                    "address": {
                        k: address.get(k)
                        for k in ("city", "country", "line1", "line2", "postal_code", "state")
                    },
                    "email": billing.get("email"),
                    "name": billing.get("name"),
                    "phone": billing.get("phone"),
                    "tax_id": None,
                },
                "card": {
                    "brand": spec.brand,
                    "display_brand": spec.brand,
                    "last4": spec.last4,
                    "exp_month": exp_month or 12,
                    "exp_year": exp_year or time.gmtime().tm_year + 3,
                    "funding": spec.funding,
                    "country": "US",
                    "fingerprint": hashlib.sha256(
                        f"{spec.brand}{spec.last4}{spec.outcome}".encode()
                    ).hexdigest()[:16],
                    "checks": {
                        "address_line1_check": None,
                        "address_postal_code_check": None,
                        "cvc_check": "pass",
                    },
                    "generated_from": None,
                    "networks": {"available": [spec.brand], "preferred": None},
                    "three_d_secure_usage": {"supported": True},
                    "wallet": wallet,
                },
                "_spec": spec,
                "_consumed": False,
                "_setup_done": False,
            }
        )
        return self._insert("payment_methods", pm)

    def _resolve_pm(self, ref: str, param: str) -> Json:
        pm = self._db["payment_methods"].get(ref)
        if pm is not None:
            return pm
        if ref.startswith("pm_card_") and ref[len("pm_card_") :] in _CARDS:
            return self._new_pm(_CARDS[ref[len("pm_card_") :]])
        raise _invalid(
            f"No such PaymentMethod: '{ref}'",
            param=param,
            code="resource_missing",
            status=404,
            store=True,
        )

    def _pm_from_data(self, data: Json, param: str) -> Json:
        if data.get("type") != "card":
            raise _invalid(
                "FakeStripe only supports payment_method_data[type]=card", param=f"{param}[type]"
            )
        spec, month, year = self._card_from_params(_get_dict(data, "card"))
        return self._new_pm(spec, exp_month=month, exp_year=year, params=data)

    def _pm_create(self, params: Json) -> Json:
        if _get_str(params, "payment_method"):
            raise _invalid(
                "Cloning PaymentMethods is not supported by FakeStripe.", param="payment_method"
            )
        pm_type = _get_str(params, "type", required=True)
        if pm_type != "card":
            raise _invalid(f"FakeStripe only supports type=card (got {pm_type})", param="type")
        spec, month, year = self._card_from_params(_get_dict(params, "card"))
        pm = self._new_pm(spec, exp_month=month, exp_year=year, params=params)
        return _public(pm)

    def _pm_retrieve(self, params: Json, pm_id: str) -> Json:
        return _public(self._resolve_pm(pm_id, "payment_method"))

    def _pm_update(self, params: Json, pm_id: str) -> Json:
        pm = self._get("payment_methods", pm_id, "payment_method")
        pm["metadata"] = _merge_metadata(pm["metadata"], params.get("metadata"))
        for key, value in _get_dict(params, "billing_details").items():
            if key in pm["billing_details"] and key != "address":
                pm["billing_details"][key] = value or None
        card = _get_dict(params, "card")
        for key in ("exp_month", "exp_year"):
            if key in card:
                pm["card"][key] = _get_int(card, key)
        self._emit("payment_method.updated", pm)
        return _public(pm)

    def _attach(self, pm: Json, customer_id: str) -> None:
        if pm["customer"] == customer_id:
            return
        if pm["customer"] is not None:
            raise _invalid(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                store=True,
            )
        if pm["_consumed"]:
            raise _invalid(
                "This PaymentMethod was previously used without being attached to a Customer "
                "or was detached from a Customer, and may not be used again.",
                param="payment_method",
                store=True,
            )
        pm["customer"] = customer_id
        self._emit("payment_method.attached", pm)

    def _pm_attach(self, params: Json, pm_id: str) -> Json:
        customer_id = _get_str(params, "customer", required=True)
        assert customer_id is not None
        self._get_customer(customer_id)
        pm = self._resolve_pm(pm_id, "payment_method")
        self._attach(pm, customer_id)
        return _public(pm)

    def _pm_detach(self, params: Json, pm_id: str) -> Json:
        pm = self._get("payment_methods", pm_id, "payment_method")
        if pm["customer"] is None:
            raise _invalid(
                "The payment method you provided is not attached to a customer so "
                "detachment is impossible.",
                param="payment_method",
                store=True,
            )
        customer = self._db["customers"].get(pm["customer"])
        if customer and customer["invoice_settings"]["default_payment_method"] == pm_id:
            customer["invoice_settings"]["default_payment_method"] = None
        previous = {"customer": pm["customer"]}
        pm["customer"] = None
        pm["_consumed"] = True
        self._emit("payment_method.detached", pm, previous)
        return _public(pm)

    def _pm_list(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        if customer_id:
            self._get_customer(customer_id)
        pm_type = _get_str(params, "type")
        return self._list(
            "payment_methods",
            params,
            "/v1/payment_methods",
            lambda p: customer_id in (None, p["customer"]) and pm_type in (None, p["type"]),
        )

    def _check_pm_usable(self, pm: Json, customer_id: str | None, param: str) -> None:
        if pm["customer"] is not None and pm["customer"] != customer_id:
            if customer_id is None:
                raise _invalid(
                    "The provided PaymentMethod was previously attached to a Customer. To use "
                    "a PaymentMethod that has been attached to a Customer, it must be passed "
                    "along with the Customer ID.",
                    param=param,
                    store=True,
                )
            raise _invalid(
                f"The provided PaymentMethod belongs to a different Customer ({pm['customer']}).",
                param=param,
                store=True,
            )
        if pm["customer"] is None and pm["_consumed"]:
            raise _invalid(
                "This PaymentMethod was previously used without being attached to a Customer "
                "or was detached from a Customer, and may not be used again.",
                param=param,
                store=True,
            )

    # ------------------------------------------------------------------ setup intents

    def _seti_create(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        if customer_id:
            self._get_customer(customer_id)
        seti = self._base("seti_", "setup_intent", params)
        seti.update(
            {
                "customer": customer_id,
                "description": _get_str(params, "description"),
                "usage": _get_enum(params, "usage", ("off_session", "on_session"), "off_session"),
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "payment_method": None,
                "status": "requires_payment_method",
                "last_setup_error": None,
                "next_action": None,
                "latest_attempt": None,
                "cancellation_reason": None,
                "mandate": None,
                "single_use_mandate": None,
                "on_behalf_of": None,
                "payment_method_options": params.get("payment_method_options")
                or {"card": {"request_three_d_secure": "automatic"}},
                "flow_directions": None,
                "application": None,
            }
        )
        seti["client_secret"] = f"{seti['id']}_secret_{_new_id('', 24)}"
        self._set_seti_pm(seti, params)
        self._insert("setup_intents", seti)
        self._emit("setup_intent.created", seti)
        if _get_bool(params, "confirm"):
            return self._seti_do_confirm(seti, params, set_pm=False)
        return _public(seti)

    def _set_seti_pm(self, seti: Json, params: Json) -> None:
        ref = _get_str(params, "payment_method")
        data = _get_dict(params, "payment_method_data")
        pm = None
        if ref:
            pm = self._resolve_pm(ref, "payment_method")
        elif data:
            pm = self._pm_from_data(data, "payment_method_data")
        if pm is not None:
            self._check_pm_usable(pm, seti["customer"], "payment_method")
            seti["payment_method"] = pm["id"]
            if seti["status"] == "requires_payment_method":
                seti["status"] = "requires_confirmation"

    def _seti_retrieve(self, params: Json, seti_id: str) -> Json:
        return _public(self._get("setup_intents", seti_id, "intent"))

    def _seti_list(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        pm_id = _get_str(params, "payment_method")
        return self._list(
            "setup_intents",
            params,
            "/v1/setup_intents",
            lambda s: customer_id in (None, s["customer"]) and pm_id in (None, s["payment_method"]),
        )

    def _seti_confirm(self, params: Json, seti_id: str) -> Json:
        return self._seti_do_confirm(self._get("setup_intents", seti_id, "intent"), params)

    def _seti_unexpected(self, seti: Json, verb: str, allowed: tuple[str, ...]) -> None:
        raise _invalid(
            f"You cannot {verb} this SetupIntent because it has a status of {seti['status']}. "
            f"Only a SetupIntent with one of the following statuses may be {verb}ed: "
            f"{', '.join(allowed)}.",
            code="setup_intent_unexpected_state",
            store=True,
            extra={"setup_intent": _public(seti)},
        )

    def _seti_do_confirm(self, seti: Json, params: Json, set_pm: bool = True) -> Json:
        if seti["status"] not in _PI_PRE_CONFIRM:
            self._seti_unexpected(seti, "confirm", _PI_PRE_CONFIRM)
        if set_pm:
            self._set_seti_pm(seti, params)
        if seti["payment_method"] is None:
            raise _invalid(
                "You cannot confirm this SetupIntent because it's missing a payment method.",
                param="payment_method",
                store=True,
                code="setup_intent_unexpected_state",
            )
        pm = self._db["payment_methods"][seti["payment_method"]]
        spec: _Card = pm["_spec"]
        if spec.outcome == "decline":
            self._fail_setup(
                seti,
                pm,
                code=spec.code or "card_declined",
                decline_code=spec.decline_code,
                message=spec.message or "",
            )
        if spec.outcome in ("auth_always", "auth_on_setup"):
            seti["status"] = "requires_action"
            seti["next_action"] = self._next_action(seti["id"], params)
            self._emit("setup_intent.requires_action", seti)
            return _public(seti)
        self._finish_setup(seti, pm)
        return _public(seti)

    def _finish_setup(self, seti: Json, pm: Json) -> None:
        if seti["customer"]:
            self._attach(pm, seti["customer"])
        pm["_setup_done"] = seti["usage"] == "off_session"
        seti.update(status="succeeded", next_action=None, last_setup_error=None)
        self._emit("setup_intent.succeeded", seti)

    def _fail_setup(
        self,
        seti: Json,
        pm: Json,
        *,
        code: str,
        message: str,
        decline_code: str | None = None,
        raise_error: bool = True,
    ) -> None:
        error: Json = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "param": None,
            "doc_url": _DOC + code.replace("_", "-"),
            "payment_method": _public(pm),
        }
        seti.update(
            status="requires_payment_method",
            payment_method=None,
            next_action=None,
            last_setup_error=error,
        )
        self._emit("setup_intent.setup_failed", seti)
        if raise_error:
            raise StripeApiError(
                402,
                "card_error",
                message,
                code=code,
                decline_code=decline_code,
                extra={"setup_intent": _public(seti), "payment_method": _public(pm)},
            )

    def _seti_cancel(self, params: Json, seti_id: str) -> Json:
        seti = self._get("setup_intents", seti_id, "intent")
        if seti["status"] not in _PI_PRE_CONFIRM:
            self._seti_unexpected(seti, "cancel", _PI_PRE_CONFIRM)
        seti["status"] = "canceled"
        seti["cancellation_reason"] = _get_enum(
            params, "cancellation_reason", ("abandoned", "duplicate", "requested_by_customer")
        )
        self._emit("setup_intent.canceled", seti)
        return _public(seti)

    def _next_action(self, intent_id: str, params: Json) -> Json:
        return_url = _get_str(params, "return_url")
        if return_url:
            return {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "return_url": return_url,
                    "url": f"{self._url}/fake_3ds/{intent_id}",
                },
            }
        return {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": f"{self._url}/fake_3ds/{intent_id}",
                "source": _new_id("src_"),
            },
        }

    # ------------------------------------------------------------------ payment intents

    def _pi_create(self, params: Json) -> Json:
        currency = (_get_str(params, "currency", required=True) or "").lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(f"Invalid currency: {currency}", param="currency")
        amount = _get_int(params, "amount", required=True)
        assert amount is not None
        _check_amount(amount, currency, "amount")
        customer_id = _get_str(params, "customer")
        if customer_id:
            self._get_customer(customer_id)
        confirm = _get_bool(params, "confirm")
        if "off_session" in params and not confirm:
            raise _invalid("You can only pass off_session when confirm=true.", param="off_session")
        pm_options = _get_dict(params, "payment_method_options")
        card_options = {
            "request_three_d_secure": "automatic",
            "installments": None,
            "mandate_options": None,
            "network": None,
            **_get_dict(pm_options, "card"),
        }
        pi = self._base("pi_", "payment_intent", params)
        pi.update(
            {
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "application": None,
                "application_fee_amount": _get_int(params, "application_fee_amount"),
                "automatic_payment_methods": None,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": _get_enum(
                    params,
                    "capture_method",
                    ("automatic", "automatic_async", "manual"),
                    "automatic_async",
                ),
                "confirmation_method": _get_enum(
                    params, "confirmation_method", ("automatic", "manual"), "automatic"
                ),
                "currency": currency,
                "customer": customer_id,
                "description": _get_str(params, "description"),
                "last_payment_error": None,
                "latest_charge": None,
                "next_action": None,
                "on_behalf_of": None,
                "payment_method": None,
                "payment_method_options": {**pm_options, "card": card_options},
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "processing": None,
                "receipt_email": _get_str(params, "receipt_email"),
                "review": None,
                "setup_future_usage": _get_enum(
                    params, "setup_future_usage", ("off_session", "on_session")
                ),
                "shipping": params.get("shipping") or None,
                "statement_descriptor": _get_str(params, "statement_descriptor"),
                "statement_descriptor_suffix": _get_str(params, "statement_descriptor_suffix"),
                "status": "requires_payment_method",
                "transfer_data": None,
                "transfer_group": _get_str(params, "transfer_group"),
                "_incremental": card_options.get("request_incremental_authorization")
                == "if_available",
                "_increments": 0,
                "_authenticated": False,
            }
        )
        pi["client_secret"] = f"{pi['id']}_secret_{_new_id('', 24)}"
        self._set_pi_pm(pi, params)
        self._insert("payment_intents", pi)
        self._emit("payment_intent.created", pi)
        if confirm:
            return self._pi_do_confirm(pi, params, set_pm=False)
        return _public(pi)

    def _set_pi_pm(self, pi: Json, params: Json) -> None:
        ref = _get_str(params, "payment_method")
        data = _get_dict(params, "payment_method_data")
        pm = None
        if ref:
            pm = self._resolve_pm(ref, "payment_method")
        elif data:
            pm = self._pm_from_data(data, "payment_method_data")
        if pm is not None:
            self._check_pm_usable(pm, pi["customer"], "payment_method")
            pi["payment_method"] = pm["id"]
            pi["_authenticated"] = False
            if pi["status"] == "requires_payment_method":
                pi["status"] = "requires_confirmation"

    def _pi_unexpected(self, pi: Json, verb: str, allowed: tuple[str, ...]) -> StripeApiError:
        return _invalid(
            f"This PaymentIntent could not be {verb} because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"acted upon: {', '.join(allowed)}.",
            code="payment_intent_unexpected_state",
            store=True,
            extra={"payment_intent": _public(pi)},
        )

    def _pi_retrieve(self, params: Json, pi_id: str) -> Json:
        return _public(self._get("payment_intents", pi_id, "intent"))

    def _pi_list(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        return self._list(
            "payment_intents",
            params,
            "/v1/payment_intents",
            lambda p: customer_id in (None, p["customer"]),
        )

    def _pi_update(self, params: Json, pi_id: str) -> Json:
        pi = self._get("payment_intents", pi_id, "intent")
        restricted = {
            "amount",
            "currency",
            "customer",
            "payment_method",
            "capture_method",
            "payment_method_data",
            "setup_future_usage",
        } & set(params)
        if restricted and pi["status"] not in _PI_PRE_CONFIRM:
            raise self._pi_unexpected(pi, "updated", _PI_PRE_CONFIRM)
        previous: Json = {}
        if "currency" in params:
            previous["currency"] = pi["currency"]
            pi["currency"] = (_get_str(params, "currency") or "").lower()
        if "amount" in params:
            amount = _get_int(params, "amount", required=True)
            assert amount is not None
            _check_amount(amount, pi["currency"], "amount")
            previous["amount"] = pi["amount"]
            pi["amount"] = amount
        if "customer" in params:
            customer_id = _get_str(params, "customer")
            if customer_id:
                self._get_customer(customer_id)
            previous["customer"] = pi["customer"]
            pi["customer"] = customer_id
        if "capture_method" in params:
            pi["capture_method"] = _get_enum(
                params, "capture_method", ("automatic", "automatic_async", "manual")
            )
        if "setup_future_usage" in params:
            pi["setup_future_usage"] = _get_enum(
                params, "setup_future_usage", ("off_session", "on_session")
            )
        for field in (
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
        ):
            if field in params:
                previous[field] = pi[field]
                pi[field] = _get_str(params, field)
        if "metadata" in params:
            previous["metadata"] = pi["metadata"]
            pi["metadata"] = _merge_metadata(pi["metadata"], params["metadata"])
        self._set_pi_pm(pi, params)
        if pi["status"] == "requires_action" and restricted:
            pi["status"], pi["next_action"] = "requires_confirmation", None
        self._emit("payment_intent.updated", pi, previous)
        return _public(pi)

    def _pi_confirm(self, params: Json, pi_id: str) -> Json:
        return self._pi_do_confirm(self._get("payment_intents", pi_id, "intent"), params)

    def _pi_do_confirm(self, pi: Json, params: Json, set_pm: bool = True) -> Json:
        if pi["status"] not in _PI_PRE_CONFIRM:
            raise self._pi_unexpected(pi, "confirmed", _PI_PRE_CONFIRM)
        if "capture_method" in params:
            pi["capture_method"] = _get_enum(
                params, "capture_method", ("automatic", "automatic_async", "manual")
            )
        if "setup_future_usage" in params:
            pi["setup_future_usage"] = _get_enum(
                params, "setup_future_usage", ("off_session", "on_session")
            )
        if "receipt_email" in params:
            pi["receipt_email"] = _get_str(params, "receipt_email")
        if set_pm:
            self._set_pi_pm(pi, params)
        if pi["payment_method"] is None:
            raise _invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "To confirm the PaymentIntent, specify a payment method.",
                param="payment_method",
                code="payment_intent_unexpected_state",
                store=True,
                extra={"payment_intent": _public(pi)},
            )
        off_session = _get_str(params, "off_session") in ("true", "one_off", "recurring")
        fail_on_action = off_session or _get_bool(params, "error_on_requires_action")
        pm = self._db["payment_methods"][pi["payment_method"]]
        spec: _Card = pm["_spec"]
        if spec.outcome in ("decline", "decline_on_charge"):
            self._fail_payment(
                pi,
                pm,
                code=spec.code or "card_declined",
                decline_code=spec.decline_code,
                message=spec.message or "",
            )
        needs_auth = spec.outcome == "auth_always" or (
            spec.outcome == "auth_on_setup" and not pm["_setup_done"]
        )
        if needs_auth and not pi["_authenticated"]:
            if fail_on_action:
                self._fail_payment(
                    pi,
                    pm,
                    code="authentication_required",
                    decline_code="authentication_required",
                    message="Your card was declined. This transaction requires authentication.",
                )
            pi["status"] = "requires_action"
            pi["next_action"] = self._next_action(pi["id"], params)
            self._emit("payment_intent.requires_action", pi)
            return _public(pi)
        self._authorize(pi, pm, authenticated=pi["_authenticated"])
        return _public(pi)

    def _card_details(self, pm: Json, pi: Json, authenticated: bool) -> Json:
        card = pm["card"]
        details = {
            k: card[k]
            for k in (
                "brand",
                "last4",
                "exp_month",
                "exp_year",
                "funding",
                "country",
                "fingerprint",
                "wallet",
                "checks",
            )
        }
        details.update(
            {
                "network": card["brand"],
                "installments": None,
                "mandate": None,
                "amount_authorized": pi["amount"],
                "capture_before": (
                    self._now() + 7 * 86_400 if pi["capture_method"] == "manual" else None
                ),
                "incremental_authorization": {
                    "status": "available" if pi["_incremental"] else "unavailable"
                },
                "extended_authorization": {"status": "disabled"},
                "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                "multicapture": {"status": "unavailable"},
                "three_d_secure": (
                    {
                        "authentication_flow": "challenge",
                        "result": "authenticated",
                        "version": "2.2.0",
                    }
                    if authenticated
                    else None
                ),
            }
        )
        return details

    def _new_charge(
        self,
        pi: Json,
        pm: Json,
        *,
        succeeded: bool,
        authenticated: bool = False,
        failure: Json | None = None,
    ) -> Json:
        manual = pi["capture_method"] == "manual"
        captured = succeeded and not manual
        charge = self._base("ch_", "charge")
        charge.update(
            {
                "amount": pi["amount"],
                "amount_captured": pi["amount"] if captured else 0,
                "amount_refunded": 0,
                "application_fee_amount": pi["application_fee_amount"],
                "balance_transaction": _new_id("txn_") if captured else None,
                "billing_details": copy.deepcopy(pm["billing_details"]),
                "captured": captured,
                "currency": pi["currency"],
                "customer": pi["customer"],
                "description": pi["description"],
                "disputed": False,
                "failure_code": failure["code"] if failure else None,
                "failure_message": failure["message"] if failure else None,
                "metadata": dict(pi["metadata"]),
                "outcome": {
                    "network_status": "approved_by_network" if succeeded else "declined_by_network",
                    "reason": failure.get("decline_code") if failure else None,
                    "risk_level": "normal",
                    "risk_score": 20,
                    "seller_message": "Payment complete."
                    if succeeded
                    else "The bank did not return any further details with this decline.",
                    "type": "authorized" if succeeded else "issuer_declined",
                },
                "paid": succeeded,
                "payment_intent": pi["id"],
                "payment_method": pm["id"],
                "payment_method_details": {
                    "type": "card",
                    "card": self._card_details(pm, pi, authenticated),
                },
                "receipt_email": pi["receipt_email"],
                "receipt_url": None,
                "refunded": False,
                "statement_descriptor": pi["statement_descriptor"],
                "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
                "status": "succeeded" if succeeded else "failed",
                "transfer_group": None,
            }
        )
        return self._insert("charges", charge)

    def _fail_payment(
        self,
        pi: Json,
        pm: Json,
        *,
        code: str,
        decline_code: str | None,
        message: str,
        raise_error: bool = True,
        charge: bool = True,
    ) -> None:
        error: Json = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "param": None,
            "doc_url": _DOC + code.replace("_", "-"),
        }
        extra: Json = {}
        if charge:
            failed = self._new_charge(pi, pm, succeeded=False, failure=error)
            error["charge"] = extra["charge"] = pi["latest_charge"] = failed["id"]
            self._emit("charge.failed", failed)
        error["payment_method"] = _public(pm)
        pi.update(
            status="requires_payment_method",
            payment_method=None,
            next_action=None,
            last_payment_error=error,
            _authenticated=False,
        )
        self._emit("payment_intent.payment_failed", pi)
        if raise_error:
            extra.update(payment_intent=_public(pi), payment_method=_public(pm))
            raise StripeApiError(
                402, "card_error", message, code=code, decline_code=decline_code, extra=extra
            )

    def _authorize(self, pi: Json, pm: Json, *, authenticated: bool) -> None:
        charge = self._new_charge(pi, pm, succeeded=True, authenticated=authenticated)
        pi.update(latest_charge=charge["id"], last_payment_error=None, next_action=None)
        if pi["setup_future_usage"] and pi["customer"]:
            self._attach(pm, pi["customer"])
            if pi["setup_future_usage"] == "off_session":
                pm["_setup_done"] = True
        elif pm["customer"] is None:
            pm["_consumed"] = True
        self._emit("charge.succeeded", charge)
        if pi["capture_method"] == "manual":
            pi.update(status="requires_capture", amount_capturable=pi["amount"])
            self._emit("payment_intent.amount_capturable_updated", pi)
        else:
            pi.update(status="succeeded", amount_received=pi["amount"])
            self._emit("payment_intent.succeeded", pi)

    def _pi_capture(self, params: Json, pi_id: str) -> Json:
        pi = self._get("payment_intents", pi_id, "intent")
        if pi["status"] != "requires_capture":
            raise self._pi_unexpected(pi, "captured", ("requires_capture",))
        amount = _get_int(params, "amount_to_capture", default=pi["amount_capturable"])
        assert amount is not None
        if amount > pi["amount_capturable"]:
            raise _invalid(
                "The payment could not be captured because the requested capture amount is "
                "greater than the authorized amount.",
                param="amount_to_capture",
                code="amount_too_large",
                store=True,
            )
        _check_amount(amount, pi["currency"], "amount_to_capture")
        charge = self._db["charges"][pi["latest_charge"]]
        charge.update(
            captured=True,
            amount_captured=amount,
            amount_refunded=charge["amount"] - amount,
            balance_transaction=_new_id("txn_"),
        )
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        if "metadata" in params:
            pi["metadata"] = _merge_metadata(pi["metadata"], params["metadata"])
        for field in ("statement_descriptor", "statement_descriptor_suffix"):
            if field in params:
                pi[field] = _get_str(params, field)
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", pi)
        return _public(pi)

    def _release_hold(self, pi: Json, charge: Json, reason: str | None) -> None:
        charge.update(amount_refunded=charge["amount"], refunded=True)
        pi.update(
            status="canceled",
            amount_capturable=0,
            canceled_at=self._now(),
            cancellation_reason=reason,
        )

    def _pi_cancel(self, params: Json, pi_id: str) -> Json:
        pi = self._get("payment_intents", pi_id, "intent")
        if pi["status"] not in _PI_CANCELABLE:
            raise self._pi_unexpected(pi, "canceled", _PI_CANCELABLE)
        reason = _get_enum(
            params,
            "cancellation_reason",
            ("duplicate", "fraudulent", "requested_by_customer", "abandoned"),
        )
        if pi["status"] == "requires_capture":
            charge = self._db["charges"][pi["latest_charge"]]
            self._release_hold(pi, charge, reason)
            self._emit("charge.refunded", charge)
        else:
            pi.update(
                status="canceled",
                canceled_at=self._now(),
                cancellation_reason=reason,
                next_action=None,
            )
        self._emit("payment_intent.canceled", pi)
        return _public(pi)

    def _pi_increment(self, params: Json, pi_id: str) -> Json:
        pi = self._get("payment_intents", pi_id, "intent")
        if pi["status"] != "requires_capture":
            raise self._pi_unexpected(pi, "incremented", ("requires_capture",))
        amount = _get_int(params, "amount", required=True)
        assert amount is not None
        if not pi["_incremental"]:
            raise _invalid(
                "This PaymentIntent is not eligible for incremental authorization. Request it "
                "with payment_method_options[card][request_incremental_authorization]="
                "if_available when creating the PaymentIntent.",
                store=True,
            )
        if amount <= pi["amount"]:
            raise _invalid(
                "The amount must be greater than the currently authorized amount "
                f"({pi['amount']}).",
                param="amount",
                store=True,
            )
        if pi["_increments"] >= 10:
            raise _invalid(
                "This PaymentIntent has reached the maximum of 10 incremental "
                "authorization attempts.",
                store=True,
            )
        pi["_increments"] += 1
        pm = self._db["payment_methods"][pi["payment_method"]]
        spec: _Card = pm["_spec"]
        if spec.outcome == "increment_decline":
            raise StripeApiError(
                402,
                "card_error",
                spec.message or "Your card was declined.",
                code=spec.code,
                decline_code=spec.decline_code,
                extra={"payment_intent": _public(pi)},
            )
        charge = self._db["charges"][pi["latest_charge"]]
        previous = {"amount": pi["amount"], "amount_capturable": pi["amount_capturable"]}
        pi.update(amount=amount, amount_capturable=amount)
        charge["amount"] = amount
        charge["payment_method_details"]["card"]["amount_authorized"] = amount
        if "metadata" in params:
            pi["metadata"] = _merge_metadata(pi["metadata"], params["metadata"])
        if "description" in params:
            pi["description"] = _get_str(params, "description")
        self._emit("payment_intent.amount_capturable_updated", pi, previous)
        return _public(pi)

    # ------------------------------------------------------------------ charges & refunds

    def _charge_retrieve(self, params: Json, charge_id: str) -> Json:
        return _public(self._get("charges", charge_id, "charge"))

    def _charge_list(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        pi_id = _get_str(params, "payment_intent")
        return self._list(
            "charges",
            params,
            "/v1/charges",
            lambda c: customer_id in (None, c["customer"]) and pi_id in (None, c["payment_intent"]),
        )

    def _refund_create(self, params: Json) -> Json:
        pi_id = _get_str(params, "payment_intent")
        charge_id = _get_str(params, "charge")
        if not pi_id and not charge_id:
            raise _invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if pi_id:
            pi = self._get("payment_intents", pi_id, "payment_intent")
            if pi["status"] != "succeeded" or not pi["latest_charge"]:
                raise _invalid(
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to "
                    f"refund (status: {pi['status']}). Cancel it instead if it is uncaptured.",
                    param="payment_intent",
                    code="payment_intent_unexpected_state",
                    store=True,
                )
            charge = self._db["charges"][pi["latest_charge"]]
            if charge_id and charge_id != charge["id"]:
                raise _invalid("The charge does not belong to the payment_intent.", param="charge")
        else:
            assert charge_id is not None
            charge = self._get("charges", charge_id, "charge")
        if charge["status"] != "succeeded" or not charge["captured"]:
            raise _invalid(
                f"Charge {charge['id']} has not been captured or did not succeed "
                "and cannot be refunded.",
                param="charge",
                code="charge_not_refundable",
                store=True,
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise _invalid(
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                store=True,
            )
        amount = _get_int(params, "amount", default=remaining)
        assert amount is not None
        if amount <= 0:
            raise _invalid(
                "Refund amount must be a positive integer.", param="amount", code="amount_too_small"
            )
        if amount > remaining:
            raise _invalid(
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_money(remaining, charge['currency'])})",
                param="amount",
                code="amount_too_large",
                store=True,
            )
        reason = _get_enum(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
        refund = self._base("re_", "refund", params)
        refund.update(
            {
                "amount": amount,
                "balance_transaction": _new_id("txn_"),
                "charge": charge["id"],
                "currency": charge["currency"],
                "destination_details": {
                    "type": "card",
                    "card": {
                        "reference_status": "pending",
                        "reference_type": "acquirer_reference_number",
                        "type": "refund",
                    },
                },
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
        )
        self._insert("refunds", refund)
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge, previous)
        return _public(refund)

    def _refund_retrieve(self, params: Json, refund_id: str) -> Json:
        return _public(self._get("refunds", refund_id, "refund"))

    def _refund_list(self, params: Json) -> Json:
        charge_id = _get_str(params, "charge")
        pi_id = _get_str(params, "payment_intent")
        return self._list(
            "refunds",
            params,
            "/v1/refunds",
            lambda r: charge_id in (None, r["charge"]) and pi_id in (None, r["payment_intent"]),
        )

    # ------------------------------------------------------------------ products & prices

    def _product_create(self, params: Json) -> Json:
        product = self._base("prod_", "product", params)
        custom_id = _get_str(params, "id")
        if custom_id:
            if custom_id in self._db["products"]:
                raise _invalid(
                    f"Product already exists: {custom_id}",
                    param="id",
                    code="resource_already_exists",
                )
            product["id"] = custom_id
        product.update(
            {
                "name": _get_str(params, "name", required=True),
                "active": _get_bool(params, "active", True),
                "description": _get_str(params, "description"),
                "default_price": None,
                "images": params.get("images") or [],
                "marketing_features": [],
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": _get_str(params, "statement_descriptor"),
                "tax_code": None,
                "type": "service",
                "unit_label": _get_str(params, "unit_label"),
                "updated": self._now(),
                "url": _get_str(params, "url"),
            }
        )
        self._insert("products", product)
        self._emit("product.created", product)
        return _public(product)

    def _product_retrieve(self, params: Json, product_id: str) -> Json:
        return _public(self._get("products", product_id))

    def _product_update(self, params: Json, product_id: str) -> Json:
        product = self._get("products", product_id)
        for field in ("name", "description", "unit_label", "statement_descriptor", "url"):
            if field in params:
                product[field] = _get_str(params, field, required=field == "name")
        if "active" in params:
            product["active"] = _get_bool(params, "active")
        if "default_price" in params:
            price_id = _get_str(params, "default_price")
            if price_id:
                self._get("prices", price_id, "default_price")
            product["default_price"] = price_id
        product["metadata"] = _merge_metadata(product["metadata"], params.get("metadata"))
        product["updated"] = self._now()
        self._emit("product.updated", product)
        return _public(product)

    def _product_list(self, params: Json) -> Json:
        active = _get_bool(params, "active") if "active" in params else None
        return self._list(
            "products", params, "/v1/products", lambda p: active in (None, p["active"])
        )

    def _price_create(self, params: Json) -> Json:
        currency = (_get_str(params, "currency", required=True) or "").lower()
        product_id = _get_str(params, "product")
        product_data = _get_dict(params, "product_data")
        if product_id:
            self._get("products", product_id, "product")
        elif product_data:
            product_id = self._product_create(
                {k: v for k, v in product_data.items() if k in _P_PRODUCT_CREATE}
            )["id"]
        else:
            raise _invalid(
                "Missing required param: product.", param="product", code="parameter_missing"
            )
        unit_amount = _get_int(params, "unit_amount")
        decimal = _get_str(params, "unit_amount_decimal")
        if unit_amount is None and decimal is None and not params.get("custom_unit_amount"):
            raise _invalid(
                "Missing required param: unit_amount.",
                param="unit_amount",
                code="parameter_missing",
            )
        if unit_amount is None and decimal is not None:
            if not re.fullmatch(r"\d+(\.\d+)?", decimal):
                raise _invalid(f"Invalid decimal: {decimal}", param="unit_amount_decimal")
            unit_amount = int(float(decimal)) if float(decimal).is_integer() else None
        recurring_params = _get_dict(params, "recurring")
        recurring = None
        if recurring_params:
            interval = _get_enum(recurring_params, "interval", ("day", "week", "month", "year"))
            if interval is None:
                raise _invalid(
                    "Missing required param: recurring[interval].",
                    param="recurring[interval]",
                    code="parameter_missing",
                )
            recurring = {
                "interval": interval,
                "interval_count": _get_int(recurring_params, "interval_count", default=1),
                "usage_type": _get_enum(
                    recurring_params, "usage_type", ("licensed", "metered"), "licensed"
                ),
                "meter": _get_str(recurring_params, "meter"),
                "aggregate_usage": None,
                "trial_period_days": None,
            }
        price = self._base("price_", "price", params)
        price.update(
            {
                "active": _get_bool(params, "active", True),
                "billing_scheme": "per_unit",
                "currency": currency,
                "custom_unit_amount": None,
                "lookup_key": _get_str(params, "lookup_key"),
                "nickname": _get_str(params, "nickname"),
                "product": product_id,
                "recurring": recurring,
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring" if recurring else "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": decimal
                if decimal is not None
                else (str(unit_amount) if unit_amount is not None else None),
            }
        )
        self._insert("prices", price)
        self._emit("price.created", price)
        return _public(price)

    def _price_retrieve(self, params: Json, price_id: str) -> Json:
        return _public(self._get("prices", price_id, "price"))

    def _price_list(self, params: Json) -> Json:
        product_id = _get_str(params, "product")
        price_type = _get_str(params, "type")
        return self._list(
            "prices",
            params,
            "/v1/prices",
            lambda p: product_id in (None, p["product"]) and price_type in (None, p["type"]),
        )

    # ------------------------------------------------------------------ subscriptions

    def _sub_create(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer", required=True)
        assert customer_id is not None
        customer = self._get_customer(customer_id)
        items = params.get("items")
        if not isinstance(items, list) or not items:
            raise _invalid(
                "Missing required param: items.", param="items", code="parameter_missing"
            )
        prices = []
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("price"):
                raise _invalid(
                    f"Missing required param: items[{index}][price].",
                    param=f"items[{index}][price]",
                    code="parameter_missing",
                )
            price = self._get("prices", item["price"], f"items[{index}][price]")
            if price["recurring"] is None:
                raise _invalid(
                    f"The price specified ({price['id']}) is not recurring; "
                    "subscriptions require recurring prices.",
                    param=f"items[{index}][price]",
                )
            prices.append((price, _get_int(item, "quantity", default=1)))
        pm_id = _get_str(params, "default_payment_method")
        if pm_id:
            pm = self._get("payment_methods", pm_id, "default_payment_method")
            if pm["customer"] != customer_id:
                raise _invalid(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    param="default_payment_method",
                )
        usable_pm = pm_id or customer["invoice_settings"]["default_payment_method"]
        trial_days = _get_int(params, "trial_period_days")
        behavior = _get_enum(
            params,
            "payment_behavior",
            (
                "allow_incomplete",
                "default_incomplete",
                "error_if_incomplete",
                "pending_if_incomplete",
            ),
            "allow_incomplete",
        )
        total = sum((p["unit_amount"] or 0) * (q or 1) for p, q in prices)
        now = self._now()
        if trial_days:
            status = "trialing"
        elif behavior == "default_incomplete":
            status = "incomplete"
        elif total == 0:
            status = "active"
        elif usable_pm is None:
            raise _invalid(
                "This customer has no attached payment source or default payment method. "
                "Please consider adding a default payment method.",
                code="resource_missing",
                store=True,
            )
        else:
            spec: _Card = self._db["payment_methods"][usable_pm]["_spec"]
            ok = spec.outcome not in ("decline", "decline_on_charge", "auth_always") and not (
                spec.outcome == "auth_on_setup"
                and not self._db["payment_methods"][usable_pm]["_setup_done"]
            )
            if not ok and behavior == "error_if_incomplete":
                raise StripeApiError(
                    402,
                    "card_error",
                    spec.message or "Your card was declined.",
                    code=spec.code or "card_declined",
                    decline_code=spec.decline_code,
                )
            status = "active" if ok else "incomplete"
        sub = self._base("sub_", "subscription", params)
        first = prices[0][0]
        period = (
            _INTERVAL_SECONDS[first["recurring"]["interval"]] * first["recurring"]["interval_count"]
        )
        period_start = now
        trial_end = now + trial_days * 86_400 if trial_days else None
        period_end = trial_end or now + period
        sub_items = [
            {
                "id": _new_id("si_"),
                "object": "subscription_item",
                "created": now,
                "current_period_start": period_start,
                "current_period_end": period_end,
                "metadata": {},
                "price": _public(price),
                "quantity": quantity,
                "subscription": sub["id"],
            }
            for price, quantity in prices
        ]
        sub.update(
            {
                "customer": customer_id,
                "status": status,
                "currency": first["currency"],
                "items": {
                    "object": "list",
                    "data": sub_items,
                    "has_more": False,
                    "total_count": len(sub_items),
                    "url": f"/v1/subscription_items?subscription={sub['id']}",
                },
                "start_date": now,
                "billing_cycle_anchor": period_end,
                "current_period_start": period_start,
                "current_period_end": period_end,
                "cancel_at": None,
                "cancel_at_period_end": _get_bool(params, "cancel_at_period_end"),
                "canceled_at": None,
                "ended_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": _get_enum(
                    params,
                    "collection_method",
                    ("charge_automatically", "send_invoice"),
                    "charge_automatically",
                ),
                "default_payment_method": pm_id,
                "description": _get_str(params, "description"),
                "latest_invoice": None,
                "pending_setup_intent": None,
                "schedule": None,
                "trial_start": now if trial_days else None,
                "trial_end": trial_end,
            }
        )
        self._insert("subscriptions", sub)
        self._emit("customer.subscription.created", sub)
        return _public(sub)

    def _sub_retrieve(self, params: Json, sub_id: str) -> Json:
        return _public(self._get("subscriptions", sub_id, "subscription_exposed_id"))

    def _sub_update(self, params: Json, sub_id: str) -> Json:
        sub = self._get("subscriptions", sub_id, "subscription_exposed_id")
        if sub["status"] == "canceled" and set(params) - {
            "metadata",
            "cancellation_details",
            "expand",
        }:
            raise _invalid(
                "A canceled subscription can only update its cancellation_details and metadata.",
                store=True,
            )
        previous: Json = {}
        if "cancel_at_period_end" in params:
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]
            sub["cancel_at_period_end"] = _get_bool(params, "cancel_at_period_end")
            sub["cancel_at"] = sub["current_period_end"] if sub["cancel_at_period_end"] else None
        if "default_payment_method" in params:
            pm_id = _get_str(params, "default_payment_method")
            if pm_id:
                pm = self._get("payment_methods", pm_id, "default_payment_method")
                if pm["customer"] != sub["customer"]:
                    raise _invalid(
                        f"The customer does not have a payment method with the ID {pm_id}.",
                        param="default_payment_method",
                    )
            previous["default_payment_method"] = sub["default_payment_method"]
            sub["default_payment_method"] = pm_id
        if "description" in params:
            sub["description"] = _get_str(params, "description")
        details = _get_dict(params, "cancellation_details")
        for key in ("comment", "feedback"):
            if key in details:
                sub["cancellation_details"][key] = details[key] or None
        if "metadata" in params:
            previous["metadata"] = sub["metadata"]
            sub["metadata"] = _merge_metadata(sub["metadata"], params["metadata"])
        self._emit("customer.subscription.updated", sub, previous)
        return _public(sub)

    def _sub_cancel(self, params: Json, sub_id: str) -> Json:
        sub = self._get("subscriptions", sub_id, "subscription_exposed_id")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise _invalid(
                f"No such subscription: '{sub_id}' (it is already canceled)",
                param="subscription_exposed_id",
                code="resource_missing",
                status=404,
            )
        now = self._now()
        details = _get_dict(params, "cancellation_details")
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        sub["cancellation_details"] = {
            "comment": details.get("comment") or None,
            "feedback": details.get("feedback") or None,
            "reason": "cancellation_requested",
        }
        self._emit("customer.subscription.deleted", sub)
        return _public(sub)

    def _sub_list(self, params: Json) -> Json:
        customer_id = _get_str(params, "customer")
        price_id = _get_str(params, "price")
        status = _get_str(params, "status")

        def keep(sub: Json) -> bool:
            if status is None and sub["status"] == "canceled":
                return False  # Stripe hides canceled subscriptions unless asked
            if status not in (None, "all", sub["status"]):
                return False
            prices = {item["price"]["id"] for item in sub["items"]["data"]}
            return customer_id in (None, sub["customer"]) and price_id in (None, *prices)

        return self._list("subscriptions", params, "/v1/subscriptions", keep)

    # ------------------------------------------------------------------ events

    def _event_list(self, params: Json) -> Json:
        event_type = _get_str(params, "type")
        types = params.get("types")
        wanted = [event_type] if event_type else list(types or [])

        def keep(event: Json) -> bool:
            return not wanted or any(fnmatch.fnmatchcase(event["type"], t) for t in wanted)

        return self._list("events", params, "/v1/events", keep)

    def _event_retrieve(self, params: Json, event_id: str) -> Json:
        return _public(self._get("events", event_id))


def main(argv: list[str] | None = None) -> None:
    """Serve the fake as its own process on 127.0.0.1 until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="A local fake of Stripe's HTTP API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook-url", help="POST every event here, signed")
    parser.add_argument("--webhook-secret", default="", help="the whsec_… to sign them with")
    args = parser.parse_args(argv)
    fake = FakeStripe(args.port)
    print(fake.start(), flush=True)
    if args.webhook_url:
        fake.send_webhooks(args.webhook_url, args.webhook_secret)
    threading.Event().wait()


if __name__ == "__main__":
    main()
