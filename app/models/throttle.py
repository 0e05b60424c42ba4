"""Failed sign-ins per account and per client address, shared by every process.

One row per key (`account:<name>` or `address:<ip>`): a leaky bucket of failures
(the count as of the last failure, draining since at the key's limit per
`Settings.login_window_seconds`), and until when further attempts are refused
without checking the password (`app.services.throttle`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime


class LoginThrottle(SQLModel, table=True):
    __tablename__ = "login_throttle"
    key: str = Field(max_length=200, primary_key=True)
    failures: float = 0.0
    last_failure_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
