"""Templates and what every page knows: the caller, its CSRF token, the menu its role may see."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.console import cookies
from domain.roles import Principal, Role, allowed_roles

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# (label, page) of the operator menu; an item shows only to roles its page admits.
MENU = [
    ("Fleet", "/console"),
    ("Sessions", "/console/sessions"),
    ("Maintenance", "/console/maintenance"),
    ("Alerts", "/console/alerts"),
    ("Analytics", "/console/analytics"),
    ("Drivers", "/console/drivers"),
    ("Tariffs", "/console/tariffs"),
    ("Network", "/console/network"),
    ("Audit", "/console/audit"),
    ("Operators", "/console/admin"),
]


def money(amount: int | None, currency: str | None = "EUR") -> str:
    """Minor units as `12.34 EUR`."""
    if amount is None:
        return "–"
    return f"{amount / 100:,.2f} {currency or ''}".strip()


def kwh(wh: float | int | None) -> str:
    return "–" if wh is None else f"{wh / 1000:,.3f} kWh"


def kw(watts: float | int | None) -> str:
    return "–" if watts is None else f"{watts / 1000:,.1f} kW"


def when(value: str | datetime | None) -> str:
    """An ISO time as `2026-12-05 07:31:02 UTC`."""
    if not value:
        return "–"
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def may(caller: Principal | None, method: str, path: str) -> bool:
    """Whether the caller's role may call `method path` (a route template)."""
    return caller is not None and caller.role in allowed_roles(method, path)


def temporal_link(request: Request, workflow_id: str) -> str:
    settings = request.app.state.settings
    base = settings.temporal_ui_url or f"http://127.0.0.1:{settings.temporal_ui_port}"
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{base.rstrip('/')}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


templates.env.filters.update(
    money=money, kwh=kwh, kw=kw, when=when, urlpart=lambda v: quote(str(v), safe="")
)


def page(
    request: Request,
    template: str,
    caller: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with the common context."""
    settings = request.app.state.settings
    csrf = ""
    if caller is not None and caller.session_id is not None:
        csrf = cookies.csrf_token(settings, caller.session_id)
    menu = []
    if caller is not None and caller.role != Role.DRIVER:
        menu = [(label, url) for label, url in MENU if may(caller, "GET", url)]
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": caller,
            "csrf": csrf,
            "menu": menu,
            "may": lambda method, path: may(caller, method, path),
            "temporal_link": lambda workflow_id: temporal_link(request, workflow_id),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
