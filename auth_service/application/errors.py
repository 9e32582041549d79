"""Application-level failures that are not business rules."""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """A backing service (PostgreSQL or Redis) could not be reached; the request may be retried."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} is unavailable")
        self.dependency = dependency


class AccountGone(Exception):
    """The account was deleted while this request was still writing something of its own (a deletion that commits
    first wins)."""


class Overloaded(Exception):
    """This worker already has as much password hashing queued as it will take; retry after a moment."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("too much password hashing queued")
        self.retry_after_seconds = max(1, retry_after_seconds)
