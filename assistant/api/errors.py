"""Every error leaves the API in OpenAI's error-body shape, mapped here and only here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import AssistantError, RateLimited

log = logging.getLogger(__name__)

_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(exc: AssistantError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        error_body(exc.message, exc.type, exc.code, exc.param),
        status_code=exc.status,
        headers=headers,
    )


_UNION_BRANCHES = {"str", "int", "float", "bool", "none", "list", "dict"}


def _location(loc: tuple[int | str, ...]) -> str | None:
    """A readable path: ``messages.2.content.1.image_url``, without pydantic's union branches
    (``str``, ``list[...]``) and without the repeated tag of a discriminated union."""
    parts: list[str] = []
    for p in loc:
        text = str(p)
        if p == "body" or text in _UNION_BRANCHES or "[" in text or text.startswith("function-"):
            continue
        if parts and parts[-1] == text and not isinstance(p, int):
            continue  # the tag of a tagged union, then the field of the same name
        parts.append(text)
    return ".".join(parts) or None


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    # the deepest error is the real one: shallower ones are other union branches not taken
    first = max(errors, key=lambda e: len(_location(tuple(e.get("loc", ()))) or ""))
    if any(e.get("type") == "json_invalid" for e in errors):
        return "the request body is not valid JSON", None
    param = _location(tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        msg = "this parameter is not supported by this server"
    # the union branches not taken sit above the chosen error: they are not more problems
    others = [
        e
        for e in errors
        if e is not first
        and not (param or "").startswith(_location(tuple(e.get("loc", ()))) or "\0")
    ]
    more = f" (and {len(others)} more problems)" if others else ""
    return (f"{param}: {msg}{more}" if param else f"{msg}{more}"), param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AssistantError)
    async def _assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:  # noqa: ARG001 - the handler signature is FastAPI's
        message, param = _validation_message(exc)
        return JSONResponse(
            error_body(message, "invalid_request_error", "invalid_request", param), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:  # noqa: ARG001 - the handler signature is FastAPI's
        type_ = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
        code = "not_found" if exc.status_code == 404 else None
        return JSONResponse(
            error_body(str(exc.detail), type_, code),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # noqa: ARG001 - the handler signature is FastAPI's
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal server error", "server_error", "internal_error"), status_code=500
        )
