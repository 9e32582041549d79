"""Routes: translate HTTP to use-case calls and back. No business rules here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError

from auth_service.adapters.http import schemas
from auth_service.adapters.http.client_ip import client_ip
from auth_service.adapters.http.problems import PROBLEM_JSON, problem
from auth_service.application.account import ProfileChanges
from auth_service.application.common import Principal, TokenPair
from auth_service.application.ports import RequestContext
from auth_service.application.service import AuthService
from auth_service.domain.errors import InvalidToken
from auth_service.domain.model import Profile

ReadinessProbe = Callable[[], Awaitable[None]]

bearer = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)


# 400: a body that is not even text (invalid UTF-8) fails before validation; FastAPI answers 400, not 422.
def _problem_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": schemas.Problem, "content": {PROBLEM_JSON: {}}} for s in statuses}


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, a
# thread-pool hop on every request (~12 % of GET /users/me's CPU per request, measured with `make bench`).
async def service(request: Request) -> AuthService:
    return request.app.state.auth_service  # type: ignore[no-any-return]


async def request_context(request: Request) -> RequestContext:
    user_agent = request.headers.get("user-agent")
    return RequestContext(ip=client_ip(request, request.app.state.trusted_proxy_count),
                          user_agent=user_agent[:512] if user_agent else None)


def _required(token: str | None) -> str:
    if not token:
        raise InvalidToken("Authentication required: send 'Authorization: Bearer <access token>'.")
    return token


async def current_principal(
    token: Annotated[str | None, Depends(bearer)], auth: Annotated[AuthService, Depends(service)]
) -> Principal:
    return await auth.authenticate(_required(token))


Auth = Annotated[AuthService, Depends(service)]
Caller = Annotated[Principal, Depends(current_principal)]
Context = Annotated[RequestContext, Depends(request_context)]


def _tokens(pair: TokenPair) -> schemas.TokenResponse:
    return schemas.TokenResponse(access_token=pair.access_token, refresh_token=pair.refresh_token,
                                 expires_in=pair.expires_in)


def _profile(profile: Profile) -> schemas.ProfileResponse:
    return schemas.ProfileResponse(
        id=profile.id, email=profile.email, display_name=profile.display_name, bio=profile.bio,
        avatar_url=profile.avatar_url, created_at=profile.created_at, updated_at=profile.updated_at,
    )


auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
ops_router = APIRouter(tags=["operations"])


@auth_router.post("/register", status_code=201, response_model=schemas.ProfileResponse,
                  responses=_problem_docs(400, 409, 422, 503))
async def register(body: schemas.RegisterRequest, auth: Auth, context: Context) -> schemas.ProfileResponse:
    return _profile(await auth.register(body.email, body.password, body.display_name, context))


_OAUTH2_FORM_SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["password"]},
        "username": {"type": "string", "description": "The account's email", "maxLength": 320},
        "password": {"type": "string", "maxLength": 1024},
        "scope": {"type": "string"},
    },
}
_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": schemas.LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": _OAUTH2_FORM_SCHEMA},
        },
    }
}


async def _login_credentials(request: Request) -> schemas.LoginRequest:
    """JSON {email, password}, or the OAuth2 password grant form (username = email) used by /docs."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            if form.get("grant_type") not in (None, "", "password"):
                raise RequestValidationError([{"loc": ("body", "grant_type"), "msg": "must be 'password'",
                                               "type": "value_error"}])
            return schemas.LoginRequest(email=str(form.get("username") or ""),
                                        password=str(form.get("password") or ""))
        return schemas.LoginRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_input=False)]
        ) from None


@auth_router.post("/login", response_model=schemas.TokenResponse, openapi_extra=_LOGIN_BODY,
                  responses=_problem_docs(400, 401, 422, 429, 503))
async def login(request: Request, auth: Auth, context: Context) -> schemas.TokenResponse:
    credentials = await _login_credentials(request)
    return _tokens(await auth.login(credentials.email, credentials.password, context))


@auth_router.post("/refresh", response_model=schemas.TokenResponse, responses=_problem_docs(400, 401, 422, 503))
async def refresh(body: schemas.RefreshRequest, auth: Auth, context: Context) -> schemas.TokenResponse:
    return _tokens(await auth.refresh(body.refresh_token, context))


@auth_router.post("/logout", status_code=204, responses=_problem_docs(401, 503))
async def logout(caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.logout(caller, context)
    return Response(status_code=204)


@auth_router.post("/logout-all", status_code=204, responses=_problem_docs(401, 503))
async def logout_all(caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.logout_all(caller, context)
    return Response(status_code=204)


@auth_router.get("/sessions", response_model=list[schemas.SessionResponse], responses=_problem_docs(401, 503))
async def list_sessions(caller: Caller, auth: Auth) -> list[schemas.SessionResponse]:
    return [
        schemas.SessionResponse(id=v.session.id, created_at=v.session.created_at,
                                last_used_at=v.session.last_used_at, user_agent=v.session.user_agent,
                                ip=v.session.ip, current=v.current)
        for v in await auth.list_sessions(caller)
    ]


@auth_router.delete("/sessions/{session_id}", status_code=204, responses=_problem_docs(401, 404, 422, 503))
async def revoke_session(session_id: UUID, caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.revoke_session(caller, session_id, context)
    return Response(status_code=204)


@users_router.get("/me", response_model=schemas.ProfileResponse, responses=_problem_docs(401, 503))
async def get_me(token: Annotated[str | None, Depends(bearer)], auth: Auth) -> schemas.ProfileResponse:
    # Authenticates inside the use case: the session state and the profile come from Redis in one round trip.
    return _profile(await auth.get_own_profile(_required(token)))


@users_router.patch("/me", response_model=schemas.ProfileResponse,
                    responses=_problem_docs(400, 401, 422, 503))
async def update_me(body: schemas.ProfileUpdateRequest, caller: Caller, auth: Auth) -> schemas.ProfileResponse:
    changes = ProfileChanges(display_name=body.display_name, bio=body.bio, avatar_url=body.avatar_url,
                             fields_set=frozenset(body.model_fields_set))
    return _profile(await auth.update_profile(caller, changes))


@users_router.post("/me/password", status_code=204, responses=_problem_docs(400, 401, 422, 503))
async def change_password(
    body: schemas.PasswordChangeRequest, caller: Caller, auth: Auth, context: Context
) -> Response:
    await auth.change_password(caller, body.current_password, body.new_password, context)
    return Response(status_code=204)


@users_router.delete("/me", status_code=204, responses=_problem_docs(400, 401, 422, 503))
async def delete_me(body: schemas.AccountDeletionRequest, caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.delete_account(caller, body.password, context)
    return Response(status_code=204)


@ops_router.get("/health/live", response_model=schemas.HealthResponse)
async def live() -> schemas.HealthResponse:
    return schemas.HealthResponse(status="ok")


@ops_router.get("/health/ready", response_model=schemas.HealthResponse, responses=_problem_docs(503))
async def ready(request: Request) -> Any:
    probes: dict[str, ReadinessProbe] = request.app.state.readiness_probes
    outcomes = await asyncio.gather(*(probe() for probe in probes.values()), return_exceptions=True)
    checks = {name: "ok" if outcome is None else "unavailable" for name, outcome in zip(probes, outcomes, strict=True)}
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return problem(503, "not_ready", f"Unavailable: {', '.join(failed)}.", failed=failed, checks=checks)
    return schemas.HealthResponse(status="ready", checks=checks)


@ops_router.get("/.well-known/jwks.json")
async def jwks(auth: Auth, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return auth.public_jwks()
