"""Registration fails loudly, early, naming the plugin: misspelled or mis-shaped hooks,
overlapping media types, broken hooks. Plugins may bring media types of their own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from assistant.errors import PluginError, UnsupportedMedia
from assistant.media import validate_media
from assistant.plugins import (
    Encoder,
    Encoding,
    MediaItem,
    MediaSignature,
    Modality,
    NoOptions,
    hookimpl,
)
from assistant.plugins.registry import Registry

pytestmark = pytest.mark.unit


class PlainText(Encoder[NoOptions]):
    name = "plain"
    modality = Modality.TEXT
    media_types = frozenset({"text/plain"})

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        return [self.encoding(i.display_name) for i in items]


class Shout(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loud: bool = False


class Subtitles(Encoder[Shout]):
    name = "subtitles"
    modality = Modality.TEXT
    media_types = frozenset({"text/x-subtitles"})
    media_signatures = (MediaSignature("text/x-subtitles", b"SUBS1"),)
    Options = Shout

    def encode(self, items: Sequence[MediaItem], options: Shout) -> list[Encoding]:
        return [
            self.encoding(i.display_name.upper() if options.loud else i.display_name) for i in items
        ]


def module_with(**hooks: object) -> ModuleType:
    """A plugin module built in code (pluggy keeps plugins in sets: modules are hashable)."""
    module = ModuleType("test_plugin")
    for name, value in hooks.items():
        setattr(module, name, value)
    return module


def plugin(*encoders: Encoder[Any]) -> ModuleType:
    @hookimpl
    def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
        for encoder in encoders:
            register(encoder)

    return module_with(register_encoders=register_encoders)


def test_a_misspelled_hook_without_the_marker_names_the_plugin_and_the_hook() -> None:
    def register_encoder(register: Callable[[Encoder[Any]], None]) -> None:
        register(PlainText())

    with pytest.raises(PluginError, match=r"plugin 'typo' implements no hook: 'register_encoder'"):
        Registry().add_plugin(module_with(register_encoder=register_encoder), "typo")


def test_a_misspelled_hook_with_the_marker_fails_check_pending() -> None:
    @hookimpl
    def register_encoder(register: Callable[[Encoder[Any]], None]) -> None:
        register(PlainText())

    registry = Registry()
    with pytest.raises(PluginError, match="plugin 'typo' implements a hook that does not exist"):
        registry.add_plugin(module_with(register_encoder=register_encoder), "typo")
    assert not registry.pm.has_plugin("typo")  # nothing half-registered stays behind
    registry.add_plugin(plugin(PlainText()), "fine")  # and the registry still works


def test_wrong_hook_arguments_are_pluggys_error_wrapped_with_the_plugin_name() -> None:
    @hookimpl
    def register_encoders(add: Callable[[Encoder[Any]], None]) -> None:
        add(PlainText())

    with pytest.raises(PluginError, match="plugin 'args' cannot be registered"):
        Registry().add_plugin(module_with(register_encoders=register_encoders), "args")


def test_an_exception_in_the_hook_is_a_plugin_error() -> None:
    @hookimpl
    def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:  # noqa: ARG001 - the Encoder interface
        raise RuntimeError("boom")

    with pytest.raises(PluginError, match="plugin 'broken': register_encoders failed: boom"):
        Registry().add_plugin(module_with(register_encoders=register_encoders), "broken")


def test_overlapping_media_types_are_refused_naming_both_plugins() -> None:
    other = type("OtherText", (PlainText,), {"name": "other"})()
    registry = Registry()
    registry.add_plugin(plugin(PlainText()), "first")
    with pytest.raises(PluginError, match=r"plugin 'second'.*text/plain.*plugin 'first'.*priority"):
        registry.add_plugin(plugin(other), "second")


def test_a_priority_settles_an_overlap() -> None:
    better = type("Better", (PlainText,), {"name": "better", "priority": 10})()
    base = type("Base", (PlainText,), {"name": "base", "priority": 0})()
    registry = Registry()
    registry.add_plugin(plugin(base), "base")
    registry.add_plugin(plugin(better), "better")
    assert registry.encoder_for("text/plain").name == "better"


def test_a_plugin_brings_a_media_type_and_its_bytes(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_plugin(plugin(PlainText(), Subtitles()), "subs")
    assert registry.sniff(b"SUBS1\n00:01 hello", "application/octet-stream") == "text/x-subtitles"
    assert registry.sniff(b"just words", None) == "text/plain"  # the core's sniffer still runs
    assert registry.encoder_for("text/x-subtitles").name == "subtitles"
    assert "text/x-subtitles" in registry.plugin_media_types()
    path = tmp_path / "a.subs"
    path.write_bytes(b"SUBS1 hi")
    # the core does not know the type: its limits (size) are checked, its content by the plugin
    info = validate_media(path, "text/x-subtitles", plugin_types=registry.plugin_media_types())
    assert info.size_bytes == 8
    with pytest.raises(UnsupportedMedia):
        validate_media(path, "text/x-subtitles")


def test_unknown_content_lists_what_the_registry_serves() -> None:
    registry = Registry()
    registry.add_plugin(plugin(Subtitles()), "subs")
    with pytest.raises(UnsupportedMedia, match="supported types: text/x-subtitles"):
        registry.sniff(b"\x00\x01\x02\x03 binary", None, name="x.bin")


def test_a_signature_for_a_core_type_is_refused() -> None:
    bad = type(
        "Bad",
        (PlainText,),
        {
            "name": "bad",
            "media_types": frozenset({"image/png"}),
            "media_signatures": (MediaSignature("image/png", b"\x89PNG"),),
        },
    )()
    with pytest.raises(PluginError, match="identified by the core already"):
        Registry().add_plugin(plugin(bad), "bad")


def test_options_arrive_typed() -> None:
    encoder = Subtitles()
    options = encoder.parse_options({"loud": True})
    assert isinstance(options, Shout) and options.loud
    with pytest.raises(ValueError, match="extra"):
        encoder.parse_options({"louder": True})
