"""The project's error hierarchy; mapped to HTTP and OpenAI-style bodies in one place (api/errors.py)."""

from __future__ import annotations


class AssistantError(Exception):
    """Base class. ``status`` is the HTTP status, ``type``/``code`` follow OpenAI's error body."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(AssistantError):
    status, type, code = 400, "invalid_request_error", "invalid_request"


class AuthenticationFailed(AssistantError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class PermissionDenied(AssistantError):
    status, type, code = 403, "permission_error", "forbidden"


class NotFound(AssistantError):
    status, type, code = 404, "invalid_request_error", "not_found"


class PayloadTooLarge(AssistantError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class UnsupportedMedia(AssistantError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class UnprocessableMedia(AssistantError):
    """The bytes claim to be a supported type but cannot be decoded (corrupt, truncated, bomb)."""

    status, type, code = 422, "invalid_request_error", "unprocessable_media"


class RateLimited(AssistantError):
    status, type, code = 429, "rate_limit_error", "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(AssistantError):
    status, type, code = 503, "server_error", "service_unavailable"


class PluginError(AssistantError):
    """A plugin is malformed (raised at registration, loudly and early)."""

    status, type, code = 500, "server_error", "plugin_error"


class EncoderFailed(AssistantError):
    """An encoder raised while processing an item that passed validation."""

    status, type, code = 502, "server_error", "encoder_failed"
