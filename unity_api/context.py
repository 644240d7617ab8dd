"""What every request needs from unity_core: settings, a database session, the cache.

One `ApiContext` per app (in `app.extensions["unity"]`); one session per request, opened on
first use and closed in teardown (STYLE 9.10: the session belongs to the edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from unity_core.cache import Cache, make_cache
from unity_core.config import Settings
from unity_core.plugins.registry import Discovery, discover
from unity_core.storage import engine_for, make_sessionmaker


@dataclass
class ApiContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: Cache
    _discovery: Discovery | None = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, *, cache: Cache | None = None) -> ApiContext:
        engine = engine_for(settings.database)
        return cls(settings, engine, make_sessionmaker(engine), cache or make_cache(settings))

    @property
    def discovery(self) -> Discovery:
        """The installed plugins, discovered once per process (PATCH validates against them)."""
        if self._discovery is None:
            self._discovery = discover(self.settings.collection.plugins_dir)
        return self._discovery


def init_app(app: Flask, context: ApiContext) -> None:
    app.extensions["unity"] = context

    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        for key in ("unity_session", "unity_write_session"):
            session: Session | None = g.pop(key, None)
            if session is not None:
                session.close()


def api_context() -> ApiContext:
    context: ApiContext = current_app.extensions["unity"]
    return context


def request_session(*, write: bool = False) -> Session:
    """This request's session, opened on first use; views commit their own changes.

    On SQLite, Unity's engine takes the write lock at BEGIN (BEGIN IMMEDIATE) unless told
    otherwise, so read-only requests get a deferred transaction and never queue behind the
    writers; a view that writes asks for `write=True` before its first statement.
    """
    key = "unity_write_session" if write else "unity_session"
    session: Session | None = g.get(key)
    if session is None:
        session = api_context().sessions()
        if not write and session.get_bind().dialect.name == "sqlite":
            session.connection(execution_options={"sqlite_deferred": True})
        setattr(g, key, session)
    return session


def read_session() -> Session:
    """This request's read-only session (deferred BEGIN on SQLite)."""
    return request_session()


def cache() -> Cache:
    return api_context().cache


def settings() -> Settings:
    return api_context().settings


def dispose(context: ApiContext) -> None:
    """Release the pool and the cache's connections (tests and shutdown)."""
    context.engine.dispose()
    context.cache.close()
