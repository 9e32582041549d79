"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

# Generous transport limits; the domain enforces the real policy (8-128 characters) with clearer messages.
PASSWORD_FIELD = Field(min_length=1, max_length=1024)


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(StrictBody):
    email: EmailStr = Field(max_length=254)
    password: str = PASSWORD_FIELD
    display_name: str = Field(min_length=1, max_length=64)


class LoginRequest(StrictBody):
    email: str = Field(min_length=1, max_length=320)
    password: str = PASSWORD_FIELD


class RefreshRequest(StrictBody):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class ProfileResponse(BaseModel):
    id: UUID
    email: str
    display_name: str
    bio: str | None
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime


class ProfileUpdateRequest(StrictBody):
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    bio: str | None = Field(default=None, max_length=500)
    avatar_url: str | None = Field(default=None, max_length=2048)


class PasswordChangeRequest(StrictBody):
    current_password: str = PASSWORD_FIELD
    new_password: str = PASSWORD_FIELD


class AccountDeletionRequest(StrictBody):
    password: str = PASSWORD_FIELD


class SessionResponse(BaseModel):
    id: UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class HealthResponse(BaseModel):
    status: str
    checks: dict[str, str] = {}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
