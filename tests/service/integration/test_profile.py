from tests.service.integration.helpers import assert_problem, query
from tests.support.app import STRONG_PASSWORD, Service, bearer, unique_email

NEW_PASSWORD = "Another-Strong-Passphrase-7"


async def test_get_me_returns_the_profile_without_secrets(service: Service) -> None:
    user, headers = await service.signed_in_user()
    body = (await service.client.get("/users/me", headers=headers)).json()
    assert body["id"] == user["id"] and body["email"] == user["email"]
    assert set(body) == {"id", "email", "display_name", "bio", "avatar_url", "created_at", "updated_at"}


async def test_patch_updates_given_fields_only_and_is_visible_at_once(service: Service) -> None:
    _, headers = await service.signed_in_user()
    await service.client.get("/users/me", headers=headers)  # cache the profile first
    response = await service.client.patch(
        "/users/me", headers=headers, json={"bio": "Engineer", "avatar_url": "https://cdn.example.com/me.png"}
    )
    assert response.status_code == 200
    after = (await service.client.get("/users/me", headers=headers)).json()
    assert after["bio"] == "Engineer" and after["avatar_url"] == "https://cdn.example.com/me.png"
    assert after["display_name"] == "Test User" and after["updated_at"] > after["created_at"]
    cleared = await service.client.patch("/users/me", headers=headers, json={"bio": None, "display_name": "New"})
    assert cleared.json()["bio"] is None and cleared.json()["display_name"] == "New"


async def test_invalid_profile_updates_are_422_and_change_nothing(service: Service) -> None:
    user, headers = await service.signed_in_user()
    for body, code in [
        ({"avatar_url": "javascript:alert(1)"}, "invalid_profile"),
        ({"avatar_url": "ftp://example.com/x.png"}, "invalid_profile"),
        ({"display_name": "   "}, "invalid_profile"),
        ({"display_name": None}, "invalid_profile"),
        ({"bio": "b" * 501}, "validation_error"),
        ({"display_name": "x" * 65}, "validation_error"),
        ({"email": "new@example.com"}, "validation_error"),
    ]:
        assert_problem(await service.client.patch("/users/me", headers=headers, json=body), 422, code)
    rows = await query(
        service.settings, "SELECT display_name, bio, avatar_url, email FROM users WHERE id = :id", id=user["id"]
    )
    assert tuple(rows[0]) == ("Test User", None, None, user["email"])
    assert (await service.client.patch("/users/me", json={"bio": "x"})).status_code == 401


async def test_password_change_needs_the_current_password_and_ends_other_sessions(service: Service) -> None:
    user = await service.register()
    other = await service.login(user["email"])
    current = await service.login(user["email"])
    headers = bearer(current["access_token"])
    wrong = await service.client.post(
        "/users/me/password",
        headers=headers,
        json={"current_password": "Not-The-Password-1", "new_password": NEW_PASSWORD},
    )
    assert_problem(wrong, 401, "wrong_password")
    weak = await service.client.post(
        "/users/me/password", headers=headers, json={"current_password": STRONG_PASSWORD, "new_password": "password1"}
    )
    assert_problem(weak, 422, "weak_password")
    assert (await service.client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 200

    done = await service.client.post(
        "/users/me/password", headers=headers, json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204
    assert (await service.client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await service.client.get("/users/me", headers=headers)).status_code == 200
    assert (
        await service.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
    ).status_code == 401
    await service.login(user["email"], NEW_PASSWORD)
    audit = await query(service.settings, "SELECT event_type FROM audit_events WHERE user_id = :id", id=user["id"])
    assert "password_changed" in [r.event_type for r in audit]


async def test_delete_account_needs_the_password_and_removes_everything(service: Service) -> None:
    user = await service.register()
    other = await service.login(user["email"])
    current = await service.login(user["email"])
    headers = bearer(current["access_token"])
    wrong = await service.client.request("DELETE", "/users/me", headers=headers, json={"password": "Nope-Nope-1"})
    assert_problem(wrong, 401, "wrong_password")
    assert (
        await service.client.request("DELETE", "/users/me", headers=headers, json={"password": STRONG_PASSWORD})
    ).status_code == 204
    for tokens in (current, other):
        assert (await service.client.get("/users/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (
        await service.client.post("/auth/login", json={"email": user["email"], "password": STRONG_PASSWORD})
    ).status_code == 401
    for table, column in (("users", "id"), ("sessions", "user_id")):
        rows = await query(
            service.settings,
            f"SELECT count(*) AS n FROM {table} WHERE {column} = :id",  # noqa: S608
            id=user["id"],
        )
        assert rows[0].n == 0
    audit = await query(service.settings, "SELECT event_type FROM audit_events WHERE user_id = :id", id=user["id"])
    assert [r.event_type for r in audit][-1] == "account_deleted"
    # The address is free again.
    await service.register(user["email"])


async def test_invisible_format_characters_are_422_invalid_profile_and_declared(service: Service) -> None:
    register = await service.client.post(
        "/auth/register",
        json={"email": unique_email(), "password": STRONG_PASSWORD, "display_name": "Admin\u202egnp.exe"},
    )
    assert "\u202e" not in assert_problem(register, 422, "invalid_profile")["detail"]
    _, headers = await service.signed_in_user()
    for change in ({"display_name": "Ada\u200b"}, {"bio": "Hello\ufeff"}, {"display_name": "Flag \U000e0067"}):
        assert_problem(await service.client.patch("/users/me", headers=headers, json=change), 422, "invalid_profile")
    assert (await service.client.get("/users/me", headers=headers)).json()["display_name"] == "Test User"
    schemas = (await service.client.get("/openapi.json")).json()["components"]["schemas"]
    for field in (
        schemas["RegisterRequest"]["properties"]["display_name"],
        schemas["ProfileUpdateRequest"]["properties"]["display_name"],
        schemas["ProfileUpdateRequest"]["properties"]["bio"],
    ):
        assert "Unicode category Cf" in field["description"], field
