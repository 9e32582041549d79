"""A client generated from the live `/openapi.json` by openapi-python-client drives the real service.

The generator must understand the whole document without a warning, and the generated code, built with
`raise_on_unexpected_status`, runs register -> login (JSON and form) -> me -> refresh -> logout and gets the
documented problem models, `code` enums included, for the failures.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.secrets_ledger import SecretsLedger
from tests.support.servers import ServiceProcess

PACKAGE = "aidlc_auth_client"
PASSWORD = "Heron-Basalt-Quill-36"


@pytest.fixture(scope="module")
def generated(live_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("generated-client")
    bin_dir = Path(sys.executable).parent
    completed = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--url",
            f"{live_service.base_url}/openapi.json",
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
        ],
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "warning" not in output.lower(), output
    assert _work_around_unimported_unset(root / PACKAGE) <= {"login.py"}
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _work_around_unimported_unset(package: Path) -> set[str]:
    """Upstream generator bug (openapi-generators/openapi-python-client#1451, open for 0.29.1): an operation with a
    required body in several media types (our login: JSON and the OAuth2 form) gets `body: ... | Unset = UNSET`
    without `Unset` being imported. Add the import, and say which modules needed it."""
    patched = set()
    for module in package.rglob("*.py"):
        text = module.read_text()
        if "| Unset" in text and "from ...types import UNSET, Response\n" in text:
            module.write_text(
                text.replace("from ...types import UNSET, Response\n", "from ...types import UNSET, Response, Unset\n")
            )
            patched.add(module.name)
    return patched


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_the_generated_client_runs_the_whole_flow(
    generated: ModuleType, live_service: ServiceProcess, secrets_ledger: SecretsLedger
) -> None:
    models = _module("models")
    register, login, refresh, logout = (
        _module(f"api.auth.{name}") for name in ("register", "login", "refresh", "logout")
    )
    get_me = _module("api.users.get_me")
    secrets_ledger.add("password", PASSWORD)
    anonymous = generated.Client(base_url=live_service.base_url, raise_on_unexpected_status=True)
    email = f"generated-{uuid.uuid4().hex[:10]}@example.com"

    profile = register.sync(
        client=anonymous, body=models.RegisterRequest(email=email, password=PASSWORD, display_name="Generated")
    )
    assert isinstance(profile, models.RegistrationResponse) and profile.email == email and profile.device_token
    taken = register.sync(
        client=anonymous, body=models.RegisterRequest(email=email, password=PASSWORD, display_name="Again")
    )
    assert taken.code.value == "email_taken" and taken.status.value == 409
    wrong = login.sync(client=anonymous, body=models.LoginJsonLoginRequest(email=email, password="Wrong-Password-1"))
    assert wrong.code.value == "invalid_credentials"

    tokens = login.sync(client=anonymous, body=models.LoginJsonLoginRequest(email=email, password=PASSWORD))
    form_tokens = login.sync(client=anonymous, body=models.LoginDataBody(username=email, password=PASSWORD))
    for pair in (tokens, form_tokens):
        assert isinstance(pair, models.LoginResponse) and pair.token_type == "bearer"
        secrets_ledger.add_tokens(pair.to_dict())
    known = login.sync(
        client=anonymous,
        body=models.LoginJsonLoginRequest(email=email, password=PASSWORD, device_token=profile.device_token),
    )
    assert isinstance(known, models.LoginResponse) and known.device_token == profile.device_token

    signed_in = generated.AuthenticatedClient(
        base_url=live_service.base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )
    me = get_me.sync(client=signed_in)
    assert isinstance(me, models.ProfileResponse) and me.id == profile.id and me.display_name == "Generated"

    rotated = refresh.sync(client=anonymous, body=models.RefreshRequest(refresh_token=tokens.refresh_token))
    assert isinstance(rotated, models.TokenResponse) and rotated.refresh_token != tokens.refresh_token
    secrets_ledger.add_tokens(rotated.to_dict())
    signed_in = generated.AuthenticatedClient(
        base_url=live_service.base_url, token=rotated.access_token, raise_on_unexpected_status=True
    )
    assert get_me.sync(client=signed_in).id == profile.id

    assert logout.sync_detailed(client=signed_in).status_code == 204
    after_logout = get_me.sync(client=signed_in)
    assert after_logout.code.value == "invalid_token" and after_logout.status.value == 401
