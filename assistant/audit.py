"""The audit log: one JSON object per line on the ``assistant.audit`` logger.

It records who used which key for what (key id, tenant, method, route template, status) and
every admin action (key created, key revoked). It never records secrets, request bodies or
message text: callers pass only the fields below, and ``audit`` drops any field whose name
looks like a secret as a second line of defence.

By default the lines go wherever the application's logging goes; ``api.audit_log`` (a file
path) adds a file of bare JSON lines for collection by a log shipper.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

LOGGER_NAME = "assistant.audit"
log = logging.getLogger(LOGGER_NAME)

_SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "body", "content")
_ALLOWED = frozenset({"key_id", "tenant", "admin", "target_key_id", "target_tenant", "actor"})
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _safe(name: str) -> bool:
    return name in _ALLOWED or not any(word in name.lower() for word in _SECRET_WORDS)


def audit(event: str, **fields: Any) -> None:
    """Write one audit record. Values must be plain data (str, int, float, bool, None)."""
    if not log.isEnabledFor(logging.INFO):
        return
    record: dict[str, Any] = {"ts": round(time.time(), 3), "event": event}
    for name, value in fields.items():
        if not _safe(name):
            continue
        if value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)
        record[name] = value
    # the message is the whole record (bare JSON lines in the audit file); the same fields go
    # in as extras, so the JSON log formatter (assistant.logs) shows them as top-level fields
    extra = {f"audit_{k}" if k in _RESERVED else k: v for k, v in record.items()}
    log.info(json.dumps(record, sort_keys=True, separators=(",", ":")), extra=extra)


def configure_audit_file(path: str | Path) -> logging.Handler:
    """Also write the audit records to ``path`` (bare JSON lines); returns the handler."""
    target = Path(path)
    for handler in log.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == target:
            return handler
    target.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    return handler
