"""Discovers plugins through entry points, validates their encoders at registration."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable
from types import ModuleType

import pluggy
from pydantic import BaseModel

from assistant.config import Settings
from assistant.errors import PluginError, UnsupportedMedia
from assistant.plugins import hookspecs
from assistant.plugins.contract import Device, Encoder, Modality

log = logging.getLogger(__name__)


def _validate(encoder: object) -> Encoder:
    if not isinstance(encoder, Encoder):
        raise PluginError(f"register() takes an Encoder instance, got {type(encoder).__name__}")
    cls = type(encoder)
    name = getattr(cls, "name", None)
    if (
        not isinstance(name, str)
        or not name
        or not name.replace("-", "").replace("_", "").isalnum()
    ):
        raise PluginError(f"{cls.__name__}.name must be a non-empty identifier, got {name!r}")
    if not isinstance(getattr(cls, "modality", None), Modality):
        raise PluginError(f"encoder {name!r}: modality must be a Modality")
    if not isinstance(cls.device, Device):
        raise PluginError(f"encoder {name!r}: device must be a Device")
    media = getattr(cls, "media_types", None)
    if not isinstance(media, frozenset) or not media or not all("/" in m for m in media):
        raise PluginError(
            f"encoder {name!r}: media_types must be a non-empty frozenset of MIME types"
        )
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, BaseModel)):
        raise PluginError(f"encoder {name!r}: Options must be a pydantic model class")
    if not isinstance(cls.default_batch_size, int) or cls.default_batch_size < 1:
        raise PluginError(f"encoder {name!r}: default_batch_size must be a positive int")
    return encoder


class Registry:
    """The loaded plugins and the encoders they registered."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.encoders: dict[str, Encoder] = {}
        self.plugin_of: dict[str, str] = {}

    def add_plugin(self, module: ModuleType | object, name: str) -> None:
        self.pm.register(module, name=name)
        registered: list[Encoder] = []

        def register(encoder: Encoder) -> None:
            registered.append(_validate(encoder))

        impl = getattr(module, "register_encoders", None)
        if impl is not None:
            impl(register=register)
        for encoder in registered:
            if encoder.name in self.encoders:
                raise PluginError(
                    f"encoder name {encoder.name!r} from plugin {name!r} is already registered "
                    f"by plugin {self.plugin_of[encoder.name]!r}"
                )
            self.encoders[encoder.name] = encoder
            self.plugin_of[encoder.name] = name

    def load_entry_points(self, allow: Iterable[str] = ()) -> None:
        allowed = set(allow)
        for ep in importlib.metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            if allowed and ep.name not in allowed:
                log.info("plugin %s is installed but not allowed; skipped", ep.name)
                continue
            if self.pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must say which one it is
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}"
                ) from exc
            self.add_plugin(module, ep.name)

    def add_modules(self, modules: Iterable[str]) -> None:
        """Register plugin modules by dotted path (tests, local development), once each."""
        for dotted in modules:
            if self.pm.has_plugin(dotted):
                continue
            try:
                module = importlib.import_module(dotted)
            except Exception as exc:
                raise PluginError(f"plugin module {dotted!r} failed to import: {exc}") from exc
            self.add_plugin(module, dotted)

    # lookup -------------------------------------------------------------------------

    def supported_media_types(self) -> set[str]:
        return {m for enc in self.encoders.values() for m in enc.media_types}

    def encoder_for(self, media_type: str, device: str | None = None) -> Encoder:
        """The encoder for a media type (preferring the given device)."""
        candidates = [e for e in self.encoders.values() if media_type in e.media_types]
        if not candidates:
            supported = ", ".join(sorted(self.supported_media_types())) or "none"
            raise UnsupportedMedia(
                f"media type {media_type!r} is not supported; supported types: {supported}"
            )
        if device:
            preferred = [e for e in candidates if e.device.value == device]
            candidates = preferred or candidates
        return candidates[0]

    def describe(self) -> dict[str, object]:
        plugins: dict[str, list[dict[str, object]]] = {}
        for name, enc in self.encoders.items():
            plugins.setdefault(self.plugin_of[name], []).append(
                {
                    "name": name,
                    "version": enc.version,
                    "modality": enc.modality.value,
                    "media_types": sorted(enc.media_types),
                    "device": enc.device.value,
                    "queue": enc.queue,
                    "default_batch_size": enc.default_batch_size,
                    "options": enc.Options.model_json_schema(),
                }
            )
        return {"plugins": [{"name": p, "encoders": e} for p, e in plugins.items()]}


def build_registry(allow: Iterable[str] = (), modules: Iterable[str] = ()) -> Registry:
    """The installed plugins (entry points, limited by ``allow``) plus plugin modules by path."""
    registry = Registry()
    registry.load_entry_points(allow)
    registry.add_modules(modules)
    return registry


def registry_for(settings: Settings) -> Registry:
    """The registry a process of this deployment sees: allowed plugins plus extra modules."""
    return build_registry(settings.plugins.allow, settings.workers.plugin_modules)
