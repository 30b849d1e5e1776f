from collections.abc import Sequence
from types import ModuleType

import pytest

from assistant.errors import PluginError, UnsupportedMedia
from assistant.plugins import Encoder, Encoding, MediaItem, Modality, NoOptions, hookimpl
from assistant.plugins.registry import Registry


class EchoEncoder(Encoder[NoOptions]):
    name = "echo"
    version = "1"
    modality = Modality.TEXT
    media_types = frozenset({"text/x-echo"})

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        return [
            Encoding(encoder=self.name, version=self.version, modality=self.modality, text=i.name)
            for i in items
        ]


def module_with(**hooks: object) -> ModuleType:
    """A plugin module built in code (pluggy keeps plugins in sets: modules are hashable)."""
    module = ModuleType("test_plugin")
    for name, value in hooks.items():
        setattr(module, name, value)
    return module


def _plugin(*encoders: object) -> ModuleType:
    @hookimpl
    def register_encoders(register):
        for e in encoders:
            register(e)

    return module_with(register_encoders=register_encoders)


def test_registers_and_routes_by_media_type() -> None:
    registry = Registry()
    registry.add_plugin(_plugin(EchoEncoder()), "echo-plugin")
    encoder = registry.encoder_for("text/x-echo")
    assert encoder.name == "echo" and encoder.queue == "cpu.text"
    described = registry.describe()
    assert described["plugins"][0]["encoders"][0]["media_types"] == ["text/x-echo"]  # type: ignore[index]


def test_unknown_media_type_is_415_naming_supported_types() -> None:
    registry = Registry()
    registry.add_plugin(_plugin(EchoEncoder()), "echo-plugin")
    with pytest.raises(UnsupportedMedia, match="text/x-echo") as info:
        registry.encoder_for("audio/x-nothing")
    assert info.value.status == 415


def test_duplicate_names_fail_loudly() -> None:
    registry = Registry()
    registry.add_plugin(_plugin(EchoEncoder()), "one")
    with pytest.raises(PluginError, match="already registered by plugin 'one'"):
        registry.add_plugin(_plugin(EchoEncoder()), "two")


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"media_types": frozenset()}, "media_types"),
        ({"media_types": frozenset({"png"})}, "media_types"),
        ({"modality": "audio"}, "modality"),
        ({"name": ""}, "name"),
        ({"Options": dict}, "Options"),
        ({"default_batch_size": 0}, "default_batch_size"),
    ],
)
def test_malformed_encoders_are_refused_at_registration(
    attrs: dict[str, object], message: str
) -> None:
    bad = type("Bad", (EchoEncoder,), attrs)()
    with pytest.raises(PluginError, match=message):
        Registry().add_plugin(_plugin(bad), "bad")


def test_non_encoder_objects_are_refused() -> None:
    with pytest.raises(PluginError, match="Encoder instance"):
        Registry().add_plugin(_plugin(object()), "bad")
