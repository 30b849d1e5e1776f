"""Discovers plugins through entry points and validates what they register, loudly and early.

A plugin is a module with hook implementations (``assistant.plugins.hookimpl``). The registry
registers it with pluggy, checks that every hook it implements exists (``check_pending``: a
misspelled hook fails here, not silently), calls its ``register_encoders`` through pluggy and
validates each encoder. Every failure is a ``PluginError`` that names the plugin.

The registry owns the media types: the union of what the encoders accept, the byte signatures
plugins bring for types of their own (``Encoder.media_signatures``), and which encoder serves
each type. Two encoders claiming one type is refused unless a ``priority`` settles it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from assistant.config import Settings
from assistant.errors import PluginError, UnsupportedMedia
from assistant.media import KNOWN_TYPES, sniff_media_type
from assistant.media.sniff import StreamProbe, probe_streams, read_head
from assistant.plugins import hookspecs
from assistant.plugins.contract import Device, Encoder, MediaSignature, Modality

log = logging.getLogger(__name__)

HOOKS = ("register_encoders",)


def validate_encoder(encoder: object, plugin: str) -> Encoder[Any]:
    """The shape checks of registration; raises PluginError naming the plugin."""
    where = f"plugin {plugin!r}"
    if not isinstance(encoder, Encoder):
        raise PluginError(
            f"{where}: register() takes an Encoder instance, got {type(encoder).__name__}"
        )
    cls = type(encoder)
    name = getattr(cls, "name", None)
    if (
        not isinstance(name, str)
        or not name
        or not name.replace("-", "").replace("_", "").isalnum()
    ):
        raise PluginError(
            f"{where}: {cls.__name__}.name must be a non-empty identifier, got {name!r}"
        )
    where = f"{where}, encoder {name!r}"
    if not isinstance(getattr(cls, "modality", None), Modality):
        raise PluginError(f"{where}: modality must be a Modality")
    devices = getattr(cls, "devices", None)
    if (
        not isinstance(devices, frozenset)
        or not devices
        or not all(isinstance(d, Device) for d in devices)
    ):
        raise PluginError(f"{where}: devices must be a non-empty frozenset of Device")
    if not all(isinstance(d, Device) and n >= 1 for d, n in cls.batch_sizes.items()):
        raise PluginError(f"{where}: batch_sizes must map a Device to a positive int")
    media = getattr(cls, "media_types", None)
    if not isinstance(media, frozenset) or not media or not all("/" in m for m in media):
        raise PluginError(f"{where}: media_types must be a non-empty frozenset of MIME types")
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, BaseModel)):
        raise PluginError(f"{where}: Options must be a pydantic model class")
    renders: object = getattr(cls, "renders", frozenset())
    if not isinstance(renders, frozenset) or not renders <= {"image", "audio"}:
        raise PluginError(f"{where}: renders must be a frozenset of 'image' and 'audio'")
    if renders and "render" not in cls.Options.model_fields:
        raise PluginError(f"{where}: an encoder that renders takes a `render` option")
    if not isinstance(cls.default_batch_size, int) or cls.default_batch_size < 1:
        raise PluginError(f"{where}: default_batch_size must be a positive int")
    if cls.priority is not None and not isinstance(cls.priority, int):
        raise PluginError(f"{where}: priority must be an int or None")
    for sig in cls.media_signatures:
        if not isinstance(sig, MediaSignature) or not sig.magic:
            raise PluginError(f"{where}: media_signatures must be MediaSignature(type, magic)")
        if sig.media_type not in media:
            raise PluginError(
                f"{where}: a signature names {sig.media_type!r}, which it does not accept"
            )
        if sig.media_type in KNOWN_TYPES:
            raise PluginError(
                f"{where}: {sig.media_type!r} is identified by the core already; signatures "
                "are for media types of the plugin's own"
            )
    return encoder


class Registry:
    """The loaded plugins and the encoders they registered."""

    def __init__(self, device: str = "cpu", devices: Mapping[str, str] | None = None) -> None:
        """``device``: where encoders run by default; ``devices``: per encoder name."""
        self.default_device = Device(device)
        self.device_of = {name: Device(d) for name, d in (devices or {}).items()}
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.encoders: dict[str, Encoder[Any]] = {}
        self.plugin_of: dict[str, str] = {}
        self.signatures: list[MediaSignature] = []

    # registration -------------------------------------------------------------------

    def add_plugin(self, module: ModuleType | object, name: str) -> None:
        try:
            self.pm.register(module, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from exc
        try:
            self._register_encoders(module, name)
        except BaseException:
            self.pm.unregister(module)
            raise

    def _register_encoders(self, module: object, name: str) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {name!r} implements a hook that does not exist: {exc}; "
                f"the hooks are {', '.join(HOOKS)}"
            ) from exc
        impls = [i for i in self.pm.hook.register_encoders.get_hookimpls() if i.plugin is module]
        if not impls:
            raise PluginError(f"plugin {name!r} implements no hook{_did_you_mean(module)}")
        others = [p for _, p in self.pm.list_name_plugin() if p is not module]
        caller = self.pm.subset_hook_caller("register_encoders", remove_plugins=others)
        registered: list[Encoder[Any]] = []

        def register(encoder: Encoder[Any]) -> None:
            registered.append(validate_encoder(encoder, name))

        try:
            caller(register=register)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {name!r}: register_encoders failed: {exc}") from exc
        for encoder in registered:
            encoder.device = self._device_for(encoder, name)
            self._check_new(encoder, name)
            self.encoders[encoder.name] = encoder
            self.plugin_of[encoder.name] = name
            self.signatures.extend(encoder.media_signatures)

    def _device_for(self, encoder: Encoder[Any], plugin: str) -> Device:
        """The configured device: per encoder, else the default, else one it supports."""
        wanted = self.device_of.get(encoder.name)
        if wanted is not None:
            if wanted not in encoder.devices:
                supported = ", ".join(sorted(d.value for d in encoder.devices))
                raise PluginError(
                    f"plugin {plugin!r}: encoder {encoder.name!r} is configured for {wanted.value}"
                    f" (plugins.devices) but runs on {supported} only"
                )
            return wanted
        if self.default_device in encoder.devices:
            return self.default_device
        return Device.CPU if Device.CPU in encoder.devices else sorted(encoder.devices)[0]

    def _check_new(self, encoder: Encoder[Any], plugin: str) -> None:
        if encoder.name in self.encoders:
            raise PluginError(
                f"plugin {plugin!r}: encoder name {encoder.name!r} is already registered by "
                f"plugin {self.plugin_of[encoder.name]!r}"
            )
        for other in self.encoders.values():
            shared = sorted(encoder.media_types & other.media_types)
            if not shared or encoder.device != other.device:
                continue
            if (
                encoder.priority is None
                or other.priority is None
                or encoder.priority == other.priority
            ):
                raise PluginError(
                    f"plugin {plugin!r}: encoder {encoder.name!r} claims {', '.join(shared)}, "
                    f"which encoder {other.name!r} of plugin {self.plugin_of[other.name]!r} "
                    "already serves; give both a different `priority` (the higher one serves)"
                )
        for sig in encoder.media_signatures:
            for known in self.signatures:
                if known.media_type != sig.media_type and _overlap(known, sig):
                    raise PluginError(
                        f"plugin {plugin!r}: the signature of {sig.media_type!r} also matches "
                        f"{known.media_type!r}"
                    )

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

    # media types --------------------------------------------------------------------

    def supported_media_types(self) -> set[str]:
        return {m for enc in self.encoders.values() for m in enc.media_types}

    def plugin_media_types(self) -> frozenset[str]:
        """Types the core does not know: the encoder that accepts one also checks its bytes."""
        return frozenset(self.supported_media_types() - KNOWN_TYPES)

    def sniff(
        self,
        source: str | Path | bytes,
        declared: str | None = None,
        *,
        name: str | None = None,
        probe: StreamProbe = probe_streams,
    ) -> str:
        """The real media type, from the bytes: plugins' signatures first, then the core's
        (``probe``: see ``sniff_media_type``)."""
        if self.signatures:
            head, _ = read_head(source)
            for sig in self.signatures:
                if head[sig.offset : sig.offset + len(sig.magic)] == sig.magic:
                    return sig.media_type
        try:
            return sniff_media_type(source, declared, name=name, probe=probe)
        except UnsupportedMedia as exc:
            who = name or (Path(source).name if isinstance(source, str | Path) else "the upload")
            raise UnsupportedMedia(
                f"{who}: the content is not a supported media type"
                + (f" (declared {declared})" if declared else "")
                + f"; supported types: {', '.join(sorted(self.supported_media_types())) or 'none'}"
            ) from exc

    def encoder_for(self, media_type: str) -> Encoder[Any]:
        """The encoder for a media type (the highest priority, when a priority settled two)."""
        candidates = [e for e in self.encoders.values() if media_type in e.media_types]
        if not candidates:
            supported = ", ".join(sorted(self.supported_media_types())) or "none"
            raise UnsupportedMedia(
                f"media type {media_type!r} is not supported; supported types: {supported}"
            )
        candidates.sort(key=lambda e: -(e.priority or 0))
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
                    "devices": sorted(d.value for d in enc.devices),
                    "queue": enc.queue,
                    "batch_size": enc.batch_size,
                    "gpu_memory_mb": enc.gpu_memory_mb,
                    "priority": enc.priority,
                    "options": enc.Options.model_json_schema(),
                }
            )
        return {"plugins": [{"name": p, "encoders": e} for p, e in plugins.items()]}


def _overlap(a: MediaSignature, b: MediaSignature) -> bool:
    """Whether one signature's bytes could also match the other's (same place, one a prefix)."""
    if a.offset != b.offset:
        return False
    shorter, longer = sorted((a.magic, b.magic), key=len)
    return longer.startswith(shorter)


def _did_you_mean(module: object) -> str:
    names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
    close = [m for h in HOOKS for m in difflib.get_close_matches(h, names, n=1, cutoff=0.75)]
    if close:
        return (
            f": {close[0]!r} is not a hook; the hooks are {', '.join(HOOKS)}, each marked with "
            "@assistant.plugins.hookimpl"
        )
    return f"; implement {' or '.join(HOOKS)} and mark it with @assistant.plugins.hookimpl"


def build_registry(
    allow: Iterable[str] = (),
    modules: Iterable[str] = (),
    device: str = "cpu",
    devices: Mapping[str, str] | None = None,
) -> Registry:
    """The installed plugins (entry points, limited by ``allow``) plus plugin modules by path,
    each encoder on its configured device."""
    registry = Registry(device, devices)
    registry.load_entry_points(allow)
    registry.add_modules(modules)
    return registry


def registry_for(settings: Settings) -> Registry:
    """The registry a process of this deployment sees: allowed plugins plus extra modules."""
    plugins = settings.plugins
    return build_registry(
        plugins.allow, settings.workers.plugin_modules, plugins.device, plugins.devices
    )
