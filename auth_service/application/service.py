"""The use cases as one object the inbound adapters call (wired by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.application.account import (
    ChangePassword,
    DeleteAccount,
    GetOwnProfile,
    GetProfile,
    ListSessions,
    RevokeSession,
    UpdateProfile,
)
from auth_service.application.authentication import (
    Authenticate,
    Login,
    Logout,
    LogoutAll,
    PublicSigningKeys,
    Refresh,
)
from auth_service.application.registration import Register


@dataclass(frozen=True, slots=True)
class AuthService:
    register: Register
    login: Login
    refresh: Refresh
    authenticate: Authenticate
    logout: Logout
    logout_all: LogoutAll
    get_profile: GetProfile
    get_own_profile: GetOwnProfile
    update_profile: UpdateProfile
    change_password: ChangePassword
    delete_account: DeleteAccount
    list_sessions: ListSessions
    revoke_session: RevokeSession
    public_jwks: PublicSigningKeys
