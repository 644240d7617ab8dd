"""Errors raised by unity_core; callers catch a branch, never a driver's exception.

- UnityError
    - ConfigError                  bad file, key or value; message names file and key path
    - StorageError
        - StorageUnavailable       retryable: the database is down, unreachable or timed out
        - IntegrityViolation       permanent: the data breaks a constraint other than dedup
        - SchemaOutOfDate          the database is not migrated to this version's head
    - CacheUnavailable             never reaches callers of the cache facade; logged once
"""

from __future__ import annotations


class UnityError(Exception):
    """Root of every error unity_core raises on purpose."""


class ConfigError(UnityError):
    """The configuration cannot be used; the message names the file, the key path and why."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__("\n".join(f"{where}{p}" for p in self.problems))


class StorageError(UnityError):
    """A database operation failed; nothing of the failed unit of work was committed."""


class StorageUnavailable(StorageError):
    """The database could not be reached or did not answer in time; retrying later may succeed."""


class IntegrityViolation(StorageError):
    """The data breaks a database constraint; retrying the same data will fail again."""


class SchemaOutOfDate(StorageError):
    """The database schema is not at this version's migration head; run `unity db upgrade`."""


class CacheUnavailable(UnityError):
    """The cache could not be reached; the cache facade turns this into misses."""
