"""docs/integration.md's session-list walker, run exactly as written against the live service process."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.secrets_ledger import SecretsLedger, register_and_login
from tests.support.servers import REPO_ROOT, ServiceProcess

INTEGRATION_DOC = REPO_ROOT / "docs" / "integration.md"
PASSWORD = "Integration-Walrus-Quince-71"


def test_the_documented_walk_lists_every_session_once(
    live_service: ServiceProcess, secrets_ledger: SecretsLedger
) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```$", INTEGRATION_DOC.read_text(), flags=re.DOTALL | re.MULTILINE)
    snippet = next(block for block in blocks if "def all_sessions" in block)
    namespace: dict[str, Any] = {"__name__": "integration_doc_sessions"}
    exec(compile(snippet, str(INTEGRATION_DOC), "exec"), namespace)  # noqa: S102 - our own documentation's code

    email, tokens = register_and_login(live_service.base_url, secrets_ledger, PASSWORD)
    with httpx.Client(base_url=live_service.base_url, timeout=10) as client:
        for _ in range(4):
            again = client.post("/auth/login", json={"email": email, "password": PASSWORD})
            assert again.status_code == 200
            secrets_ledger.add_tokens(again.json())
        first_page = client.get("/auth/sessions?limit=2", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert len(first_page.json()) == 2 and "next" in first_page.links
        listed = namespace["all_sessions"](client, str(tokens["access_token"]), page_size=2)  # three pages
    assert len(listed) == 5 and len({s["id"] for s in listed}) == 5
    assert [s["current"] for s in listed].count(True) == 1
