"""Local development and test environment: finds (or starts) PostgreSQL and Redis. Never shipped."""
