"""Application-level failures that are not business rules."""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """A backing service (PostgreSQL or Redis) could not be reached; the request may be retried."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"{dependency} is unavailable")
        self.dependency = dependency
