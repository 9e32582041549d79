import asyncio
import sys

from alembic.config import Config
from alembic.script import ScriptDirectory

from auth_service.settings import Settings
from devenv.database_admin import create_database, drop_database
from devenv.services import with_database
from tests.service.integration.helpers import assert_problem, newest_migration, query
from tests.support.app import Service, serving, with_settings


async def test_liveness_makes_no_dependency_calls(settings: Settings) -> None:
    dead = with_settings(
        settings, redis_url="redis://127.0.0.1:1/0", database_url="postgresql://postgres@127.0.0.1:1/none"
    )
    async with serving(dead) as svc:
        response = await svc.client.get("/health/live")
        assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_readiness_checks_both_dependencies(service: Service) -> None:
    response = await service.client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"postgresql": "ok", "redis": "ok"}}


async def test_readiness_names_the_failed_dependency(settings: Settings) -> None:
    for update, failed in (
        ({"redis_url": "redis://127.0.0.1:1/0"}, "redis"),
        ({"database_url": "postgresql://postgres@127.0.0.1:1/none"}, "postgresql"),
    ):
        async with serving(with_settings(settings, **update)) as svc:
            body = assert_problem(await svc.client.get("/health/ready"), 503, "not_ready")
            assert body["failed"] == [failed] and failed in body["detail"]


async def test_an_unreachable_database_is_503_not_500(settings: Settings) -> None:
    async with serving(with_settings(settings, database_url="postgresql://postgres@127.0.0.1:1/none")) as svc:
        response = await svc.client.post(
            "/auth/register",
            json={"email": "x@example.com", "password": "Gorilla-Marmalade-Tundra-42", "display_name": "X"},
        )
        assert_problem(response, 503, "dependency_unavailable")
        assert response.headers["retry-after"] == "1"


async def test_login_fails_closed_with_503_while_the_limiter_is_unreachable(settings: Settings) -> None:
    async with serving(with_settings(settings, redis_url="redis://127.0.0.1:1/0")) as svc:
        response = await svc.client.post("/auth/login", json={"email": "x@example.com", "password": "whatever1"})
        assert_problem(response, 503, "dependency_unavailable")


async def test_unknown_routes_and_methods_are_problems(service: Service) -> None:
    assert_problem(await service.client.get("/nope"), 404, "not_found")
    assert_problem(await service.client.put("/auth/login"), 405, "method_not_allowed")


async def test_every_response_carries_a_request_id(service: Service) -> None:
    echoed = await service.client.get("/health/live", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    forged = await service.client.get("/health/live", headers={"x-request-id": "bad id\nwith newline"})
    assert forged.headers["x-request-id"] != "bad id\nwith newline" and len(forged.headers["x-request-id"]) == 32


async def test_openapi_and_swagger_authorize_via_the_password_flow(service: Service) -> None:
    spec = (await service.client.get("/openapi.json")).json()
    flows = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/auth/login"
    login_body = spec["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login_body)
    expected = {
        ("post", "/auth/register"),
        ("post", "/auth/login"),
        ("post", "/auth/refresh"),
        ("post", "/auth/logout"),
        ("post", "/auth/logout-all"),
        ("get", "/auth/sessions"),
        ("delete", "/auth/sessions/{session_id}"),
        ("get", "/users/me"),
        ("patch", "/users/me"),
        ("post", "/users/me/password"),
        ("delete", "/users/me"),
        ("get", "/health/live"),
        ("get", "/health/ready"),
        ("get", "/.well-known/jwks.json"),
    }
    assert expected == {(m, p) for p, ops in spec["paths"].items() for m in ops}
    docs = await service.client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


async def test_jwks_is_public_and_cacheable(service: Service) -> None:
    response = await service.client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.headers["cache-control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert key["kty"] == "OKP" and "d" not in key


def test_the_migrations_are_one_chain() -> None:
    config = Config()
    config.set_main_option("script_location", "auth_service:migrations")
    revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
    assert revisions[-3:] == ["0003_session_lifecycle", "0002_canonical_email", "0001_initial"]


async def test_two_tasks_migrating_at_once_both_succeed(admin_url: str, settings: Settings) -> None:
    """Container start runs migrations; two tasks starting together take turns on the advisory lock."""
    name = "auth_migrate_race"
    await drop_database(admin_url, name)
    await create_database(admin_url, name)
    env = {"DATABASE_URL": with_database(admin_url, name), "LOG_LEVEL": "INFO", "PATH": "/usr/bin:/bin"}
    try:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "auth_service",
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = await asyncio.gather(*(p.communicate() for p in processes))
        assert [p.returncode for p in processes] == [0, 0, 0], [o[0].decode()[-2000:] for o in outputs]
        migrated = with_settings(settings, database_url=env["DATABASE_URL"])
        rows = await query(migrated, "SELECT version_num FROM alembic_version")
        assert [r.version_num for r in rows] == [newest_migration()]
        tables = await query(migrated, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert {r.tablename for r in tables} >= {"users", "sessions", "refresh_tokens", "audit_events"}
    finally:
        await drop_database(admin_url, name)


async def test_database_errors_never_carry_bound_values(settings: Settings) -> None:
    """Unexpected-error logs print the exception: it must not contain password hashes, IPs or user agents."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from auth_service.adapters.postgres.database import create_engine

    engine = create_engine(settings.sqlalchemy_url(), sslmode="prefer", pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT 1 / 0 WHERE CAST(:value AS text) IS NOT NULL"), {"value": "$argon2id$v=19$secret"}
            )
        raise AssertionError("the division should have failed")
    except DBAPIError as exc:
        assert "$argon2id$v=19$secret" not in str(exc)
        assert "hidden due to hide_parameters" in str(exc)
    finally:
        await engine.dispose()
