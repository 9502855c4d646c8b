"""Sign-in and sign-out pages for operators (`/console/login`) and drivers (`/driver/login`).

The password is checked by the API's own token route (`POST /auth/operators/token`,
`POST /auth/token`: the same lockouts and audit); the browser then gets the session cookie, never
a token. Form posts from another origin are refused (Origin / Sec-Fetch-Site).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api import login_sessions, security
from api.console import cookies
from api.console.inner import Api, message_of
from api.console.render import page
from api.deps import PrincipalDep, SessionDep, SettingsDep

router = APIRouter(include_in_schema=False)

_HOMES = {"operator": "/console", "driver": "/driver"}
_TOKEN_ROUTES = {"operator": "/auth/operators/token", "driver": "/auth/token"}


def same_origin(request: Request) -> bool:
    """A form post from our own pages (browsers send Origin or Sec-Fetch-Site on POST)."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _safe_next(kind: str, target: str | None) -> str:
    home = _HOMES[kind]
    if target and target.startswith(home) and not target.startswith("//"):
        return target
    return home


def _form(request: Request, kind: str, error: str | None = None, **extra) -> Response:
    return page(
        request,
        "signin.html",
        None,
        status_code=400 if error else 200,
        action=f"{_HOMES[kind]}/login",
        error=error,
        **extra,
    )


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form (the console's own forms; nothing else is read)."""
    raw = await request.body()
    if len(raw) > 10_000:
        return {}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


async def _sign_in(request: Request, caller, settings, kind: str, form: dict[str, str]) -> Response:
    email, password = form.get("email", "")[:320], form.get("password", "")[:1000]
    target = form.get("next")
    if not email or not password:
        return _form(request, kind, "Enter your e-mail and password.", next=target)
    if not same_origin(request):
        return _form(request, kind, "This form must be sent from Ampflow's own page.")
    api = Api(request, caller)
    answer = await api.call(
        "POST",
        _TOKEN_ROUTES[kind],
        data={"grant_type": "password", "username": email, "password": password},
    )
    if answer.status_code == 429:
        return _form(request, kind, "Too many attempts: wait a few minutes, then try again.")
    if answer.status_code != 200:
        reason = "Wrong e-mail or password." if answer.status_code == 400 else message_of(answer)
        return _form(request, kind, reason, email=email, next=target)
    pair = login_sessions.TokenPair.model_validate(answer.json())
    claims = security.read_access_token(security.access_keys(settings), pair.access_token)
    response = RedirectResponse(_safe_next(kind, target), status_code=303)
    cookies.set_cookie(response, settings, claims.session_id, settings.refresh_token_ttl_s)
    return response


def _sign_out(request: Request, db, settings, kind: str, csrf: str | None) -> Response:
    value = request.cookies.get(cookies.COOKIE)
    session_id = cookies.session_id_of(settings, value) if value else None
    if session_id and cookies.csrf_ok(settings, session_id, csrf) and same_origin(request):
        login_sessions.revoke_sessions(db, session_ids=[session_id])
    response = RedirectResponse(f"{_HOMES[kind]}/login", status_code=303)
    cookies.clear_cookie(response)
    return response


@router.get("/")
def root() -> RedirectResponse:
    """The console is the API's home page."""
    return RedirectResponse("/console", status_code=307)


@router.get("/console/login")
def operator_sign_in_page(request: Request, next: str | None = None) -> Response:
    return _form(request, "operator", next=next)


@router.post("/console/login")
async def operator_sign_in(request: Request, caller: PrincipalDep, settings: SettingsDep):
    return await _sign_in(request, caller, settings, "operator", await form_fields(request))


@router.post("/console/logout")
async def operator_sign_out(request: Request, db: SessionDep, settings: SettingsDep):
    csrf = (await form_fields(request)).get(cookies.CSRF_FIELD)
    return _sign_out(request, db, settings, "operator", csrf)


@router.get("/driver/login")
def driver_sign_in_page(request: Request, next: str | None = None) -> Response:
    return _form(request, "driver", next=next)


@router.post("/driver/login")
async def driver_sign_in(request: Request, caller: PrincipalDep, settings: SettingsDep):
    return await _sign_in(request, caller, settings, "driver", await form_fields(request))


@router.post("/driver/logout")
async def driver_sign_out(request: Request, db: SessionDep, settings: SettingsDep):
    csrf = (await form_fields(request)).get(cookies.CSRF_FIELD)
    return _sign_out(request, db, settings, "driver", csrf)
