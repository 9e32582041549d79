"""The API contract's error side, in one table: every status each operation can return and its problem codes.

Routes take their `responses=` from `problem_responses(operation)`, and `add_links` adds the OpenAPI links a
client (or a stateful fuzzer) follows: register -> login -> me / refresh / sessions / logout.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

_BAD_BODY = {400: ("validation_error",), 413: ("payload_too_large",)}  # unreadable bytes; over MAX_REQUEST_BODY_BYTES
_BEARER = {401: ("invalid_token", "not_authenticated")}
_UNAVAILABLE = {503: ("dependency_unavailable",)}
_HASHING = {503: ("dependency_unavailable", "overloaded")}  # `overloaded`: the bounded password-hash queue is full
_ALWAYS = {500: ("internal_error",)}

# operation_id -> {status: problem codes}. Operations with a JSON body also answer 400/413; protected ones 401.
OPERATION_PROBLEMS: dict[str, dict[int, tuple[str, ...]]] = {
    "register": {
        **_BAD_BODY,
        409: ("email_taken",),
        422: ("validation_error", "invalid_email", "weak_password", "invalid_profile"),
        429: ("registration_throttled",),
        **_HASHING,
    },
    "login": {
        **_BAD_BODY,
        401: ("invalid_credentials",),
        422: ("validation_error",),
        429: ("login_throttled",),
        **_HASHING,
    },
    "refresh": {
        **_BAD_BODY,
        401: ("invalid_token", "refresh_token_reused"),
        422: ("validation_error",),
        429: ("refresh_throttled",),
        **_UNAVAILABLE,
    },
    "logout": {**_BEARER, **_UNAVAILABLE},
    "logout_all": {**_BEARER, **_UNAVAILABLE},
    "list_sessions": {**_BEARER, 422: ("validation_error",), **_UNAVAILABLE},
    "revoke_session": {**_BEARER, 404: ("session_not_found",), 422: ("validation_error",), **_UNAVAILABLE},
    "get_me": {**_BEARER, **_UNAVAILABLE},
    "update_me": {**_BAD_BODY, **_BEARER, 422: ("validation_error", "invalid_profile"), **_UNAVAILABLE},
    "change_password": {
        **_BAD_BODY,
        401: (*_BEARER[401], "wrong_password"),
        422: ("validation_error", "weak_password"),
        429: ("reauth_throttled",),
        **_HASHING,
    },
    "delete_me": {
        **_BAD_BODY,
        401: (*_BEARER[401], "wrong_password"),
        422: ("validation_error",),
        429: ("reauth_throttled",),
        **_HASHING,
    },
    "live": {},
    "ready": {503: ("not_ready",)},
    "jwks": {},
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8).",
    401: "Not authenticated, or the credentials are wrong.",
    404: "No such resource.",
    409: "Conflicts with an existing resource.",
    413: "The body is larger than the service accepts.",
    422: "The request is not valid.",
    429: "Too many attempts; retry after `Retry-After` seconds.",
    500: "Unexpected failure.",
    503: "Temporarily unavailable; retry after `Retry-After` seconds.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 challenge: `Bearer`, with `error="invalid_token"` when a token was presented.',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    }
}
_HEADERS = {401: _WWW_AUTHENTICATE, 429: _RETRY_AFTER, 503: _RETRY_AFTER}
NO_STORE = {
    "Cache-Control": {
        "description": "Tokens are never cached (RFC 6749 §5.1).",
        "required": True,
        "schema": {"type": "string", "enum": ["no-store"]},
    },
    "Pragma": {
        "description": "For HTTP/1.0 caches.",
        "required": True,
        "schema": {"type": "string", "enum": ["no-cache"]},
    },
}
_VALIDATION_ERRORS = {
    "type": "array",
    "description": "Present on `validation_error`: which fields failed (values are never echoed).",
    "items": {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}
_NOT_READY_EXTRA = {
    "failed": {"type": "array", "items": {"type": "string"}, "description": "The dependencies that failed."},
    "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "unavailable"]}},
}


def _problem_schema(status: int, codes: tuple[str, ...]) -> dict[str, Any]:
    """RFC 9457 problem details whose `code` can only be one of this operation's codes for this status."""
    properties: dict[str, Any] = {
        "type": {"type": "string", "description": "Always `about:blank`: `code` tells the problems apart."},
        "title": {"type": "string", "description": f"The status phrase ({TITLES[status]})."},
        "status": {"type": "integer", "enum": [status]},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": list(codes), "description": "Stable machine-readable error code."},
    }
    if "validation_error" in codes:
        properties["errors"] = _VALIDATION_ERRORS
    if "not_ready" in codes:
        properties.update(_NOT_READY_EXTRA)
    return {"type": "object", "required": ["type", "title", "status", "detail", "code"], "properties": properties}


def problem_responses(operation_id: str) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: one problem+json response per status the operation can return."""
    statuses = {**OPERATION_PROBLEMS[operation_id], **_ALWAYS}
    responses: dict[int | str, dict[str, Any]] = {}
    for status, codes in sorted(statuses.items()):
        response: dict[str, Any] = {
            "description": f"{_DESCRIPTIONS[status]} `code`: {', '.join(f'`{code}`' for code in codes)}.",
            "content": {PROBLEM_JSON: {"schema": _problem_schema(status, codes)}},
        }
        if status in _HEADERS:
            response["headers"] = _HEADERS[status]
        responses[status] = response
    return responses


def token_response_headers() -> dict[int | str, dict[str, Any]]:
    return {200: {"headers": NO_STORE}}


DEVICE_COOKIE_HEADER = {
    "Set-Cookie": {
        "description": "`aidlc_device=<device token>; HttpOnly; SameSite=Strict; Path=/auth/login; Max-Age=<device "
        "token lifetime>`: the same device token as in the body, for browsers. No `Secure` attribute: by design "
        "the service is served over plain HTTP (no TLS, no domain), where a `Secure` cookie would never be sent.",
        "required": True,
        "schema": {"type": "string"},
    }
}


def device_cookie_headers(status: int, *, no_store: bool) -> dict[int | str, dict[str, Any]]:
    return {status: {"headers": {**(NO_STORE if no_store else {}), **DEVICE_COOKIE_HEADER}}}


def session_page_headers() -> dict[int | str, dict[str, Any]]:
    link = {
        "description": 'RFC 8288: `</auth/sessions?limit=...&cursor=...>; rel="next"` while there are more '
        "sessions; absent on the last page.",
        "required": False,
        "schema": {"type": "string", "pattern": '^<[^>]+>; rel="next"$'},
    }
    return {200: {"headers": {"Link": link}}}


_BEARER_FROM = "Bearer {$response.body#/access_token}"
_LINKS: dict[tuple[str, int], dict[str, dict[str, Any]]] = {
    ("register", 201): {
        "login": {
            "operationId": "login",
            "description": "Log in with the account just created.",
            "requestBody": {"email": "$response.body#/email", "password": "$request.body#/password"},
        },
    },
    ("login", 200): {
        "me": {"operationId": "get_me", "parameters": {"header.Authorization": _BEARER_FROM}},
        "refresh": {"operationId": "refresh", "requestBody": {"refresh_token": "$response.body#/refresh_token"}},
        "sessions": {"operationId": "list_sessions", "parameters": {"header.Authorization": _BEARER_FROM}},
        "update_me": {"operationId": "update_me", "parameters": {"header.Authorization": _BEARER_FROM}},
        "logout": {"operationId": "logout", "parameters": {"header.Authorization": _BEARER_FROM}},
    },
    ("refresh", 200): {
        "refresh_again": {"operationId": "refresh", "requestBody": {"refresh_token": "$response.body#/refresh_token"}},
        "me": {"operationId": "get_me", "parameters": {"header.Authorization": _BEARER_FROM}},
        "sessions": {"operationId": "list_sessions", "parameters": {"header.Authorization": _BEARER_FROM}},
        "logout": {"operationId": "logout", "parameters": {"header.Authorization": _BEARER_FROM}},
        "logout_all": {"operationId": "logout_all", "parameters": {"header.Authorization": _BEARER_FROM}},
    },
}


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Attach the OpenAPI links to the operations' success responses (in place; returns the document)."""
    for item in document["paths"].values():
        for operation in item.values():
            for (operation_id, status), links in _LINKS.items():
                if operation.get("operationId") == operation_id:
                    operation["responses"][str(status)]["links"] = links
    return document
