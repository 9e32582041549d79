"""The use cases as one object the inbound adapters call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth_service.application.account import (
    ChangePassword,
    DeleteAccount,
    GetOwnProfile,
    GetProfile,
    ListSessions,
    RevokeSession,
    UpdateProfile,
)
from auth_service.application.authentication import Authenticate, Login, Logout, LogoutAll, Refresh
from auth_service.application.common import Dependencies
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
    deps: Dependencies

    @classmethod
    def build(cls, deps: Dependencies) -> AuthService:
        authenticate, get_profile = Authenticate(deps), GetProfile(deps)
        return cls(
            register=Register(deps), login=Login(deps), refresh=Refresh(deps), authenticate=authenticate,
            logout=Logout(deps), logout_all=LogoutAll(deps), get_profile=get_profile,
            get_own_profile=GetOwnProfile(deps, authenticate, get_profile),
            update_profile=UpdateProfile(deps), change_password=ChangePassword(deps),
            delete_account=DeleteAccount(deps), list_sessions=ListSessions(deps),
            revoke_session=RevokeSession(deps), deps=deps,
        )

    def public_jwks(self) -> dict[str, Any]:
        return self.deps.tokens.public_jwks()
