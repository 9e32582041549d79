"""/docs in a real browser: Swagger UI loads, Authorize logs in, `GET /users/me` runs, and nothing leaves
the service's origin.

Debian's Chromium (`apt-get install chromium`) driven by Playwright through `executable_path`; Playwright's own
browser downloads are never used. Without Chromium the test is skipped locally and fails in CI (CI=true).
"""

import re
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from auth_service.adapters.http.docs import DOCS_CONTENT_SECURITY_POLICY, SWAGGER_UI_ASSETS
from tests.support.app import STRONG_PASSWORD, Service, unique_email
from tests.support.servers import ServiceProcess, skip_or_fail_in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 30_000


def _require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        skip_or_fail_in_ci(f"{CHROMIUM} is missing (apt-get install -y chromium): the /docs browser test cannot run")


@pytest.fixture(scope="module")
def docs_service(database_url: str, redis_base_url: str, redis_prefix: str, signing_key: str) -> Iterator[str]:
    _require_chromium()
    service = ServiceProcess(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_base_url,
            "REDIS_KEY_PREFIX": redis_prefix,
            "JWT_PRIVATE_KEY": signing_key,
        }
    )
    service.start(timeout=90)
    try:
        yield service.base_url
    finally:
        service.close()


def test_swagger_ui_authorizes_and_calls_the_api_without_leaving_the_origin(docs_service: str) -> None:
    from playwright.sync_api import sync_playwright

    email = unique_email()
    registered = httpx.post(
        f"{docs_service}/auth/register",
        timeout=30,
        json={"email": email, "password": STRONG_PASSWORD, "display_name": "Docs"},
    )
    assert registered.status_code == 201, registered.text

    requested: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
            docs = page.goto(f"{docs_service}/docs")
            assert docs is not None and docs.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY

            page.locator("button.authorize").first.click()
            page.fill("#oauth_username", email)
            page.fill("#oauth_password", STRONG_PASSWORD)
            page.locator(".auth-btn-wrapper button.authorize").click()
            page.locator(".auth-btn-wrapper button", has_text="Logout").wait_for()
            page.locator(".auth-btn-wrapper button.btn-done").click()

            operation = page.locator("#operations-users-get_me")
            operation.locator(".opblock-summary").click()
            operation.locator("button.try-out__btn").click()
            operation.locator("button.execute").click()
            status = operation.locator(".live-responses-table .response .response-col_status").first
            status.wait_for()
            assert status.inner_text().strip().startswith("200")
            assert email in operation.locator(".live-responses-table .highlight-code").first.inner_text()
        finally:
            browser.close()

    origin = urlsplit(docs_service)
    foreign = [
        url for url in requested if not url.startswith("data:") and urlsplit(url)[:2] != (origin.scheme, origin.netloc)
    ]
    assert not foreign, foreign
    assert f"{docs_service}/auth/login" in requested and f"{docs_service}/users/me" in requested
    assert not [text for text in console_errors if "Content Security Policy" in text], console_errors


def test_the_bundled_swagger_ui_is_version_5() -> None:
    """Swagger UI 4 and older cannot render OpenAPI 3.1, which FastAPI emits."""
    bundle = (SWAGGER_UI_ASSETS / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle)
    assert version is not None and int(version.group(1)) >= 5, version


async def test_the_docs_page_references_only_its_own_origin(service: Service) -> None:
    page = await service.client.get("/docs")
    assert page.headers["content-security-policy"] == DOCS_CONTENT_SECURITY_POLICY
    assert "<script>" not in page.text and "//" not in page.text.replace("<!DOCTYPE html>", "")
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/swagger-init.js"):
        assert (await service.client.get(asset)).status_code == 200
    assert (await service.client.get("/redoc")).status_code == 404  # FastAPI's ReDoc page loads a CDN
