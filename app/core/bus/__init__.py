"""The channel every web process of one hub shares: live events, viewers' wishes.

`bus_for(settings, db)` picks the backend (`Settings.events`): Redis pub/sub, PostgreSQL
LISTEN/NOTIFY, or none (one process). Whatever the backend, a message reaches the
sender's own handlers at once and every other process's through the shared channel.
"""

from __future__ import annotations

from app.core.bus.base import Bus, Handler
from app.core.config import Settings
from app.core.db import Database

__all__ = ["Bus", "Handler", "backend_name", "bus_for"]


def backend_name(settings: Settings, db: Database) -> str:
    if settings.events != "auto":
        return settings.events
    if settings.redis_url:
        return "redis"
    return "process" if db.is_sqlite else "postgresql"


def bus_for(settings: Settings, db: Database) -> Bus:
    name = backend_name(settings, db)
    if name == "redis":
        from app.core.bus.redis_bus import RedisBus

        if not settings.redis_url:
            raise ValueError("SLIDEBRIDGE_EVENTS=redis needs SLIDEBRIDGE_REDIS_URL")
        return RedisBus(settings.redis_url, settings.events_channel)
    if name == "postgresql":
        from app.core.bus.postgres_bus import PostgresBus

        if db.is_sqlite:
            raise ValueError("SLIDEBRIDGE_EVENTS=postgresql needs a PostgreSQL database")
        return PostgresBus(db.engine.url, settings.events_channel)
    return Bus()
