"""Errors raised by unity_core; callers catch a branch, never a driver's exception.

- UnityError
    - ConfigError                  bad file, key or value; message names file and key path
        - AlertConditionError      an alert rule's condition JSON is invalid; names the key
    - PluginError
        - PluginNotFound           no registry entry (or no implementation) with this id
        - PluginConfigError        a plugin's options fail its schema or its setup()
        - CollectionFailed         a run raised; the plugin's exception is the __cause__
        - CollectionTimeout        a run exceeded its deadline
    - StorageError
        - StorageUnavailable       retryable: the database is down, unreachable or timed out
        - IntegrityViolation       permanent: the data breaks a constraint other than dedup
        - SchemaOutOfDate          the database is not migrated to this version's head
        - AlertNotFound            no alert rule has this id
    - CacheUnavailable             never reaches callers of the cache facade; logged once
    - NotificationFailed           a channel refused or could not be reached; retry later
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


class AlertConditionError(ConfigError):
    """An alert rule's `condition` cannot be used; `problems` lists `key: message` lines."""

    def __init__(self, problems: list[str] | str) -> None:
        super().__init__(problems, source="condition")


class PluginError(UnityError):
    """A plugin could not be found, configured or run; `plugin_id` names the instance."""

    def __init__(self, plugin_id: str, message: str) -> None:
        self.plugin_id = plugin_id
        super().__init__(f"{plugin_id}: {message}")


class PluginNotFound(PluginError):
    def __init__(self, plugin_id: str, message: str = "no such plugin") -> None:
        super().__init__(plugin_id, message)


class PluginConfigError(PluginError):
    """The instance's options are invalid; `problems` lists `key: message` lines."""

    def __init__(self, plugin_id: str, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(plugin_id, "; ".join(self.problems))


class CollectionFailed(PluginError):
    """The plugin raised during a run; the original exception is chained as __cause__."""


class CollectionTimeout(PluginError):
    def __init__(self, plugin_id: str, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(plugin_id, f"collection exceeded its {timeout:g} s time limit")


class StorageError(UnityError):
    """A database operation failed; nothing of the failed unit of work was committed."""


class StorageUnavailable(StorageError):
    """The database could not be reached or did not answer in time; retrying later may succeed."""


class IntegrityViolation(StorageError):
    """The data breaks a database constraint; retrying the same data will fail again."""


class SchemaOutOfDate(StorageError):
    """The database schema is not at this version's migration head; run `unity db upgrade`."""


class AlertNotFound(StorageError):
    """No alert rule has this id."""

    def __init__(self, alert_id: object) -> None:
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id} not found")


class CacheUnavailable(UnityError):
    """The cache could not be reached; the cache facade turns this into misses."""


class NotificationFailed(UnityError):
    """A notification channel could not deliver a message; `channel` names it. Retryable."""

    def __init__(self, channel: str, message: str) -> None:
        self.channel = channel
        super().__init__(f"channel {channel}: {message}")
