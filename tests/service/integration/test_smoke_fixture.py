from tests.service.conftest import Service


async def test_register_and_login(service: Service) -> None:
    user, headers = await service.signed_in_user()
    response = await service.client.get("/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == user["email"]
