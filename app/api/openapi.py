"""The OpenAPI document, with the error bodies the service really sends.

FastAPI documents a 422 as a list of validation errors. Our own refusals
(`app.api.errors`) answer `{"detail": "one sentence"}`, with 422 too for input that
parses but cannot be used (an invalid annotation, an unknown site); so a 422's
`detail` is either, and every other 4xx is the sentence. Clients (and schemathesis
in `make test`) check answers against this document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

REF = "#/components/schemas/"
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"title": "Detail", "type": "string", "description": "why, in one sentence"}
    },
    "required": ["detail"],
}
#: Methods whose answers have no body to document.
_BODILESS = {"head", "options"}


def _document_errors(schema: dict[str, Any]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    validation = schemas.get("HTTPValidationError")
    if validation is not None:
        items = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "title": "Detail",
            "description": "the fields refused (request validation), or why, in one sentence",
            "anyOf": [{k: v for k, v in items.items() if k != "title"}, {"type": "string"}],
        }
    error = {
        "description": "Refused",
        "content": {"application/json": {"schema": {"$ref": REF + "Error"}}},
    }
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _BODILESS:
                operation.setdefault("responses", {}).setdefault("4XX", error)


def install_openapi(app: FastAPI) -> None:
    """`app.openapi()` returns the document above (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            _document_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
