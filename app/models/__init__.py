"""Every table and API shape of the service, one module per feature.

Importing this package imports every module, so `SQLModel.metadata` holds every
table: the migration environment and `slidebridge db check` rely on that.
Families follow full-stack-fastapi-template: `XBase` shared fields, `XCreate` what
a client sends, `XPublic` what the API answers, `X(table=True)` the row. Ids are
UUIDs, times timezone-aware UTC, every string has a max_length.
"""

from app.models import (
    accounts,
    annotations,
    attachments,
    audit,
    cases,
    jobs,
    live,
    opinions,
    slides,
    teaching,
    throttle,
    transfers,
    uploads,
)

__all__ = [
    "accounts",
    "annotations",
    "attachments",
    "audit",
    "cases",
    "jobs",
    "live",
    "opinions",
    "slides",
    "teaching",
    "throttle",
    "transfers",
    "uploads",
]
