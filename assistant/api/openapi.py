"""The OpenAPI schema with the responses the API really gives.

FastAPI documents a 422 validation error on every operation; this API answers a malformed body
with a 400, and every error in OpenAI's error body (``api/errors.py``). Generated clients and
fuzzers (schemathesis) read the schema, so it lists the real statuses with that body.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR_BODY = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_COMMON = {
    "400": "Malformed JSON, a bad field or an unsupported parameter (named in `param`)",
    "401": "Missing or wrong API key",
    "403": "The key may not do this (admin routes)",
    "404": "Unknown model, id or route, or another tenant's id",
    "413": "The body, a file or a limit (messages, pixels, duration) is too large",
    "415": "Media of a type no encoder serves (the message lists what is served)",
    "422": "Media that claims a supported type but cannot be decoded",
    "429": "Rate or concurrency limit of the key (see Retry-After)",
    "503": "A dependency is unavailable (workers, Redis, Chroma, the language model)",
}
_PUBLIC = {"/healthz", "/readyz", "/metrics"}


def install_openapi(app: FastAPI) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = _ERROR_BODY
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        }
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                wanted = ("503",) if path in _PUBLIC else tuple(_COMMON)
                for status in wanted:
                    responses.setdefault(status, {"description": _COMMON[status], **ref})
        app.openapi_schema = spec
        return spec

    app.openapi = schema  # type: ignore[method-assign]
