"""Upload settings, read from `SLIDEBRIDGE_UPLOAD_*` environment variables.

Kept apart from `app.core.config.Settings` only because that module belongs to the
service core; fold these fields into it when both land.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadSettings(BaseSettings):
    """Resumable-upload settings. Every field can be set as `SLIDEBRIDGE_UPLOAD_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SLIDEBRIDGE_UPLOAD_", frozen=True, extra="ignore")

    expire_hours: float = Field(
        default=48.0,
        gt=0,
        description="An upload that receives no byte for this long is reaped (tus expiration). "
        "Two days covers a weekend-long outage of an island link.",
    )
    commit_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="During a long PATCH without a checksum, fsync and advance the offset "
        "every this many bytes, so a server crash costs the client at most this much.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (e.g. a site's own portal) whose browsers may upload; "
        "the page at /upload is same-origin and needs none.",
    )
    reap_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often creating an upload also reaps expired ones."
    )


@lru_cache(maxsize=1)
def upload_settings() -> UploadSettings:
    return UploadSettings()
