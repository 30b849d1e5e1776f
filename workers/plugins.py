"""The registry as the workers and the dispatcher see it: entry points plus extra modules."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from assistant.config import Settings
from assistant.errors import PluginError
from assistant.plugins.registry import Registry, build_registry


def add_plugin_modules(registry: Registry, modules: Iterable[str]) -> Registry:
    """Register plugin modules by dotted path (tests, local development), once each."""
    for dotted in modules:
        if registry.pm.has_plugin(dotted):
            continue
        try:
            module = importlib.import_module(dotted)
        except Exception as exc:
            raise PluginError(f"plugin module {dotted!r} failed to import: {exc}") from exc
        registry.add_plugin(module, dotted)
    return registry


def registry_for(settings: Settings) -> Registry:
    registry = build_registry(settings.plugins.allow)
    return add_plugin_modules(registry, settings.workers.plugin_modules)
