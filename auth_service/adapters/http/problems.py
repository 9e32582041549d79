"""RFC 9457 problem details, with a stable machine-readable `code`, for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from auth_service.adapters.http.contract import PROBLEM_JSON, TITLES
from auth_service.application.errors import DependencyUnavailable, Overloaded
from auth_service.domain import errors as domain

log = logging.getLogger(__name__)

_STATUS_BY_ERROR: list[tuple[type[domain.DomainError], int]] = [
    (domain.EmailAlreadyRegistered, 409),
    (domain.InvalidCredentials, 401),
    (domain.WrongPassword, 401),
    (domain.InvalidToken, 401),
    (domain.RefreshTokenReused, 401),
    (domain.Throttled, 429),
    (domain.SessionNotFound, 404),
    (domain.InvalidEmail, 422),
    (domain.WeakPassword, 422),
    (domain.InvalidProfile, 422),
]
# RFC 9110 §11.6.1: every 401 carries a challenge; RFC 6750 §3.1 adds the error code when a token was presented.
_BEARER_CHALLENGE = "Bearer"
_INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
# Methods listed in `Allow` in the order RFC 9110 defines them.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> ProblemResponse:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def _status_for(error: domain.DomainError) -> int:
    return next((status for kind, status in _STATUS_BY_ERROR if isinstance(error, kind)), 400)


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, domain.DomainError)
    status = _status_for(exc)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after_seconds", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if status == 401:
        token_presented = isinstance(exc, (domain.InvalidToken, domain.RefreshTokenReused))
        headers["WWW-Authenticate"] = _INVALID_TOKEN_CHALLENGE if token_presented else _BEARER_CHALLENGE
    return problem(status, exc.code, exc.message, headers=headers or None)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the submitted values back: they may be passwords.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return problem(422, "validation_error", "The request is not valid.", errors=errors)


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    # 400 is FastAPI's answer to a body it cannot even decode (not UTF-8): invalid input like any other.
    code = {
        400: "validation_error",
        401: "not_authenticated",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    if exc.status_code == 401:
        headers.setdefault("WWW-Authenticate", _BEARER_CHALLENGE)
    return problem(exc.status_code, code, detail, headers=headers or None)


def _allowed_methods(request: Request) -> str:
    """RFC 9110 §15.5.6: every method the target resource supports, not just those of the first matching route."""
    routes = request.app.router.routes
    allowed = {
        method
        for method in _METHOD_ORDER
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    }
    if "GET" in allowed:
        allowed.add("HEAD")  # served by HeadAsGetMiddleware
    return ", ".join(method for method in _METHOD_ORDER if method in allowed)


async def _client_disconnected(request: Request, exc: Exception) -> ProblemResponse:
    """The client went away while its body was still arriving. Routes with a body parameter get this from
    FastAPI's body reader as a 400; login reads its body itself (JSON or the OAuth2 form) and gets the raw
    `ClientDisconnect`. Either way it is the client's doing: a 400 nobody receives, logged as information."""
    log.info("client disconnected while sending the request body")
    return problem(400, "validation_error", "The request body was not received in full.")


async def _dependency_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    log.warning("dependency unavailable", extra={"dependency": getattr(exc, "dependency", "?")})
    return problem(
        503,
        "dependency_unavailable",
        "A backing service is temporarily unavailable. Retry shortly.",
        headers={"Retry-After": "1"},
    )


async def _overloaded(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, Overloaded)
    log.warning("overloaded: password hashing queue is full")
    return problem(
        503, "overloaded", "The service is busy. Retry shortly.", headers={"Retry-After": str(exc.retry_after_seconds)}
    )


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error")
    return problem(500, "internal_error", "Something went wrong on our side.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(domain.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(DependencyUnavailable, _dependency_unavailable)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(Exception, _unexpected)
