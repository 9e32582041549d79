"""Routes: translate HTTP to use-case calls and back. No business rules here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Cookie, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError

from auth_service.adapters.http import schemas
from auth_service.adapters.http.client_ip import client_ip
from auth_service.adapters.http.contract import (
    device_cookie_headers,
    problem_responses,
    session_page_headers,
    token_response_headers,
)
from auth_service.adapters.http.problems import problem
from auth_service.application.account import ProfileChanges
from auth_service.application.authentication import TokenPair
from auth_service.application.ports import RequestContext
from auth_service.application.service import AuthService
from auth_service.application.sessions import Principal
from auth_service.domain.errors import InvalidProfile
from auth_service.domain.model import Profile
from auth_service.domain.values import AVATAR_URL_MAX

ReadinessProbe = Callable[[], Awaitable[None]]

bearer = OAuth2PasswordBearer(tokenUrl="/auth/login", auto_error=False)

# Requests that wait for a password hash: abandoned when their client disconnects (see CancelOnDisconnect).
PASSWORD_ROUTES = frozenset(
    {("POST", "/auth/register"), ("POST", "/auth/login"), ("POST", "/users/me/password"), ("DELETE", "/users/me")}
)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a worker thread, a
# thread-pool hop on every request (~12 % of GET /users/me's CPU per request, measured with `make bench`).
async def service(request: Request) -> AuthService:
    return request.app.state.auth_service  # type: ignore[no-any-return]


async def request_context(request: Request) -> RequestContext:
    user_agent = request.headers.get("user-agent")
    return RequestContext(
        ip=client_ip(request, request.app.state.trusted_proxy_count),
        user_agent=user_agent[:512] if user_agent else None,
    )


def _required(token: str | None) -> str:
    if not token:  # RFC 6750 §3.1: no credentials, so a challenge without an error code
        raise HTTPException(
            401,
            "Authentication required: send 'Authorization: Bearer <access token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token


async def current_principal(
    token: Annotated[str | None, Depends(bearer)], auth: Annotated[AuthService, Depends(service)]
) -> Principal:
    return await auth.authenticate(_required(token))


# RFC 6749 §5.1: a token response must not be stored by any cache.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Auth = Annotated[AuthService, Depends(service)]
Caller = Annotated[Principal, Depends(current_principal)]
Context = Annotated[RequestContext, Depends(request_context)]


def _tokens(pair: TokenPair, response: Response) -> schemas.TokenResponse:
    response.headers.update(_NO_STORE)
    return schemas.TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


def _set_device_cookie(request: Request, response: Response, device_token: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's form sends it), only to the login path.
    Not `Secure`: by design the service is served over plain HTTP (no TLS, no domain), where a Secure cookie
    would never come back."""
    response.set_cookie(
        schemas.DEVICE_COOKIE,
        device_token,
        max_age=request.app.state.device_cookie_max_age,
        path="/auth/login",
        httponly=True,
        samesite="strict",
        secure=False,
    )


DeviceCookie = Annotated[str | None, Cookie(alias=schemas.DEVICE_COOKIE, description=schemas.DEVICE_TOKEN_DESCRIPTION)]


def _profile(profile: Profile) -> schemas.ProfileResponse:
    return schemas.ProfileResponse(
        id=profile.id,
        email=profile.email,
        display_name=profile.display_name,
        bio=profile.bio,
        avatar_url=profile.avatar_url,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
ops_router = APIRouter(tags=["operations"])


@auth_router.post(
    "/register",
    status_code=201,
    response_model=schemas.RegistrationResponse,
    responses={**problem_responses("register"), **device_cookie_headers(201, no_store=False)},
)
async def register(
    body: schemas.RegisterRequest, request: Request, response: Response, auth: Auth, context: Context
) -> schemas.RegistrationResponse:
    registered = await auth.register(body.email, body.password, body.display_name, context)
    _set_device_cookie(request, response, registered.device_token)
    profile = _profile(registered.profile)
    return schemas.RegistrationResponse(**profile.model_dump(), device_token=registered.device_token)


_OAUTH2_FORM_SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["password"]},
        "username": {**schemas.LoginRequest.model_json_schema()["properties"]["email"], "title": "Username"},
        "password": schemas.LoginRequest.model_json_schema()["properties"]["password"],
        "device_token": {"type": "string", "maxLength": 512, "description": schemas.DEVICE_TOKEN_DESCRIPTION},
        "scope": {"type": "string", "description": "Ignored: every token has the same rights."},
    },
    "examples": [{"grant_type": "password", "username": schemas.EXAMPLE_EMAIL, "password": schemas.EXAMPLE_PASSWORD}],
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
            if form.get("grant_type") not in (None, "password"):
                raise RequestValidationError(
                    [{"loc": ("body", "grant_type"), "msg": "must be 'password'", "type": "value_error"}]
                )
            device_token = form.get("device_token")
            return schemas.LoginRequest(
                email=str(form.get("username") or ""),
                password=str(form.get("password") or ""),
                device_token=str(device_token) if device_token else None,
            )
        return schemas.LoginRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors(include_input=False)]
        ) from None


@auth_router.post(
    "/login",
    response_model=schemas.LoginResponse,
    openapi_extra=_LOGIN_BODY,
    responses={**problem_responses("login"), **device_cookie_headers(200, no_store=True)},
)
async def login(
    request: Request, response: Response, auth: Auth, context: Context, device_cookie: DeviceCookie = None
) -> schemas.LoginResponse:
    credentials = await _login_credentials(request)
    pair = await auth.login(credentials.email, credentials.password, context, credentials.device_token or device_cookie)
    tokens = _tokens(pair, response)
    if pair.device_token is not None:  # None: PostgreSQL went away after the login, the device stays unknown
        _set_device_cookie(request, response, pair.device_token)
    return schemas.LoginResponse(**tokens.model_dump(), device_token=pair.device_token)


@auth_router.post(
    "/refresh",
    response_model=schemas.TokenResponse,
    responses={**problem_responses("refresh"), **token_response_headers()},
)
async def refresh(
    body: schemas.RefreshRequest, response: Response, auth: Auth, context: Context
) -> schemas.TokenResponse:
    return _tokens(await auth.refresh(body.refresh_token, context), response)


@auth_router.post("/logout", status_code=204, responses=problem_responses("logout"))
async def logout(caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.logout(caller, context)
    return Response(status_code=204)


@auth_router.post("/logout-all", status_code=204, responses=problem_responses("logout_all"))
async def logout_all(caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.logout_all(caller, context)
    return Response(status_code=204)


@auth_router.get(
    "/sessions",
    response_model=list[schemas.SessionResponse],
    responses={**problem_responses("list_sessions"), **session_page_headers()},
)
async def list_sessions(
    caller: Caller,
    auth: Auth,
    response: Response,
    limit: Annotated[
        int,
        Query(ge=1, le=schemas.SESSION_PAGE_MAX, description="Sessions per page (newest first)."),
    ] = schemas.SESSION_PAGE_DEFAULT,
    cursor: Annotated[
        str | None,
        Query(
            pattern=schemas.SESSION_CURSOR_PATTERN,
            description='Opaque: where the previous page ended, from its `Link: <...>; rel="next"` header.',
        ),
    ] = None,
) -> list[schemas.SessionResponse]:
    page = await auth.list_sessions(caller, schemas.decode_session_cursor(cursor) if cursor else None, limit)
    if page.next is not None:
        next_url = f"/auth/sessions?limit={limit}&cursor={schemas.encode_session_cursor(page.next)}"
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [
        schemas.SessionResponse(
            id=v.session.id,
            created_at=v.session.created_at,
            last_used_at=v.session.last_used_at,
            user_agent=v.session.user_agent,
            ip=v.session.ip,
            current=v.current,
        )
        for v in page.sessions
    ]


@auth_router.delete("/sessions/{session_id}", status_code=204, responses=problem_responses("revoke_session"))
async def revoke_session(session_id: UUID, caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.revoke_session(caller, session_id, context)
    return Response(status_code=204)


@users_router.get("/me", response_model=schemas.ProfileResponse, responses=problem_responses("get_me"))
async def get_me(token: Annotated[str | None, Depends(bearer)], auth: Auth) -> schemas.ProfileResponse:
    # Authenticates inside the use case: the session state and the profile come from Redis in one round trip.
    return _profile(await auth.get_own_profile(_required(token)))


@users_router.patch("/me", response_model=schemas.ProfileResponse, responses=problem_responses("update_me"))
async def update_me(body: schemas.ProfileUpdateRequest, caller: Caller, auth: Auth) -> schemas.ProfileResponse:
    if body.avatar_url is not None and not schemas.AVATAR_URL_REGEX.match(body.avatar_url):
        # The documented pattern is narrower than the domain's URL check (ASCII host, no IP literal); refuse here
        # what the document refuses, with the code the domain uses for the same field.
        raise InvalidProfile(
            f"Avatar URL must be an http(s) URL with an ASCII host name, at most {AVATAR_URL_MAX} characters."
        )
    changes = ProfileChanges(
        display_name=body.display_name,
        bio=body.bio,
        avatar_url=body.avatar_url,
        fields_set=frozenset(body.model_fields_set),
    )
    return _profile(await auth.update_profile(caller, changes))


@users_router.post("/me/password", status_code=204, responses=problem_responses("change_password"))
async def change_password(
    body: schemas.PasswordChangeRequest, caller: Caller, auth: Auth, context: Context
) -> Response:
    await auth.change_password(caller, body.current_password, body.new_password, context)
    return Response(status_code=204)


@users_router.delete("/me", status_code=204, responses=problem_responses("delete_me"))
async def delete_me(body: schemas.AccountDeletionRequest, caller: Caller, auth: Auth, context: Context) -> Response:
    await auth.delete_account(caller, body.password, context)
    return Response(status_code=204)


@ops_router.get("/health/live", response_model=schemas.HealthResponse, responses=problem_responses("live"))
async def live() -> schemas.HealthResponse:
    return schemas.HealthResponse(status="ok")


@ops_router.get("/health/ready", response_model=schemas.HealthResponse, responses=problem_responses("ready"))
async def ready(request: Request) -> Any:
    probes: dict[str, ReadinessProbe] = request.app.state.readiness_probes
    outcomes = await asyncio.gather(*(probe() for probe in probes.values()), return_exceptions=True)
    checks = {name: "ok" if outcome is None else "unavailable" for name, outcome in zip(probes, outcomes, strict=True)}
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return problem(
            503,
            "not_ready",
            f"Unavailable: {', '.join(failed)}.",
            failed=failed,
            checks=checks,
            headers={"Retry-After": "5"},
        )
    return schemas.HealthResponse(status="ready", checks=checks)


@ops_router.get("/.well-known/jwks.json", responses=problem_responses("jwks"))
async def jwks(auth: Auth, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return auth.public_jwks()
