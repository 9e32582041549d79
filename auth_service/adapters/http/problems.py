"""RFC 9457 problem details, with a stable machine-readable `code`, for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth_service.application.errors import DependencyUnavailable, Overloaded
from auth_service.domain import errors as domain

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

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
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> ProblemResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status,
            "detail": detail, "code": code, **extra}
    return ProblemResponse(body, status_code=status, headers=headers)


def _status_for(error: domain.DomainError) -> int:
    return next((status for kind, status in _STATUS_BY_ERROR if isinstance(error, kind)), 400)


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, domain.DomainError)
    status = _status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, domain.Throttled):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, (domain.InvalidToken, domain.RefreshTokenReused)):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return problem(status, exc.code, exc.message, headers=headers or None)


async def _validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # Never echo the submitted values back: they may be passwords.
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return problem(422, "validation_error", "The request is not valid.", errors=errors)


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
    return problem(exc.status_code, code, detail, headers=dict(exc.headers) if exc.headers else None)


async def _dependency_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    log.warning("dependency unavailable", extra={"dependency": getattr(exc, "dependency", "?")})
    return problem(503, "dependency_unavailable", "A backing service is temporarily unavailable. Retry shortly.",
                   headers={"Retry-After": "1"})


async def _overloaded(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, Overloaded)
    log.warning("overloaded: password hashing queue is full")
    return problem(503, "overloaded", "The service is busy. Retry shortly.",
                   headers={"Retry-After": str(exc.retry_after_seconds)})


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error")
    return problem(500, "internal_error", "Something went wrong on our side.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(domain.DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DependencyUnavailable, _dependency_unavailable)
    app.add_exception_handler(Overloaded, _overloaded)
    app.add_exception_handler(Exception, _unexpected)
