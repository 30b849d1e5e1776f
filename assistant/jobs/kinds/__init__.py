"""The job kinds: every module of this package with a module-level ``kind``.

Adding a kind is adding one file here (see ``base.py``); the API, the runner and the CLI read
the names from ``KINDS``.
"""

from __future__ import annotations

import importlib
import pkgutil

from assistant.jobs.kinds.base import JobContext, JobKind


def _discover() -> dict[str, JobKind]:
    found: dict[str, JobKind] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "kind", None)
        if not isinstance(kind, JobKind):
            raise TypeError(f"{module.__name__} must define `kind`, a JobKind instance")
        if kind.name in found:
            raise TypeError(f"job kind {kind.name!r} is defined twice")
        found[kind.name] = kind
    return found


KINDS: dict[str, JobKind] = _discover()

__all__ = ["KINDS", "JobContext", "JobKind"]
