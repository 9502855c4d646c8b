"""Every state-changing route of the API is reached from the console or the driver pages (a
control whose `data-api` names it), or is on the short list below with the reason it is not.
Controls are read from the templates; a control naming no route fails too (a typo)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import iter_route_contexts

from api.main import create_app

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "console" / "templates"
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}

# Reached by a console page on the server side (the form posts to the page, which calls it).
SERVER_SIDE = {
    "POST /auth/operators/token": "POST /console/login",
    "POST /auth/token": "POST /driver/login",
}
# Not for a person at the console, each with its reason.
EXCLUDED = {
    "POST /auth/logout": "signs out by refresh token (apps); the console's sign-out revokes "
    "its own session (POST /console/logout)",
    "POST /auth/register": "drivers register in their own app; operators create drivers",
    "POST /auth/register/confirm": "the code e-mailed by POST /auth/register, in the app",
    "POST /auth/password-reset": "asked from the app's sign-in screen",
    "POST /auth/password-reset/confirm": "the code e-mailed by the reset, in the app",
    "POST /codec/decode": "the Temporal UI's codec server, called by the Temporal UI",
    "POST /codec/encode": "the Temporal UI's codec server, called by the Temporal UI",
    "POST /webhooks/stripe": "called by Stripe",
    "POST /pay/{station_id}/{connector_id}": "a payment link for apps that pay with Stripe.js "
    "(a client secret); the guest page pays on Stripe's checkout (.../checkout)",
    "PUT /uploads/{token}": "chargers upload diagnostics",
    "POST /uploads/{token}": "chargers upload diagnostics",
    "PUT /uploads/{token}/{file_name}": "chargers upload diagnostics",
    "POST /uploads/{token}/{file_name}": "chargers upload diagnostics",
    "POST /console/login": "the sign-in form itself (a page, not a control)",
    "POST /console/logout": "the sign-out button (a plain form on every page)",
    "POST /driver/login": "the driver sign-in form itself",
    "POST /driver/logout": "the sign-out button of the driver pages",
}

_CALL = re.compile(r'action\("(?P<method>[A-Z]+)",\s*(?P<expr>[^,]+?),\s*"')
_STRING = re.compile(r'"([^"]*)"')


def _shape(path: str) -> str:
    """A path with every parameter as `{}`: `/stations/{}/reset`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _path_of(expr: str) -> str:
    """The path a Jinja expression builds: literals kept, each other part a parameter."""
    parts = []
    for part in expr.split("~"):
        literal = _STRING.fullmatch(part.strip())
        parts.append(literal.group(1) if literal else "{}")
    return re.sub(r"(\{\})+", "{}", "".join(parts))


def console_controls() -> dict[str, list[str]]:
    """`METHOD /shape` → the templates with a control calling it."""
    found: dict[str, list[str]] = {}
    for template in sorted(TEMPLATES.glob("*.html")):
        for match in _CALL.finditer(template.read_text()):
            key = f"{match['method']} {_shape(_path_of(match['expr']))}"
            found.setdefault(key, []).append(template.name)
    return found


def changing_routes() -> set[str]:
    app = create_app(__import__("runtime.settings").settings.Settings(), "postgresql://x@x/x")
    routes = set()
    for context in iter_route_contexts(app.routes):
        for method in set(context.methods or ()) & CHANGES:
            routes.add(f"{method} {context.path}")
    return routes


def test_every_state_changing_route_has_a_console_control_or_a_reason():
    controls = console_controls()
    routes = changing_routes()
    assert len(routes) > 60
    missing = sorted(
        route
        for route in routes
        if route not in EXCLUDED
        and route not in SERVER_SIDE
        and f"{route.split(' ')[0]} {_shape(route.split(' ', 1)[1])}" not in controls
    )
    assert not missing, f"no console control reaches: {missing}"


def test_every_control_calls_a_route_and_every_exclusion_is_a_route():
    shapes = {f"{r.split(' ')[0]} {_shape(r.split(' ', 1)[1])}" for r in changing_routes()}
    unknown = {key: where for key, where in console_controls().items() if key not in shapes}
    assert not unknown, f"controls that call no route: {unknown}"
    routes = changing_routes()
    assert not set(EXCLUDED) - routes and not set(SERVER_SIDE) - routes
