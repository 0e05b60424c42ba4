"""All service settings in one place, read from `SLIDEBRIDGE_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The placeholder secret; accepted only in development so a forgotten setting cannot ship.
DEFAULT_SECRET = "change-me-development-only"  # noqa: S105 - refused outside development
#: Said loudly (log and `slidebridge serve`) whenever the placeholder is in use.
DEVELOPMENT_KEY_WARNING = (
    "WARNING: SlideBridge is using the DEVELOPMENT secret key (SLIDEBRIDGE_SECRET_KEY is "
    "not set). Fine to try it on this machine; never for patient data. Set "
    "SLIDEBRIDGE_SECRET_KEY to a long random value, e.g. "
    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
)


class Settings(BaseSettings):
    """SlideBridge service settings. Every field can be set as `SLIDEBRIDGE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="SLIDEBRIDGE_", frozen=True, extra="ignore")

    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description="Where this runs; only `development` accepts the default secret key.",
    )
    data_dir: Path = Field(
        default=Path("./var"),
        description="Root of everything the service stores: slides, pyramids, the SQLite file.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; `postgresql://...` for PostgreSQL. "
        "Default: an SQLite file `slidebridge.db` in the data directory.",
    )
    redis_url: str | None = Field(
        default=None,
        description="With a Redis URL, pyramid jobs go through RQ and `slidebridge worker` "
        "processes run them; without, `slidebridge serve` runs them in-process.",
    )
    events: Literal["auto", "process", "redis", "postgresql"] = Field(
        default="auto",
        description="How live events (annotations, case changes, report pushes, slide "
        "arrivals, viewers' wishes) reach every web process: `redis` pub/sub, PostgreSQL "
        "`LISTEN/NOTIFY`, or `process` (one web process). `auto`: Redis when `redis_url` "
        "is set, else PostgreSQL when the database is, else in-process.",
    )
    events_channel: str = Field(
        default="slidebridge_live",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Redis channel and PostgreSQL notification channel the web processes of "
        "one hub share (two hubs on one Redis or database need two names).",
    )
    queue_name: str = Field(
        default="slidebridge",
        max_length=64,
        description="RQ queue name; urgent jobs use `<name>-urgent`, which workers drain first.",
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET,
        min_length=16,
        description="Key for the HMAC digests under which tokens and sessions are stored. "
        "Changing it signs everyone out.",
    )
    hub_name: str = Field(
        default="SlideBridge consultation hub",
        min_length=1,
        max_length=200,
        description="The hub's name as printed at the head of every report (PDF and FHIR), "
        "e.g. `Provincial Hospital, Department of Pathology`.",
    )
    token_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="Lifetime of a bearer token from POST /api/auth/token.",
    )
    session_hours: int = Field(
        default=8, ge=1, le=72, description="Lifetime of a browser session (one working shift)."
    )
    session_idle_seconds: int = Field(
        default=30 * 60,
        ge=10,
        le=24 * 3600,
        description="A browser session unused for this long is over (a workstation left "
        "signed in). Requests count as use, an open event stream does not. Kiosk sessions "
        "(the operating-room screen) have none.",
    )
    kiosk_hours: int = Field(
        default=7 * 24,
        ge=1,
        le=90 * 24,
        description="Lifetime of an operating-room kiosk session: no idle timeout, good "
        "only for that site's operating-room screen.",
    )
    stream_recheck_seconds: float = Field(
        default=2.0,
        gt=0,
        le=4.0,
        description="How often open event streams re-read their credentials (one query for "
        "all streams of a process): a stream ends within this time, plus one query, of "
        "expiry, revocation, sign-out, idle timeout or the user being disabled.",
    )
    streams_per_user: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Most event streams one user may hold open in one process (a tab holds "
        "one or two); beyond it a new stream is refused with 429.",
    )
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Wrong passwords for one user name in a burst before its sign-ins are "
        "refused for a while (429 with Retry-After, doubling with each further failure).",
    )
    login_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords from one client address (any user names) in a burst "
        "before its sign-ins are refused for a while. Higher than per account: a "
        "hospital's workstations may share one address.",
    )
    login_window_seconds: int = Field(
        default=15 * 60,
        ge=1,
        description="A key's failure count drains at its limit per this many seconds (a "
        "leaky bucket): failures at a steady rate below that never lock, a burst does, and "
        "a full count is forgotten after this long without failures.",
    )
    login_lockout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="The first refusal period after too many failures; it doubles with each "
        "further failure, up to `login_lockout_max_seconds`.",
    )
    login_lockout_max_seconds: float = Field(
        default=15 * 60.0, gt=0, description="The longest refusal period."
    )
    login_verify_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Password checks (argon2, ~64 MiB and tens of milliseconds of CPU each) "
        "that run at once in one process; the rest of the CPU keeps serving tiles.",
    )
    login_verify_queue: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Sign-ins that may wait for a password check; beyond it they are "
        "refused at once (429, Retry-After: 1) instead of holding a request thread.",
    )
    public_origins: list[str] = Field(
        default_factory=list,
        description="Origins (`https://hub.example.org`) accepted on cookie requests that "
        "change state, besides the request's own Host (needed only behind a proxy that "
        "rewrites Host).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        max_length=1000,
        description="Addresses (comma-separated; networks allowed) of the reverse proxies "
        "whose `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Request-ID` the service "
        "believes: the audit then records the client's address, not the proxy's, and the "
        "proxy's request id. Anyone else's headers are ignored. `*` trusts every peer: "
        "only when nothing but the proxy can connect.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: `slidebridge serve` logs one JSON object per line (time, "
        "level, logger, message, request_id; access lines with client, method, path, "
        "status), for a log collector.",
    )
    hsts_seconds: int = Field(
        default=365 * 24 * 3600,
        ge=0,
        description="`Strict-Transport-Security` max-age sent on answers served over HTTPS "
        "(directly or via a proxy's X-Forwarded-Proto); 0 sends none.",
    )
    shared_workstations: bool = Field(
        default=False,
        description="The hub's browsers are shared (operating-room workstations): tiles and "
        "slide images are sent `no-store`, so no patient image stays in a browser's "
        "cache. Costs a re-download when a pathologist pans back.",
    )
    api_docs: bool | None = Field(
        default=None,
        description="Serve /docs, /redoc and /openapi.json to signed-in users; default: on, "
        "except in production.",
    )
    cookie_name: str = Field(
        default="slidebridge_session",
        max_length=64,
        description="Name of the browser session cookie.",
    )
    cookie_secure: bool = Field(
        default=True,
        description="Send the session cookie only over HTTPS. Browsers still send Secure "
        "cookies to http://localhost, so the default works for local use too.",
    )
    cookie_samesite: Literal["lax", "strict"] = Field(
        default="lax",
        description="`lax` keeps links from e-mail working; `strict` never sends the "
        "cookie on a request started by another site.",
    )
    max_json_body_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest request body of a route without its own limit (cases, "
        "reports, sign-in, ...): a case request is a few KiB. Larger is a 413, refused "
        "before it is parsed or its credential checked.",
    )
    max_annotation_body_bytes: int = Field(
        default=32 * 1024**2,
        ge=1024,
        description="Largest body of an annotation write: a QuPath export of 10,000 "
        "shapes is ~2 MB, one 50,000-point outline ~5 MB.",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024**3, ge=1, description="Largest slide file accepted by POST /api/slides."
    )
    site_quota_bytes: int | None = Field(
        default=1024**4,
        ge=1,
        description="Total slide bytes a site may store and reserve for unfinished uploads "
        "(default 1 TiB, about 500 large slides); none = no limit.",
    )
    upload_expire_hours: float = Field(
        default=48.0,
        gt=0,
        description="A resumable upload that receives no byte for this long is reaped (tus "
        "expiration). Two days covers a weekend-long outage of an island link.",
    )
    upload_commit_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=64 * 1024,
        description="During a long PATCH without a checksum, fsync and advance the offset "
        "every this many bytes, so a server crash costs the client at most this much.",
    )
    upload_cors_origins: list[str] = Field(
        default_factory=list,
        description="Other origins (e.g. a site's own portal) whose browsers may upload; "
        "the page at /upload is same-origin and needs none.",
    )
    upload_reap_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often creating an upload also removes expired ones.",
    )
    metrics_address: str | None = Field(
        default=None,
        max_length=300,
        pattern=r"^\S+:\d{1,5}$",
        description="`HOST:PORT` where this process also serves /metrics WITHOUT a "
        "credential, for a Prometheus scraper: bind it to an address only the scraper "
        "reaches. On the service's own address /metrics needs an admin. With several "
        "processes give each its own port, or share PROMETHEUS_MULTIPROC_DIR (then the "
        "first process to bind answers for all).",
    )
    min_free_bytes: int = Field(
        default=20 * 1024**3,
        ge=0,
        description="`slidebridge check` fails when the data directory has less free space "
        "than this (default: room for one largest upload).",
    )
    embedded_workers: int = Field(
        default=1, ge=0, le=64, description="Pyramid-build threads inside `slidebridge serve`."
    )
    build_processes: int | None = Field(
        default=None, ge=1, description="Processes one pyramid build uses; default all cores."
    )
    job_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A running job's lease; a worker renews it every third of this. A job "
        "whose lease ran out (worker killed) is run again.",
    )
    job_max_attempts: int = Field(
        default=3, ge=1, le=20, description="Runs of one job before it is failed for good."
    )
    job_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often an idle embedded worker looks for jobs."
    )
    tile_access_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "How long a tile request's credential and site check is re-used for the same "
            "slide (a viewer asks for hundreds of tiles a second). A revoked token loses "
            "tiles within this time; every other route checks on every request."
        ),
    )
    open_slides: int = Field(
        default=16, ge=1, le=1024, description="Open slide handles kept for on-the-fly tiles."
    )
    iiif_max_width: int = Field(
        default=8192, ge=64, description="Widest image the IIIF endpoint renders (IIIF maxWidth)."
    )
    iiif_max_height: int = Field(
        default=8192, ge=64, description="Tallest image the IIIF endpoint renders (IIIF maxHeight)."
    )
    iiif_max_area: int = Field(
        default=16_777_216, ge=4096, description="Most output pixels of one IIIF image (maxArea)."
    )
    iiif_max_read_pixels: int = Field(
        default=64_000_000,
        ge=4096,
        description="Most slide pixels one IIIF image or thumbnail may decode (the decoded "
        "area at the slide level read); beyond it is a 413. Renders stream, so this bounds "
        "the CPU time of one request, not its memory.",
    )
    iiif_cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (`https://viewer.example.org`) whose IIIF viewers may read "
        "/iiif/ with a bearer token; `*` allows any origin, as the IIIF spec recommends. "
        "Cookies are never accepted cross-origin (no Access-Control-Allow-Credentials).",
    )
    iiif_renders: int = Field(
        default=2,
        ge=1,
        le=64,
        description="IIIF images and thumbnails rendered at once over all users, on their "
        "own low-priority threads (each holds its output image and one slide chunk of a "
        "few tens of MB); the rest wait without holding a thread.",
    )
    iiif_renders_per_user: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Renders one user may have running at once; a user's further "
        "requests wait behind them, so one viewer cannot take every place.",
    )
    iiif_render_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest a render waits for its place; then it is refused with 503 "
        "and Retry-After.",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                "SLIDEBRIDGE_SECRET_KEY must be set outside development "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @property
    def uses_default_secret(self) -> bool:
        return self.secret_key == DEFAULT_SECRET

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL, with PostgreSQL pointed at the psycopg 3 driver we ship."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'slidebridge.db').resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def slides_dir(self) -> Path:
        return self.data_dir / "slides"

    @property
    def pyramids_dir(self) -> Path:
        return self.data_dir / "pyramids"

    @property
    def staging_dir(self) -> Path:
        """Uploads land here first: same filesystem as slides_dir, so the move is a rename."""
        return self.data_dir / "staging"
