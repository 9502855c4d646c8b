"""Dependencies shared by the routes: DB session, Temporal client, and who the caller is.

Every request passes `require_access`: it establishes the caller (`Principal`) from an
`X-API-Key` (the bootstrap admin key or a stored API key) or an `Authorization: Bearer` access
token, and checks their role against `domain.roles.ROUTE_ROLES` for the matched route —
401 without valid credentials, 403 with the wrong role. Ownership is checked by the routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.routing import iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select
from temporalio.client import Client

from api import security
from api.console import cookies
from api.inputs import ID_MAX, RowId  # noqa: F401  (re-exported for the routes)
from domain.roles import ANONYMOUS, OPERATOR_ROLES, Principal, Role, allowed_roles
from runtime.settings import Settings
from store.access_tables import ApiKey, AuthSession
from store.audit import audit, was_audited

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False, description="an access token from POST /auth/token")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


def _unauthorized(detail: str, scheme: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": scheme})


def _from_api_key(db: Session, settings: Settings, key: str) -> Principal | None:
    if settings.admin_api_key and security.same_secret(key, settings.admin_api_key):
        return Principal(role=Role.ADMIN, kind="bootstrap")
    row = db.exec(select(ApiKey).where(ApiKey.key_hash == security.secret_hash(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(role=Role(row.role), kind="api_key", subject_id=row.id)


def _from_bearer(db: Session, settings: Settings, token: str) -> Principal | None:
    try:
        claims = security.read_access_token(security.access_keys(settings), token)
    except security.InvalidToken:
        return None
    session = db.get(AuthSession, claims.session_id)
    now = datetime.now(UTC)
    if (
        session is None
        or session.revoked_at is not None
        or session.expires_at <= now
        or f"{session.subject_kind}:{session.subject_id}" != claims.subject
    ):
        return None
    return Principal(
        role=Role(session.role),
        kind=session.subject_kind,
        subject_id=session.subject_id,
        session_id=session.id,
    )


def _route_template(request: Request) -> str | None:
    """The matched route's full path template (`/stations/{station_id}`)."""
    route = request.scope.get("route")
    if route is None:
        return None
    paths: dict[int, str] | None = getattr(request.app.state, "route_paths", None)
    if paths is None:
        paths = {
            id(context.original_route): context.path
            for context in iter_route_contexts(request.app.routes)
            if context.path
        }
        request.app.state.route_paths = paths
    return paths.get(id(route), getattr(route, "path", None))


def identify(
    request: Request,
    db: SessionDep,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal | None:
    """The caller, ANONYMOUS without credentials, None with invalid ones."""
    settings: Settings = request.app.state.settings
    if api_key is not None:
        return _from_api_key(db, settings, api_key)
    if bearer is not None:
        return _from_bearer(db, settings, bearer.credentials)
    cookie = request.cookies.get(cookies.COOKIE)  # the console's sign-in (api/console)
    if cookie is not None:
        return cookies.principal(request, db, settings, cookie)
    return ANONYMOUS


def require_access(
    request: Request, caller: Annotated[Principal | None, Depends(identify)]
) -> Principal:
    """Admit the caller if their role may use the matched route (the single route table)."""
    template = _route_template(request)
    roles = allowed_roles(request.method, template or request.url.path)
    if Role.ANONYMOUS in roles:
        return caller or ANONYMOUS
    if caller is None and getattr(request.state, "csrf_failed", False):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong: reload")
    if caller is None:
        scheme = "Bearer" if request.headers.get("Authorization") else "APIKey"
        raise _unauthorized("missing or invalid credentials", scheme)
    if caller.role == Role.ANONYMOUS:
        raise _unauthorized("missing or invalid credentials", "APIKey")
    if caller.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
    return caller


def operator_name(caller: Annotated[Principal, Depends(require_access)]) -> str:
    """The caller's audit name (`admin`, `operator:3`, `api-key:5`) for operator routes."""
    return caller.actor


def require_driver(caller: Annotated[Principal, Depends(require_access)]) -> Principal:
    """The caller must be a signed-in driver (the route table already says so)."""
    if caller.driver_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only drivers have /me")
    return caller


PrincipalDep = Annotated[Principal, Depends(require_access)]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def commit_before_response(
    request: Request, db: Annotated[Session, Depends(get_db)], caller: PrincipalDep
) -> Iterator[None]:
    """Commit the request's transaction before the answer is sent (an app-level dependency of
    function scope): a 2xx means the change is durable — a sign-out, a revocation, a demotion —
    and a value the database refuses at commit is still answered (422, `api.errors`).
    `get_db` (request scope) closes the session after the response, so streams may keep reading.

    An operator's state-changing request that wrote no audit entry of its own gets one here
    (action = the route, target = the path), so the audit log is complete by construction."""
    yield
    if request.method not in _READS and caller.role in OPERATOR_ROLES and not was_audited(db):
        template = _route_template(request) or request.url.path
        params = {k: str(v)[:200] for k, v in request.path_params.items()}
        audit(db, caller.actor, f"{request.method} {template}", request.url.path, params)
    db.commit()


DriverDep = Annotated[Principal, Depends(require_driver)]
# Operator routes keep `_: OperatorDep` / `who: OperatorDep`: the route table decides the roles.
OperatorDep = Annotated[str, Depends(operator_name)]
