"""Who may call what: the roles, the principal making a request, and the single route table.

`ROUTE_ROLES` maps every API route (`"METHOD /path/{template}"`) to the roles allowed to call it.
The API's access guard reads it on every request and `tests/access/test_role_matrix.py` walks
every route of the app against it, so a route added without an entry fails the tests (at run
time an unlisted route is admin-only). Ownership (a driver sees only their own data) is checked
by the routes themselves, on top of this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything
    TECHNICIAN = "technician"  # maintenance and station commands
    SUPPORT = "support"  # read, refunds, unblock cards
    ANALYST = "analyst"  # read-only
    DRIVER = "driver"  # their own data through /me
    ANONYMOUS = "anonymous"  # no credentials


OPERATOR_ROLES = frozenset({Role.ADMIN, Role.TECHNICIAN, Role.SUPPORT, Role.ANALYST})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, as established by the access guard."""

    role: Role
    kind: str  # anonymous | bootstrap | api_key | operator | driver
    subject_id: int | None = None
    session_id: str | None = None  # the login session behind a bearer token

    @property
    def actor(self) -> str:
        """How the caller appears in the audit log and in `requested_by` fields."""
        if self.kind == "bootstrap":
            return "admin"  # the AMPFLOW_ADMIN_API_KEY
        if self.subject_id is None:
            return self.kind
        return f"{self.kind.replace('_', '-')}:{self.subject_id}"

    @property
    def driver_id(self) -> int | None:
        return self.subject_id if self.kind == "driver" else None


ANONYMOUS = Principal(role=Role.ANONYMOUS, kind="anonymous")

_A, _T, _S, _N, _D = Role.ADMIN, Role.TECHNICIAN, Role.SUPPORT, Role.ANALYST, Role.DRIVER
PUBLIC = frozenset(Role)
SIGNED_IN = frozenset(Role) - {Role.ANONYMOUS}
ADMIN = frozenset({_A})
READ = OPERATOR_ROLES  # anything an operator may look at
STATION_OPS = frozenset({_A, _T})  # remote commands, local lists
CUSTOMER_READ = frozenset({_A, _S, _N})  # drivers, tokens, sessions, audit
CARD_STATUS = frozenset({_A, _S})  # block / unblock a card, payment cards
MONEY = frozenset({_A, _S})  # refunds, top-ups, plan changes
PERSONAL_DATA = frozenset({_A, _S})  # decoded Temporal payloads: id tokens, e-mail addresses
DRIVER = frozenset({_D})

ROUTE_ROLES: dict[str, frozenset[Role]] = {
    # docs and health
    "GET /health": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    # accounts and tokens (api/routes/auth.py)
    "POST /auth/register": PUBLIC,
    "POST /auth/register/confirm": PUBLIC,
    "GET /dev/mailbox": ADMIN,  # outgoing mail without SMTP (registration codes, resets)
    "POST /auth/token": PUBLIC,
    "POST /auth/operators/token": PUBLIC,
    "POST /auth/logout": PUBLIC,
    "POST /auth/logout-all": SIGNED_IN,
    "POST /auth/password": SIGNED_IN,
    "POST /auth/password-reset": PUBLIC,
    "POST /auth/password-reset/confirm": PUBLIC,
    "GET /auth/me": SIGNED_IN,
    # the driver's own data (api/routes/me.py)
    "GET /me": DRIVER,
    "PATCH /me": DRIVER,
    "DELETE /me": DRIVER,
    "GET /me/tokens": DRIVER,
    "POST /me/tokens/{token_id}/block": DRIVER,
    "GET /me/stations": DRIVER,
    "GET /me/stations/{station_id}": DRIVER,
    "POST /me/sessions": DRIVER,
    "GET /me/sessions": DRIVER,
    "GET /me/sessions/{session_id}": DRIVER,
    "POST /me/sessions/{session_id}/stop": DRIVER,
    "GET /me/sessions/{session_id}/receipt": DRIVER,
    "GET /me/sessions/{session_id}/receipt.pdf": DRIVER,
    # operators and API keys (api/routes/operators.py)
    "POST /operators": ADMIN,
    "GET /operators": ADMIN,
    "GET /operators/{operator_id}": ADMIN,
    "PATCH /operators/{operator_id}": ADMIN,
    "POST /api-keys": ADMIN,
    "GET /api-keys": ADMIN,
    "DELETE /api-keys/{key_id}": ADMIN,
    # audit log (api/routes/audit.py)
    "GET /audit": CUSTOMER_READ,
    # drivers and credentials (api/routes/drivers.py)
    "POST /drivers": ADMIN,
    "GET /drivers": CUSTOMER_READ,
    "GET /drivers/{driver_id}": CUSTOMER_READ,
    "DELETE /drivers/{driver_id}": ADMIN,
    "POST /drivers/{driver_id}/tokens": ADMIN,
    "POST /tokens": ADMIN,
    "GET /tokens": CUSTOMER_READ,
    "PATCH /tokens/{token}": CARD_STATUS,  # support may change the status only
    # local authorization lists (api/routes/local_lists.py)
    "GET /stations/{station_id}/local-list": READ,
    "PUT /stations/{station_id}/local-list": STATION_OPS,
    "POST /stations/{station_id}/local-list/sync": STATION_OPS,
    "POST /stations/{station_id}/local-list/check": STATION_OPS,
    "GET /stations/{station_id}/local-list/versions": READ,
    # stations (api/routes/stations.py)
    "POST /stations": ADMIN,
    "GET /stations": READ,
    "GET /stations/{station_id}": READ,
    "GET /stations/{station_id}/messages": READ,
    # station commands (api/routes/commands.py)
    "POST /stations/{station_id}/commands": STATION_OPS,
    "GET /stations/{station_id}/commands": READ,
    # fleet commands (api/routes/fleet_commands.py)
    "POST /fleet-commands": STATION_OPS,
    "GET /fleet-commands/{workflow_id}": READ,
    # reports chargers send after a command (api/routes/station_reports.py)
    "GET /stations/{station_id}/reports": READ,
    "GET /stations/{station_id}/reports/{kind}/{request_id}": READ,
    "GET /stations/{station_id}/customer-information/{request_id}": PERSONAL_DATA,
    "GET /stations/{station_id}/customer-information/{request_id}/text": PERSONAL_DATA,
    # station certificates the operator's CA signed (api/routes/station_certificates.py)
    "GET /stations/{station_id}/certificates": READ,
    "POST /stations/{station_id}/certificates/renew": STATION_OPS,
    # tariffs (api/routes/tariffs.py)
    "POST /tariffs": ADMIN,
    "GET /tariffs": READ,
    "GET /tariffs/{tariff_id}": READ,
    "PATCH /tariffs/{tariff_id}": ADMIN,
    "GET /tariffs/{tariff_id}/preview": PUBLIC,
    "GET /stations/{station_id}/price-preview": PUBLIC,
    "PUT /stations/{station_id}/connectors/{connector_id}/tariff": ADMIN,
    "PUT /tariff-groups/{group_id}": ADMIN,
    # station registration (api/routes/stations.py)
    "POST /stations/{station_id}/approve": STATION_OPS,
    "POST /stations/{station_id}/reject": STATION_OPS,
    "PUT /stations/{station_id}/pending-next-boot": STATION_OPS,
    # maintenance (api/routes/maintenance.py, firmware.py, uploads.py)
    "POST /stations/{station_id}/diagnostics": STATION_OPS,
    "POST /stations/{station_id}/reset": STATION_OPS,
    "POST /stations/{station_id}/unlock": STATION_OPS,
    "POST /stations/{station_id}/availability": STATION_OPS,
    "GET /stations/{station_id}/configuration": STATION_OPS,  # asks the charger
    "PUT /stations/{station_id}/configuration": STATION_OPS,
    "GET /stations/{station_id}/device-model": READ,
    "POST /stations/{station_id}/device-model/refresh": STATION_OPS,
    "GET /maintenance/jobs": READ,
    "GET /maintenance/jobs/{workflow_id}": READ,
    "GET /maintenance/jobs/{workflow_id}/file": STATION_OPS,
    "POST /maintenance/jobs/{workflow_id}/cancel": STATION_OPS,
    "GET /maintenance/alerts": READ,
    "POST /maintenance/alerts/{alert_id}/resolve": STATION_OPS,
    "POST /firmware": STATION_OPS,
    "GET /firmware": READ,
    "GET /firmware/{firmware_id}": READ,
    "GET /firmware/{firmware_id}/content": STATION_OPS,
    "GET /firmware/files/{token}/{file_name}": PUBLIC,  # chargers; the URL token is the secret
    "POST /stations/{station_id}/firmware-update": STATION_OPS,
    "POST /rollouts": STATION_OPS,
    "GET /rollouts/{name}": READ,
    "POST /rollouts/{name}/pause": STATION_OPS,
    "POST /rollouts/{name}/resume": STATION_OPS,
    "POST /rollouts/{name}/cancel": STATION_OPS,
    "PUT /uploads/{token}": PUBLIC,  # chargers upload diagnostics; the URL token is the secret
    "POST /uploads/{token}": PUBLIC,
    "PUT /uploads/{token}/{file_name}": PUBLIC,
    "POST /uploads/{token}/{file_name}": PUBLIC,
    # payments, plans, receipts (api/routes/payments.py, plans.py, webhooks.py)
    "POST /drivers/{driver_id}/cards": CARD_STATUS,
    "GET /drivers/{driver_id}/account": CUSTOMER_READ,
    "PUT /drivers/{driver_id}/account": ADMIN,
    "POST /drivers/{driver_id}/top-ups": MONEY,
    "GET /drivers/{driver_id}/statement": CUSTOMER_READ,
    "GET /sessions/{session_id}/payments": CUSTOMER_READ,
    "POST /sessions/{session_id}/refunds": MONEY,
    "GET /sessions/{session_id}/receipt.pdf": CUSTOMER_READ,
    "GET /payments/reconciliation": CUSTOMER_READ,
    "POST /pay/{station_id}/{connector_id}": PUBLIC,  # guests pay without an account
    "POST /pay/{station_id}/{connector_id}/checkout": PUBLIC,  # on Stripe's checkout page
    "GET /pay/{token}": PUBLIC,
    "GET /receipts/{token}": PUBLIC,  # receipt links; the URL token is the secret
    "GET /receipts/{token}.pdf": PUBLIC,
    "POST /webhooks/stripe": PUBLIC,  # checked by the Stripe signature
    "POST /plans": ADMIN,
    "GET /plans": READ,
    "POST /plans/billing-runs": ADMIN,
    "POST /drivers/{driver_id}/plan": MONEY,
    "DELETE /drivers/{driver_id}/plan": MONEY,
    "GET /drivers/{driver_id}/plan/usage": CUSTOMER_READ,
    # monitoring (api/routes/live.py, alerts.py, analytics.py, reports.py)
    "GET /live": READ,
    "GET /fleet": READ,
    "GET /alerts": READ,
    "GET /alerts/{alert_id}": READ,
    "POST /alerts/{alert_id}/acknowledge": STATION_OPS,
    "POST /alerts/{alert_id}/resolve": STATION_OPS,
    "GET /analytics/usage": READ,
    "GET /analytics/heatmap": READ,
    "GET /analytics/failures": READ,
    "GET /analytics/utilization": READ,
    "GET /analytics/uptime": READ,
    "GET /analytics/summary": CUSTOMER_READ,
    "GET /analytics/revenue": CUSTOMER_READ,
    "GET /analytics/{table}.csv": CUSTOMER_READ,
    "GET /analytics/charts/{chart}.{fmt}": CUSTOMER_READ,
    "GET /maintenance-windows": READ,
    "POST /maintenance-windows": STATION_OPS,
    "DELETE /maintenance-windows/{window_id}": STATION_OPS,
    "GET /sites": READ,
    "PUT /sites/{site_id}": ADMIN,
    # locations (sites) and connector specifications (api/routes/locations.py)
    "GET /locations": READ,
    "POST /locations": STATION_OPS,
    "GET /locations/{location_id}": READ,
    "PATCH /locations/{location_id}": STATION_OPS,
    "DELETE /locations/{location_id}": STATION_OPS,
    "PUT /stations/{station_id}/location": STATION_OPS,
    "PUT /stations/{station_id}/connectors/{connector_id}/spec": STATION_OPS,
    # smart charging: site load limits and live load (api/routes/site_load.py)
    "PUT /sites/{site_id}/load-limit": STATION_OPS,
    "GET /sites/{site_id}/load-limit": READ,
    "DELETE /sites/{site_id}/load-limit": STATION_OPS,
    "GET /sites/{site_id}/load": READ,
    "PUT /stations/{station_id}/load-limit": STATION_OPS,
    "DELETE /stations/{station_id}/load-limit": STATION_OPS,
    "GET /stations/{station_id}/composite-schedule": STATION_OPS,  # asks the charger
    "GET /reports": CUSTOMER_READ,
    "GET /reports/{report_id}": CUSTOMER_READ,
    "GET /reports/{report_id}/download": CUSTOMER_READ,
    "GET /reports/sessions.csv": CUSTOMER_READ,
    "GET /reports/schedule": CUSTOMER_READ,
    "PUT /reports/schedule": ADMIN,
    "POST /reports/monthly": ADMIN,
    # Temporal codec server (api/routes/codec.py): the UI shows decoded payloads
    "POST /codec/decode": PERSONAL_DATA,
    "POST /codec/encode": ADMIN,  # input typed into the UI, encrypted for a workflow
    # sessions (api/routes/sessions.py)
    "POST /sessions": STATION_OPS,  # remote start for a credential
    "POST /sessions/{session_id}/stop": STATION_OPS,
    "GET /sessions": CUSTOMER_READ,
    "GET /sessions/{session_id}": CUSTOMER_READ,
    "GET /sessions/{session_id}/receipt": CUSTOMER_READ,
    # the operator console (api/console/): pages read through the routes above, with the
    # caller's own credentials, so a page admits at most the roles of what it shows
    "GET /": PUBLIC,  # → /console
    "GET /console/login": PUBLIC,
    "POST /console/login": PUBLIC,  # checked by POST /auth/operators/token
    "POST /console/logout": PUBLIC,  # the session cookie and its CSRF token
    "GET /console": READ,  # fleet
    "GET /console/stations/{station_id}": READ,
    "GET /console/sessions": CUSTOMER_READ,
    "GET /console/sessions/{session_id}": CUSTOMER_READ,
    "GET /console/sessions/{session_id}/stream": CUSTOMER_READ,
    "GET /console/maintenance": READ,
    "GET /console/maintenance/{workflow_id}": READ,
    "GET /console/maintenance/{workflow_id}/stream": READ,
    "GET /console/alerts": READ,
    "GET /console/analytics": READ,
    "GET /console/drivers": CUSTOMER_READ,
    "GET /console/drivers/{driver_id}": CUSTOMER_READ,
    "GET /console/tariffs": READ,
    "GET /console/network": READ,
    "GET /console/audit": CUSTOMER_READ,
    "GET /console/admin": ADMIN,
    "GET /console/account": READ,
    # driver and guest pages (api/console/)
    "GET /driver/login": PUBLIC,
    "POST /driver/login": PUBLIC,  # checked by POST /auth/token
    "POST /driver/logout": PUBLIC,
    "GET /driver": DRIVER,
    "GET /driver/sessions": DRIVER,
    "GET /driver/sessions/{session_id}": DRIVER,
    "GET /driver/sessions/{session_id}/stream": DRIVER,
    "GET /driver/account": DRIVER,
    "GET /charge/{station_id}/{connector_id}": PUBLIC,  # what a charger's QR code opens
    "GET /guest/{token}": PUBLIC,  # the URL token is the secret
    "GET /guest/{token}/live": PUBLIC,
}

UNLISTED = ADMIN  # a route missing from the table: admin only (and the role-matrix test fails)


def route_key(method: str, path: str) -> str:
    """The table key of a route; HEAD is answered like GET."""
    return f"{'GET' if method == 'HEAD' else method} {path}"


def allowed_roles(method: str, path: str) -> frozenset[Role]:
    """The roles that may call `method path` (path as the route's template)."""
    return ROUTE_ROLES.get(route_key(method, path), UNLISTED)


def public_paths() -> frozenset[str]:
    """Route templates that anonymous callers may use (for tests and docs)."""
    return frozenset(
        key.split(" ", 1)[1] for key, roles in ROUTE_ROLES.items() if Role.ANONYMOUS in roles
    )
