"""The FastAPI application: routes, problem handlers, middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from auth_service.adapters.http.body_limit import BodySizeLimitMiddleware
from auth_service.adapters.http.contract import add_links
from auth_service.adapters.http.disconnect import CancelOnDisconnect
from auth_service.adapters.http.docs import install_docs
from auth_service.adapters.http.head import HeadAsGetMiddleware
from auth_service.adapters.http.middleware import RequestLogMiddleware
from auth_service.adapters.http.problems import install_problem_handlers
from auth_service.adapters.http.routes import PASSWORD_ROUTES, auth_router, ops_router, users_router
from auth_service.application.service import AuthService

DESCRIPTION = """
Registration, login, token refresh and rotation, sessions and profile for the AIDLC demo.

Use **Authorize** with your email as *username* to try the authenticated endpoints.
Errors are RFC 9457 `application/problem+json` with a stable `code`.
"""


def create_http_app(
    auth_service: AuthService,
    *,
    readiness_probes: Mapping[str, Callable[[], Awaitable[None]]],
    trusted_proxy_count: int,
    max_request_body_bytes: int,
    device_cookie_max_age: int,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="AIDLC Auth Service",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # see install_docs
        generate_unique_id_function=_operation_id,
    )
    app.state.auth_service = auth_service
    app.state.readiness_probes = dict(readiness_probes)
    app.state.trusted_proxy_count = trusted_proxy_count
    app.state.device_cookie_max_age = device_cookie_max_age
    install_problem_handlers(app)
    install_docs(app)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(ops_router)
    app.add_middleware(CancelOnDisconnect, routes=PASSWORD_ROUTES)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=max_request_body_bytes)
    app.add_middleware(HeadAsGetMiddleware)
    # Added last, so outermost: it logs the 413s and 499s too.
    app.add_middleware(RequestLogMiddleware, trusted_proxy_count=trusted_proxy_count)
    _publish_links(app)
    return app


def _operation_id(route: APIRoute) -> str:
    """The route function's name (`register`, `get_me`): what generated clients call their functions."""
    return route.name


def _publish_links(app: FastAPI) -> None:
    """`/openapi.json` carries the OpenAPI links that chain register -> login -> me / refresh / logout."""
    build_document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build_document())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
