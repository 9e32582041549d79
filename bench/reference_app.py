"""The comparison point for `make bench`: what a FastAPI user would otherwise pick, fastapi-users 15.

Configured as its documentation shows (JWT strategy over a Bearer transport, SQLAlchemy + asyncpg), with
two deliberate alignments so the comparison is about the code and not the settings:
- argon2id with the service's parameters (m=19456 KiB, t=2, p=1) instead of pwdlib's defaults;
- the same SQLAlchemy pool size as the service (10 + 10 overflow).
A display_name column makes registration bodies identical, and /health/live is a trivial route.

Run: `python bench/reference_app.py create-tables` once, then
`uvicorn --app-dir bench reference_app:app --workers 2` with REFERENCE_DATABASE_URL and REFERENCE_JWT_SECRET.
Never deployed; lives in bench/ only.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.password import PasswordHelper
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ARGON2_MEMORY_KIB = 19456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
POOL_SIZE = 10


def _database_url() -> str:
    url = os.environ.get("REFERENCE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    display_name: Mapped[str] = mapped_column(String(64), default="")


class UserRead(schemas.BaseUser[uuid.UUID]):
    display_name: str


class UserCreate(schemas.BaseUserCreate):
    display_name: str


class UserUpdate(schemas.BaseUserUpdate):
    display_name: str | None = None


engine = create_async_engine(_database_url(), pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
session_maker = async_sessionmaker(engine, expire_on_commit=False)
SECRET = os.environ.get("REFERENCE_JWT_SECRET", "reference-app-secret-change-me-0123456789abcdef")
password_helper = PasswordHelper(
    PasswordHash(
        (Argon2Hasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM),)
    )
)


async def get_async_session() -> AsyncIterator[AsyncSession]:
    async with session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_async_session)) -> AsyncIterator[SQLAlchemyUserDatabase]:  # noqa: B008
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db: SQLAlchemyUserDatabase = Depends(get_user_db)) -> AsyncIterator[UserManager]:  # noqa: B008
    yield UserManager(user_db, password_helper)


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=900)


auth_backend = AuthenticationBackend(
    name="jwt", transport=BearerTransport(tokenUrl="auth/jwt/login"), get_strategy=get_jwt_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt", tags=["auth"])
app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"])


@app.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _create_tables() -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()


if __name__ == "__main__":
    if sys.argv[1:] != ["create-tables"]:
        sys.exit("usage: python bench/reference_app.py create-tables")
    asyncio.run(_create_tables())
