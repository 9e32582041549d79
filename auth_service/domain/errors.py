"""Domain errors. Each carries a stable machine-readable code that the HTTP adapter exposes."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidEmail(DomainError):
    code = "invalid_email"


class WeakPassword(DomainError):
    code = "weak_password"


class InvalidProfile(DomainError):
    code = "invalid_profile"


class EmailAlreadyRegistered(DomainError):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists.")


class InvalidCredentials(DomainError):
    """One message for unknown email and wrong password, so responses cannot enumerate users."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("Email or password is incorrect.")


class WrongPassword(DomainError):
    """The signed-in user's current password did not match (password change, account deletion)."""

    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("The password is incorrect.")


class InvalidToken(DomainError):
    code = "invalid_token"

    def __init__(self, message: str = "The token is invalid, expired or revoked.") -> None:
        super().__init__(message)


class RefreshTokenReused(DomainError):
    code = "refresh_token_reused"

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; the session has been ended.")


class SessionNotFound(DomainError):
    code = "session_not_found"

    def __init__(self) -> None:
        super().__init__("No such session.")


class Throttled(DomainError):
    """Too many attempts; the client may retry after `retry_after_seconds`."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)


class LoginThrottled(Throttled):
    code = "login_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many failed logins. Try again later.", retry_after_seconds)


class ReauthThrottled(Throttled):
    """Too many wrong passwords while re-authenticating (password change, account deletion)."""

    code = "reauth_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many wrong passwords. Try again later.", retry_after_seconds)


class RegistrationThrottled(Throttled):
    code = "registration_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many registrations from this network. Try again later.", retry_after_seconds)


class RefreshThrottled(Throttled):
    """Too many refreshes of one session."""

    code = "refresh_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("Too many refreshes of this session. Try again later.", retry_after_seconds)
