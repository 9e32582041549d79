"""/docs: Swagger UI served entirely by the service, so the page where passwords are typed runs no code from
anywhere else (and still renders where no CDN is reachable).

Swagger UI's JavaScript and CSS come from the pinned `fastapi-offline` package (Swagger UI 5, which renders
OpenAPI 3.1); its start-up code is a static script of ours rather than an inline one, so the page's
Content-Security-Policy can forbid every inline script and every other origin.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_PATH = "/docs/assets"
INIT_SCRIPT_PATH = "/docs/swagger-init.js"

# Only this origin: scripts and styles from files, API calls (including the Authorize login) to itself,
# images from itself or data: URIs (Swagger UI's icons), no frames, no plugins, no foreign form targets.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}} - Swagger UI</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="{INIT_SCRIPT_PATH}"></script>
</body>
</html>
"""

_INIT_SCRIPT = """window.ui = SwaggerUIBundle({
  url: "%s",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def install_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs. Build the app with docs_url=None and redoc_url=None (their pages load a CDN)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_UI_ASSETS), name="swagger-ui-assets")
    page = _PAGE.format(title=app.title)
    init_script = _INIT_SCRIPT % (app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY})

    @app.get(INIT_SCRIPT_PATH, include_in_schema=False)
    async def swagger_ui_init() -> Response:
        return Response(init_script, media_type="text/javascript")
